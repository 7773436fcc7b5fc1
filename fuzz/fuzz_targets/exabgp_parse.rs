//! What crosses ExaBGP's API inbound: `parse_answer` on ExaBGP's lines and `parse_command` on
//! the relay's. Neither may panic; a parsed command names only real prefixes, and the withdraw
//! line built from it stays one line.
#![no_main]

use kube_anycast::exabgp::parse::{Answer, parse_answer, parse_command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let answer = parse_answer(line);
    if answer == Answer::Done {
        assert_eq!(line.trim_end_matches(['\r', '\n']), "done");
    }
    if let Some(cmd) = parse_command(line) {
        assert!(cmd.target.starts_with("neighbor "));
        assert!(!cmd.prefixes.is_empty());
        for p in &cmd.prefixes {
            assert!(p.parse::<ipnet::IpNet>().is_ok(), "{p:?}");
            let withdraw = cmd.withdraw_line(p);
            let body = line.trim_end_matches(['\r', '\n']);
            // The withdraw line is built from words of the input line, so it holds a newline
            // only if the command itself did.
            if !body.contains(['\n', '\r']) {
                assert!(!withdraw.contains(['\n', '\r']), "{withdraw:?}");
            }
        }
    }
});
