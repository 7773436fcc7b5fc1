//! What crosses ExaBGP's API inbound: `parse_answer` on ExaBGP's lines, `parse_command` on
//! the relay's, and `parse_control` on the relay protocol's own lines (keepalive, sync marker,
//! lease). None may panic; a parsed command names only real prefixes, and its attribute words
//! (the relay's withdraw lines repeat them) stay on one line; a control line is never also a route
//! command, and a lease read back from a line renders to that line.
#![no_main]

use kube_anycast::exabgp::batch::lease_line;
use kube_anycast::exabgp::parse::{Answer, Control, parse_answer, parse_command, parse_control};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let answer = parse_answer(line);
    if answer == Answer::Done {
        assert_eq!(line.trim_end_matches(['\r', '\n']), "done");
    }
    if let Some(control) = parse_control(line) {
        assert!(parse_command(line).is_none(), "{line:?}");
        if let Control::Lease(lease) = control {
            let body = line.trim_end_matches(['\r', '\n']);
            // Leading zeros aside, the line is the one the relay writes for that lease.
            let digits = body
                .trim_start_matches("kube-anycast lease-ms ")
                .trim_start_matches('0');
            let rendered = lease_line(lease);
            let want = rendered
                .trim_end()
                .trim_start_matches("kube-anycast lease-ms ");
            assert!(
                digits == want || (digits.is_empty() && want == "0"),
                "{line:?}"
            );
        }
    }
    if let Some(cmd) = parse_command(line) {
        assert!(cmd.target.starts_with("neighbor "));
        assert!(!cmd.prefixes.is_empty());
        for p in &cmd.prefixes {
            assert!(p.parse::<ipnet::IpNet>().is_ok(), "{p:?}");
        }
        assert!(cmd.attributes.starts_with("next-hop "), "{line:?}");
        let body = line.trim_end_matches(['\r', '\n']);
        // The attribute words are words of the input line, so they hold a newline only if the
        // command itself did.
        if !body.contains(['\n', '\r']) {
            let attributes = &cmd.attributes;
            assert!(!attributes.contains(['\n', '\r']), "{attributes:?}");
        }
    }
});
