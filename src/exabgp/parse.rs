//! Parsing what crosses ExaBGP's API: its answers to us, and (for the relay) the route commands
//! our own encoder wrote.

/// What ExaBGP wrote back on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The command was accepted.
    Done,
    /// The command was refused.
    Error,
    /// ExaBGP is stopping.
    Shutdown,
    /// Anything else (neighbor events, JSON, an empty line).
    Other,
}

/// Classifies one line from ExaBGP.
pub fn parse_answer(line: &str) -> Answer {
    match line.trim_end_matches(['\r', '\n']) {
        "done" => Answer::Done,
        "error" => Answer::Error,
        l if l.starts_with("shutdown") => Answer::Shutdown,
        _ => Answer::Other,
    }
}

/// A line of the relay protocol's own (`kube-anycast …`), between the agent and the relay only:
/// the relay never passes one on to ExaBGP, nor one from ExaBGP to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Agent to relay: the replay of this session is complete (answered `done`).
    SyncDone,
    /// Agent to relay: the agent is alive (not answered).
    Keepalive,
    /// Relay to agent, on connect: the relay's lease.
    Lease(std::time::Duration),
    /// Any other line in the `kube-anycast` namespace (dropped).
    Unknown,
}

/// Classifies a line of the relay protocol; `None` when it is not one (a route command, an
/// answer from ExaBGP).
pub fn parse_control(line: &str) -> Option<Control> {
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = line.strip_prefix("kube-anycast")?;
    let words: Vec<&str> = rest.split(' ').collect();
    Some(match words.as_slice() {
        ["", "sync-done"] => Control::SyncDone,
        ["", "keepalive"] => Control::Keepalive,
        ["", "lease-ms", millis] if millis.bytes().all(|b| b.is_ascii_digit()) => {
            millis.parse().map_or(Control::Unknown, |ms| {
                Control::Lease(std::time::Duration::from_millis(ms))
            })
        }
        _ => Control::Unknown,
    })
}

/// The routes a command announces or withdraws, as the relay needs them to withdraw later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCommand<'a> {
    /// True for announce, false for withdraw.
    pub announce: bool,
    /// The `neighbor …` part.
    pub target: &'a str,
    /// The attribute words, `next-hop NH` first: `next-hop self med 100 path-information 2`.
    pub attributes: String,
    /// The path id, when given.
    pub path_id: Option<&'a str>,
    /// The prefixes.
    pub prefixes: Vec<&'a str>,
}

/// Parses a route command in either form our encoder writes:
/// `TARGET (announce|withdraw) route PREFIX next-hop NH …` or
/// `TARGET (announce|withdraw) attributes next-hop NH … nlri P1 P2 …`.
/// Returns `None` for anything else.
pub fn parse_command(line: &str) -> Option<ParsedCommand<'_>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (target, rest, announce) = split_action(line)?;
    let words: Vec<&str> = rest.split(' ').collect();
    let (attributes, prefixes) = match words.first() {
        Some(&"route") => (words.get(2..)?, vec![*words.get(1)?]),
        Some(&"attributes") => {
            let at = words.iter().position(|w| *w == "nlri")?;
            (words.get(1..at)?, words.get(at + 1..)?.to_vec())
        }
        _ => return None,
    };
    // Values are read among the attribute words only: in `next-hop nlri P` the word after
    // next-hop is the prefix list's keyword, not a next hop.
    let value_after = |key: &str| {
        attributes
            .iter()
            .position(|w| *w == key)
            .and_then(|i| attributes.get(i + 1))
            .copied()
    };
    value_after("next-hop")?;
    let path_id = value_after("path-information");
    if attributes.first() != Some(&"next-hop")
        || prefixes.is_empty()
        || prefixes.iter().any(|p| p.parse::<ipnet::IpNet>().is_err())
    {
        return None;
    }
    Some(ParsedCommand {
        announce,
        target,
        attributes: attributes.join(" "),
        path_id,
        prefixes,
    })
}

