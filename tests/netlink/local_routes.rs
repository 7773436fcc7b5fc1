//! The agent's VIPs held as local routes (`VipMode::LocalRoute`): the kernel accepts their
//! traffic, others' addresses and routes stay, and a change of mode cleans up after itself.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use kube_anycast::netlink::Addresses;
use kube_anycast::netlink::local_routes::LocalRoute;
use kube_anycast::netlink::vips::{PROTO_KUBE_ANYCAST, VipMode, Vips};
use rtnetlink::LinkUnspec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{in_private_netns, net, nets};

fn route_vips(addrs: &Addresses) -> Vips {
    Vips::new(addrs.clone(), "lo").with_mode(VipMode::LocalRoute)
}

async fn bring_lo_up(addrs: &Addresses) {
    let index = addrs.link_index("lo").await.unwrap();
    let (connection, handle, _) = rtnetlink::new_connection().unwrap();
    tokio::spawn(connection);
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .unwrap();
}

/// Our local routes on lo, by the marker.
async fn our_routes(addrs: &Addresses) -> BTreeSet<IpNet> {
    let lo = addrs.link_index("lo").await.unwrap();
    let routes: Vec<LocalRoute> = addrs.list_local_routes("lo").await.unwrap();
    routes
        .into_iter()
        .filter(|r| r.protocol == PROTO_KUBE_ANYCAST && r.link_index == Some(lo))
        .map(|r| r.prefix)
        .collect()
}

/// A TCP connection to `to` reaches a listener bound to `bind` and echoes a byte.
async fn connects(bind: SocketAddr, to: SocketAddr) {
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let to = SocketAddr::new(to.ip(), listener.local_addr().unwrap().port());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut byte = [0u8; 1];
        socket.read_exact(&mut byte).await.unwrap();
        socket.write_all(&byte).await.unwrap();
    });
    let mut client = tokio::net::TcpStream::connect(to).await.unwrap();
    client.write_all(b"k").await.unwrap();
    let mut echoed = [0u8; 1];
    client.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"k");
    server.await.unwrap();
}

#[test]
fn local_route_vips_take_traffic_and_leave_others_alone() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        bring_lo_up(&addrs).await;
        // Someone else's address: its local route is there already, so no route of ours.
        addrs.add("lo", net("192.0.2.99/32"), None).await.unwrap();
        let vips = route_vips(&addrs);
        let wanted = nets(&["192.0.2.1/32", "2001:db8::1/128", "192.0.2.99/32"]);
        let changes = vips.reconcile(&wanted).await.unwrap();
        assert_eq!(
            changes.add,
            vec![net("192.0.2.1/32"), net("2001:db8::1/128")]
        );
        assert_eq!(
            our_routes(&addrs).await,
            nets(&["192.0.2.1/32", "2001:db8::1/128"])
        );
        let addresses: BTreeSet<IpNet> = addrs
            .list("lo")
            .await
            .unwrap()
            .iter()
            .map(|a| a.prefix)
            .collect();
        assert!(
            !addresses.contains(&net("192.0.2.1/32")),
            "a local route, not an address: {addresses:?}"
        );
        // The node takes the traffic: a bind to the IPv4 VIP itself, the IPv6 VIP through `::`.
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        connects(SocketAddr::new(v4, 0), SocketAddr::new(v4, 0)).await;
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        connects("[::]:0".parse().unwrap(), SocketAddr::new(v6, 0)).await;

        // Withdrawn: only ours goes, the foreign address stays.
        let changes = vips.reconcile(&BTreeSet::new()).await.unwrap();
        assert_eq!(
            changes.remove,
            vec![net("192.0.2.1/32"), net("2001:db8::1/128")]
        );
        assert!(our_routes(&addrs).await.is_empty());
        let (present, ours) = vips.present().await.unwrap();
        assert!(ours.is_empty());
        assert!(present.contains(&net("192.0.2.99/32")), "{present:?}");
    });
}

#[test]
fn a_foreign_local_route_is_neither_added_again_nor_removed() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        bring_lo_up(&addrs).await;
        let lo = addrs.link_index("lo").await.unwrap();
        // Someone else's AnyIP route (another protocol value).
        addrs
            .add_local_route_at("lo", lo, net("192.0.2.50/32"), 4)
            .await
            .unwrap();
        let vips = route_vips(&addrs);
        let changes = vips
            .reconcile(&nets(&["192.0.2.50/32", "192.0.2.51/32"]))
            .await
            .unwrap();
        assert_eq!(changes.add, vec![net("192.0.2.51/32")]);
        let changes = vips.reconcile(&BTreeSet::new()).await.unwrap();
        assert_eq!(changes.remove, vec![net("192.0.2.51/32")]);
        let foreign: Vec<LocalRoute> = addrs.list_local_routes("lo").await.unwrap();
        assert!(
            foreign
                .iter()
                .any(|r| r.prefix == net("192.0.2.50/32") && r.protocol == 4),
            "{foreign:?}"
        );
        // Our removal names our marker: the kernel refuses it for another's route.
        let refused = addrs
            .remove_local_route_at("lo", lo, net("192.0.2.50/32"), PROTO_KUBE_ANYCAST)
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("192.0.2.50/32"), "{refused}");
    });
}

#[test]
fn a_change_of_mode_keeps_wanted_vips_and_removes_the_old_kind() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        // Up, as on a node: the kernel flushes an interface's routes with its last address.
        bring_lo_up(&addrs).await;
        // An agent holding addresses...
        let as_addresses = Vips::new(addrs.clone(), "lo");
        as_addresses
            .reconcile(&nets(&["192.0.2.1/32", "192.0.2.2/32"]))
            .await
            .unwrap();
        // ...is replaced by one holding local routes: the still-wanted address stays as it is
        // (no flap), the unwanted one goes, the new one is a route.
        let as_routes = route_vips(&Addresses::connect().unwrap());
        let changes = as_routes
            .reconcile(&nets(&["192.0.2.1/32", "192.0.2.3/32"]))
            .await
            .unwrap();
        assert_eq!(changes.add, vec![net("192.0.2.3/32")]);
        assert_eq!(changes.remove, vec![net("192.0.2.2/32")]);
        assert_eq!(our_routes(&addrs).await, nets(&["192.0.2.3/32"]));
        // And back: an address agent removes the routes it finds of ours.
        let back = Vips::new(Addresses::connect().unwrap(), "lo");
        let changes = back.reconcile(&BTreeSet::new()).await.unwrap();
        assert_eq!(
            changes.remove,
            vec![net("192.0.2.1/32"), net("192.0.2.3/32")]
        );
        assert!(our_routes(&addrs).await.is_empty());
        assert!(back.present().await.unwrap().1.is_empty());
    });
}

#[test]
fn ten_thousand_local_route_vips_in_one_reconcile() {
    in_private_netns(|| async {
        let addrs = Addresses::connect().unwrap();
        let vips = route_vips(&addrs);
        let wanted: BTreeSet<IpNet> = (0..10_000u32)
            .map(|i| IpNet::from(IpAddr::from(Ipv4Addr::from(0xC612_0000 + i))))
            .collect();
        let changes = vips.reconcile(&wanted).await.unwrap();
        assert_eq!(changes.add.len(), 10_000);
        assert_eq!(our_routes(&addrs).await, wanted);
        let changes = vips.reconcile(&BTreeSet::new()).await.unwrap();
        assert_eq!(changes.remove.len(), 10_000);
        assert!(our_routes(&addrs).await.is_empty());
    });
}
