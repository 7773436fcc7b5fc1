//! The healthcheck's address setup and the agent's VIPs held as addresses.

use std::collections::BTreeSet;
use std::time::Duration;

use ipnet::IpNet;
use kube_anycast::netlink::Addresses;
use kube_anycast::netlink::vips::{PROTO_KUBE_ANYCAST, Vips};

use crate::{in_private_netns, net, nets};

#[test]
fn vips_are_added_marked_adopted_and_removed_without_touching_others() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        // Someone else's address: must survive everything below.
        addrs
            .add("lo", "192.0.2.99/32".parse().unwrap(), None)
            .await
            .unwrap();
        let vips = Vips::new(addrs.clone(), "lo");
        let wanted = nets(&["192.0.2.1/32", "2001:db8::1/128", "192.0.2.99/32"]);
        let changes = vips.reconcile(&wanted).await.unwrap();
        assert_eq!(changes.add.len(), 2, "{changes:?}");
        let listed = addrs.list("lo").await.unwrap();
        let v6 = listed
            .iter()
            .find(|a| a.prefix.to_string() == "2001:db8::1/128")
            .expect("IPv6 VIP present");
        assert_eq!(v6.protocol, Some(PROTO_KUBE_ANYCAST));
        let (_, ours) = vips.present().await.unwrap();
        assert_eq!(ours, nets(&["192.0.2.1/32", "2001:db8::1/128"]));

        // A restarted agent (a new handle) adopts its own and removes what it no longer wants.
        let restarted = Vips::new(Addresses::connect().unwrap(), "lo");
        let changes = restarted.reconcile(&nets(&["192.0.2.1/32"])).await.unwrap();
        assert!(changes.add.is_empty());
        assert_eq!(
            changes.remove,
            vec!["2001:db8::1/128".parse::<IpNet>().unwrap()]
        );
        restarted.reconcile(&BTreeSet::new()).await.unwrap();
        let (present, ours) = restarted.present().await.unwrap();
        assert!(ours.is_empty());
        assert!(
            present.contains(&"192.0.2.99/32".parse().unwrap()),
            "a foreign address was removed"
        );
    });
}

#[test]
fn labels_and_missing_interfaces() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        addrs
            .add("lo", "198.51.100.1/32".parse().unwrap(), Some("lo:web1"))
            .await
            .unwrap();
        let listed = addrs.list("lo").await.unwrap();
        let a = listed
            .iter()
            .find(|a| a.prefix.to_string() == "198.51.100.1/32")
            .unwrap();
        assert_eq!(a.label.as_deref(), Some("lo:web1"));
        let err = addrs.list("nosuch0").await.unwrap_err();
        assert!(err.to_string().contains("nosuch0"), "{err}");
        let dup = addrs
            .add("lo", "198.51.100.1/32".parse().unwrap(), None)
            .await
            .unwrap_err();
        assert!(dup.to_string().contains("198.51.100.1/32"), "{dup}");
    });
}

#[test]
fn ten_thousand_vips_in_one_reconcile() {
    in_private_netns(|| async {
        let vips = Vips::new(Addresses::connect().unwrap(), "lo");
        let wanted: BTreeSet<IpNet> = (0..10_000u32)
            .map(|i| {
                IpNet::from(std::net::IpAddr::from(std::net::Ipv4Addr::from(
                    0xC612_0000 + i,
                )))
            })
            .collect();
        let changes = vips.reconcile(&wanted).await.unwrap();
        assert_eq!(changes.add.len(), 10_000);
        let (_, ours) = vips.present().await.unwrap();
        assert_eq!(ours, wanted);
        let changes = vips.reconcile(&BTreeSet::new()).await.unwrap();
        assert_eq!(changes.remove.len(), 10_000);
        assert!(vips.present().await.unwrap().1.is_empty());
    });
}

/// What a fresh dump must say after reconciling `wanted`: the addresses there before, the
/// foreign ones and the wanted ones; ours are the wanted ones nobody else had.
fn expected(
    before: &BTreeSet<IpNet>,
    foreign: &BTreeSet<IpNet>,
    wanted: &BTreeSet<IpNet>,
) -> (BTreeSet<IpNet>, BTreeSet<IpNet>) {
    let others: BTreeSet<IpNet> = before.union(foreign).copied().collect();
    let present = others.union(wanted).copied().collect();
    let ours = wanted.difference(&others).copied().collect();
    (present, ours)
}