fn split_action(line: &str) -> Option<(&str, &str, bool)> {
    for (word, announce) in [(" announce ", true), (" withdraw ", false)] {
        if let Some(at) = line.find(word) {
            let target = &line[..at];
            if target.starts_with("neighbor ") {
                return Some((target, &line[at + word.len()..], announce));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exabgp::encode::{Action, Attributes, BulkCommand, NextHop, RouteCommand, Target};
    use proptest::prelude::*;

    #[test]
    fn a_next_hop_without_a_value_is_not_a_command() {
        // Found by fuzzing: the word after `next-hop` was the `nlri` keyword.
        assert!(parse_command("neighbor * withdraw attributes next-hop nlri 495::/8").is_none());
        assert!(parse_command("neighbor * withdraw route 192.0.2.1/32 next-hop").is_none());
        let ok = parse_command("neighbor * withdraw attributes next-hop self nlri 192.0.2.1/32");
        assert_eq!(ok.map(|c| c.attributes), Some("next-hop self".to_owned()));
    }

    #[test]
    fn answers() {
        assert_eq!(parse_answer("done\n"), Answer::Done);
        assert_eq!(parse_answer("error"), Answer::Error);
        assert_eq!(parse_answer("shutdown 12 1"), Answer::Shutdown);
        assert_eq!(parse_answer(""), Answer::Other);
    }

    #[test]
    fn both_forms_parse_with_their_attributes() {
        let c = parse_command("neighbor 10.0.0.1, neighbor 10.0.0.2 announce route 192.0.2.1/32 next-hop self med 100 path-information 3\n").unwrap();
        assert!(c.announce);
        assert_eq!(c.target, "neighbor 10.0.0.1, neighbor 10.0.0.2");
        assert_eq!(c.attributes, "next-hop self med 100 path-information 3");
        assert_eq!(c.path_id, Some("3"));
        assert_eq!(c.prefixes, ["192.0.2.1/32"]);
        let c = parse_command(
            "neighbor * withdraw attributes next-hop fd00::1 med 5 nlri 2001:db8::1/128 2001:db8::2/128",
        )
        .unwrap();
        assert!(!c.announce);
        assert_eq!(c.attributes, "next-hop fd00::1 med 5");
        assert_eq!(c.prefixes, ["2001:db8::1/128", "2001:db8::2/128"]);
        assert!(
            parse_command("neighbor * announce attributes med 5 next-hop self nlri 192.0.2.1/32")
                .is_none()
        );
        assert!(parse_command("kube-anycast sync-done").is_none());
        assert!(parse_command("kube-anycast keepalive").is_none());
        assert!(parse_command("neighbor * announce route junk next-hop self").is_none());
    }

    #[test]
    fn control_lines_are_a_closed_set() {
        use crate::exabgp::batch::{KEEPALIVE, SYNC_DONE, lease_line};
        use std::time::Duration;
        assert_eq!(parse_control(SYNC_DONE), Some(Control::SyncDone));
        assert_eq!(parse_control(KEEPALIVE), Some(Control::Keepalive));
        assert_eq!(
            parse_control(&lease_line(Duration::from_millis(8500))),
            Some(Control::Lease(Duration::from_millis(8500)))
        );
        for unknown in [
            "kube-anycast",
            "kube-anycast keepalive now",
            "kube-anycast  keepalive",
            "kube-anycast lease-ms",
            "kube-anycast lease-ms -1",
            "kube-anycast lease-ms +5",
            "kube-anycast lease-ms 99999999999999999999999",
            "kube-anycastkeepalive",
        ] {
            assert_eq!(
                parse_control(unknown),
                Some(Control::Unknown),
                "{unknown:?}"
            );
        }
        for other in [
            "done",
            "neighbor 10.0.0.1 up",
            "",
            " kube-anycast keepalive",
        ] {
            assert_eq!(parse_control(other), None, "{other:?}");
        }
    }

    proptest! {
        #[test]
        fn encoder_output_round_trips(v4 in proptest::collection::vec(any::<u32>(), 1..20), med: u32, announce: bool) {
            let prefixes: Vec<ipnet::IpNet> = v4.iter().map(|a| std::net::IpAddr::from(std::net::Ipv4Addr::from(*a)).into()).collect();
            let attrs = Attributes { med: Some(i64::from(med)), next_hop: NextHop::SelfAddress, ..Attributes::default() };
            let action = if announce { Action::Announce } else { Action::Withdraw };
            let bulk = BulkCommand { target: &Target::All, action, attributes: &attrs, prefixes: &prefixes }.to_line();
            let parsed = parse_command(&bulk).unwrap();
            prop_assert_eq!(parsed.announce, announce);
            let want: Vec<String> = prefixes.iter().map(ToString::to_string).collect();
            prop_assert_eq!(parsed.prefixes.iter().map(|p| (*p).to_string()).collect::<Vec<_>>(), want);
            let single = RouteCommand { target: &Target::All, action, prefix: prefixes[0], attributes: &attrs }.to_line();
            let first = prefixes[0].to_string();
            prop_assert_eq!(parse_command(&single).unwrap().prefixes, vec![first.as_str()]);
        }
    }
}
