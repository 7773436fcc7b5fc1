//! The encoder: arbitrary attribute text through the typed parsers of `exabgp::attrs`, then
//! `RouteCommand` and `BulkCommand`. Every line must be exactly one well-formed command in the
//! encoder's vocabulary (checked by `exabgp_line`, written independently of the encoder), and
//! must parse back (`parse_command`) to the same action and prefixes.
#![no_main]

use std::net::IpAddr;

use ipnet::IpNet;
use kube_anycast::exabgp::attrs::{AsPath, Community, ExtendedCommunity, LargeCommunity, List};
use kube_anycast::exabgp::encode::{
    Action, Attributes, BulkCommand, NextHop, RouteCommand, Target,
};
use kube_anycast::exabgp::parse::parse_command;
use kube_anycast_fuzz::exabgp_line::check_line;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    communities: String,
    extended_communities: String,
    large_communities: String,
    as_path: String,
    med: Option<i64>,
    local_preference: Option<i64>,
    path_id: Option<i64>,
    next_hop: Option<IpAddr>,
    neighbors: Vec<IpAddr>,
    prefixes: Vec<(IpAddr, u8)>,
    announce: bool,
}

fuzz_target!(|input: Input| {
    let attributes = Attributes {
        next_hop: input
            .next_hop
            .map_or(NextHop::SelfAddress, NextHop::Address),
        med: input.med,
        local_preference: input.local_preference,
        communities: parse_or_default::<List<Community>>(&input.communities),
        extended_communities: parse_or_default::<List<ExtendedCommunity>>(
            &input.extended_communities,
        ),
        large_communities: parse_or_default::<List<LargeCommunity>>(&input.large_communities),
        as_path: input.as_path.parse::<AsPath>().ok(),
        path_id: input.path_id,
    };
    let target = if input.neighbors.is_empty() {
        Target::All
    } else {
        Target::Neighbors(input.neighbors)
    };
    let action = if input.announce {
        Action::Announce
    } else {
        Action::Withdraw
    };
    let prefixes: Vec<IpNet> = input
        .prefixes
        .iter()
        .take(64)
        .map(|(ip, len)| {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            IpNet::new(*ip, len % (max + 1)).map_or_else(|_| IpNet::from(*ip), |n| n.trunc())
        })
        .collect();
    for prefix in &prefixes {
        let line = RouteCommand {
            target: &target,
            action,
            prefix: *prefix,
            attributes: &attributes,
        }
        .to_line();
        check(&line, input.announce, std::slice::from_ref(prefix));
    }
    if !prefixes.is_empty() {
        let line = BulkCommand {
            target: &target,
            action,
            attributes: &attributes,
            prefixes: &prefixes,
        }
        .to_line();
        check(&line, input.announce, &prefixes);
    }
});

fn parse_or_default<T: std::str::FromStr + Default>(s: &str) -> T {
    s.parse().unwrap_or_default()
}

fn check(line: &str, announce: bool, prefixes: &[IpNet]) {
    let checked = check_line(line).unwrap_or_else(|e| panic!("malformed line: {e}"));
    assert_eq!(checked.announce, announce, "{line:?}");
    assert_eq!(checked.prefixes, prefixes, "{line:?}");
    let parsed = parse_command(line).unwrap_or_else(|| panic!("does not parse back: {line:?}"));
    assert_eq!(parsed.announce, announce, "{line:?}");
    let back: Vec<String> = parsed.prefixes.iter().map(|p| (*p).to_owned()).collect();
    let want: Vec<String> = prefixes.iter().map(ToString::to_string).collect();
    assert_eq!(back, want, "{line:?}");
}
