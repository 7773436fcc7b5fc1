//! Self-tests of the BGP test bed: what ExaBGP announces arrives at gobgpd with
//! every attribute the RIB reader knows, graceful restart keeps routes across
//! an ExaBGP crash, and nothing is left behind. Needs root.

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

use std::time::Duration;

use support::testbed::{Options, Route, Testbed};

const ANNOUNCE: &str = "echo 'announce route 192.0.2.1/32 next-hop self med 100 \
    community [ 65001:100 no-export ] large-community [ 65001:1:2 ] \
    extended-community [ target:65001:7 ] as-path [ 64999 65002 ] local-preference 250'; \
    echo 'announce route 2001:db8::1/128 next-hop fd00:255::1 med 7'; exec sleep infinity";

fn find<'a>(rib: &'a [Route], prefix: &str) -> Option<&'a Route> {
    rib.iter().find(|r| r.prefix == prefix)
}

#[test]
fn parses_gobgp_rib_json() {
    let json = br#"{"192.0.2.1/32":[{"nlri":{"prefix":"192.0.2.1/32"},"best":true,
      "attrs":[{"type":1,"value":0},
        {"type":2,"as_paths":[{"segment_type":2,"num":2,"asns":[65001,64999]}]},
        {"type":3,"nexthop":"10.255.0.1"},{"type":4,"metric":100},{"type":5,"value":250},
        {"type":8,"communities":[4259905636,4294967041]},
        {"type":16,"value":[{"type":0,"subtype":2,"value":"65001:7"}]},
        {"type":32,"value":[{"ASN":65001,"LocalData1":1,"LocalData2":2}]}],
      "stale":true}]}"#;
    let routes = Route::parse_gobgp(json).expect("valid gobgp JSON");
    let r = &routes[0];
    assert_eq!(r.prefix, "192.0.2.1/32");
    assert_eq!(r.next_hop, Some("10.255.0.1".parse().expect("an address")));
    assert_eq!((r.med, r.local_pref), (Some(100), Some(250)));
    assert_eq!(r.as_path, [65001, 64999]);
    assert_eq!(r.communities, ["65001:100", "65535:65281"]);
    assert_eq!(r.extended_communities, ["target:65001:7"]);
    assert_eq!(r.large_communities, ["65001:1:2"]);
    assert!(r.stale);
    assert_eq!(Route::parse_gobgp(b"{}").expect("empty RIB"), []);
}

#[test]
fn announced_attributes_reach_gobgp_over_ibgp() {
    let bed = Testbed::up_with(
        &Options {
            ibgp: true,
            ..Options::default()
        },
        &["sh", "-c", ANNOUNCE],
    );
    let rib = bed.wait_for("both routes", Duration::from_secs(10), |rib| rib.len() == 2);
    let v4 = find(&rib, "192.0.2.1/32").expect("IPv4 route");
    assert_eq!(v4.next_hop, Some("10.255.0.1".parse().expect("an address")));
    assert_eq!((v4.med, v4.local_pref), (Some(100), Some(250)));
    assert_eq!(v4.as_path, [64999, 65002]);
    assert_eq!(v4.communities, ["65001:100", "65535:65281"]);
    assert_eq!(v4.large_communities, ["65001:1:2"]);
    assert_eq!(v4.extended_communities, ["target:65001:7"]);
    let v6 = find(&rib, "2001:db8::1/128").expect("IPv6 route");
    assert_eq!(
        (v6.next_hop, v6.med),
        (Some("fd00:255::1".parse().expect("an address")), Some(7))
    );
}

#[test]
fn graceful_restart_keeps_routes_stale_across_an_exabgp_crash() {
    let bed = Testbed::up_with(
        &Options {
            graceful_restart: Some(60),
            ..Options::default()
        },
        &["sh", "-c", ANNOUNCE],
    );
    bed.wait_for("routes announced", Duration::from_secs(10), |rib| {
        rib.len() == 2
    });
    bed.kill_exabgp();
    let rib = bed.routes().expect("gobgpd answers");
    assert_eq!(rib.len(), 2, "GR keeps both routes: {rib:#?}");
    assert!(rib.iter().all(|r| r.stale), "routes marked stale: {rib:#?}");
    bed.start_exabgp();
    bed.wait_for("routes refreshed", Duration::from_secs(15), |rib| {
        rib.len() == 2 && rib.iter().all(|r| !r.stale)
    });
}

#[test]
fn without_graceful_restart_a_crash_withdraws_and_down_leaves_nothing() {
    let bed = Testbed::up(&["sh", "-c", ANNOUNCE]);
    bed.wait_for("routes announced", Duration::from_secs(10), |rib| {
        rib.len() == 2
    });
    bed.kill_exabgp();
    bed.wait_for(
        "routes withdrawn",
        Duration::from_secs(5),
        <[Route]>::is_empty,
    );
    let ns = bed.ns_exa();
    drop(bed);
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(!list.contains(&ns), "namespace {ns} left behind: {list}");
}