#[test]
fn remembered_view_matches_a_fresh_dump_across_adds_and_removes() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        let (before, _) = Vips::new(addrs.clone(), "lo").present().await.unwrap();
        let mut foreign = nets(&["192.0.2.99/32"]);
        addrs.add("lo", net("192.0.2.99/32"), None).await.unwrap();
        let vips = Vips::new(addrs.clone(), "lo");
        let steps = [
            nets(&["192.0.2.1/32", "192.0.2.2/32", "2001:db8::1/128"]),
            // One more: from the remembered view, one add.
            nets(&[
                "192.0.2.1/32",
                "192.0.2.2/32",
                "192.0.2.3/32",
                "2001:db8::1/128",
            ]),
            // One fewer, and a foreign address wanted: neither added nor made ours.
            nets(&[
                "192.0.2.1/32",
                "192.0.2.3/32",
                "2001:db8::1/128",
                "192.0.2.99/32",
            ]),
            nets(&["192.0.2.3/32", "2001:db8::2/128"]),
            BTreeSet::new(),
        ];
        for wanted in &steps {
            vips.reconcile(wanted).await.unwrap();
            assert_eq!(
                vips.present().await.unwrap(),
                expected(&before, &foreign, wanted),
                "after reconciling {wanted:?}"
            );
        }

        // Someone else adds an address the remembered view lacks, and it becomes wanted: the add
        // fails with EEXIST, the interface is dumped, and the call still succeeds.
        vips.reconcile(&nets(&["192.0.2.1/32"])).await.unwrap();
        addrs.add("lo", net("192.0.2.50/32"), None).await.unwrap();
        foreign.insert(net("192.0.2.50/32"));
        let wanted = nets(&["192.0.2.1/32", "192.0.2.2/32", "192.0.2.50/32"]);
        let changes = vips.reconcile(&wanted).await.unwrap();
        assert_eq!(changes.add, vec![net("192.0.2.2/32")], "{changes:?}");
        assert_eq!(
            vips.present().await.unwrap(),
            expected(&before, &foreign, &wanted)
        );

        // No longer wanted: ours go, the foreign ones stay.
        vips.reconcile(&BTreeSet::new()).await.unwrap();
        let (present, ours) = vips.present().await.unwrap();
        assert!(ours.is_empty(), "{ours:?}");
        assert!(foreign.is_subset(&present), "a foreign address was removed");
    });
}

#[test]
fn remembered_view_is_trusted_until_a_change_fails() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        let vips = Vips::with_resync_after(addrs.clone(), "lo", Duration::from_hours(1));
        vips.reconcile(&nets(&["192.0.2.1/32"])).await.unwrap();

        // Ours, removed behind Vips's back: the remembered view still has it, so only the new
        // address is added (a dump would have put 192.0.2.1 back: none was made).
        addrs.remove("lo", net("192.0.2.1/32")).await.unwrap();
        let changes = vips
            .reconcile(&nets(&["192.0.2.1/32", "192.0.2.2/32"]))
            .await
            .unwrap();
        assert_eq!(changes.add, vec![net("192.0.2.2/32")], "{changes:?}");
        let (_, ours) = vips.present().await.unwrap();
        assert_eq!(ours, nets(&["192.0.2.2/32"]));

        // A change that fails (a foreign address appeared) makes it dump: ours is put back.
        addrs.add("lo", net("192.0.2.50/32"), None).await.unwrap();
        let wanted = nets(&["192.0.2.1/32", "192.0.2.2/32", "192.0.2.50/32"]);
        let changes = vips.reconcile(&wanted).await.unwrap();
        assert_eq!(changes.add, vec![net("192.0.2.1/32")], "{changes:?}");
        let (present, ours) = vips.present().await.unwrap();
        assert_eq!(ours, nets(&["192.0.2.1/32", "192.0.2.2/32"]));
        assert!(present.contains(&net("192.0.2.50/32")));

        // Removing one of ours that is already gone fails too, and the dump settles it.
        addrs.remove("lo", net("192.0.2.2/32")).await.unwrap();
        let changes = vips.reconcile(&nets(&["192.0.2.1/32"])).await.unwrap();
        assert!(
            changes.add.is_empty() && changes.remove.is_empty(),
            "{changes:?}"
        );
        let (present, ours) = vips.present().await.unwrap();
        assert_eq!(ours, nets(&["192.0.2.1/32"]));
        assert!(
            present.contains(&net("192.0.2.50/32")),
            "a foreign address was removed"
        );
    });
}

#[test]
fn remembered_view_older_than_the_limit_is_dumped_again() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        let limit = Duration::from_millis(100);
        let vips = Vips::with_resync_after(addrs.clone(), "lo", limit);
        let wanted = nets(&["192.0.2.1/32", "2001:db8::1/128"]);
        vips.reconcile(&wanted).await.unwrap();
        let index = addrs.link_index("lo").await.unwrap();
        addrs
            .remove_at("lo", index, net("2001:db8::1/128"))
            .await
            .unwrap();
        tokio::time::sleep(limit + Duration::from_millis(50)).await;
        let changes = vips.reconcile(&wanted).await.unwrap();
        assert_eq!(changes.add, vec![net("2001:db8::1/128")], "{changes:?}");
        assert_eq!(vips.present().await.unwrap().1, wanted);
    });
}

#[test]
fn clones_share_the_remembered_view() {
    in_private_netns(|| async {
        let vips =
            Vips::with_resync_after(Addresses::connect().unwrap(), "lo", Duration::from_hours(1));
        let clone = vips.clone();
        vips.reconcile(&nets(&["192.0.2.1/32"])).await.unwrap();
        clone.reconcile(&BTreeSet::new()).await.unwrap();
        // Had each kept its own view, this one would think 192.0.2.1 still there.
        let changes = vips.reconcile(&nets(&["192.0.2.1/32"])).await.unwrap();
        assert_eq!(changes.add, vec![net("192.0.2.1/32")], "{changes:?}");
        assert_eq!(vips.present().await.unwrap().1, nets(&["192.0.2.1/32"]));
    });
}
