//! The agent's service IPs on the loopback: added while announced (as addresses or as local
//! routes, [`VipMode`]), marked as ours, adopted at start, removed when withdrawn and at exit.
//! What others added is never touched.
//!
//! [`Vips`] remembers what the interface holds between calls, so that one change costs one
//! netlink add or remove instead of a dump of every address (4-8 ms at 1,000 VIPs). The view
//! comes from a dump and is dumped again after any failure and after [`RESYNC_AFTER`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ipnet::IpNet;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::local_routes::LocalRoute;
use super::{AddressError, Addresses, LinkAddress};

/// The `IFA_PROTO` (address) and `RTM_PROTOCOL` (route) value that marks a service IP as
/// kube-anycast's ('K').
pub const PROTO_KUBE_ANYCAST: u8 = 0x4b;

/// How long a dump of the interface is trusted. Until then (or a failed change) what others do
/// goes unseen: an address of ours that someone removed is put back by the first reconcile after
/// it, and one removed and added again without our marker would still count as ours (a delete
/// cannot make the kernel check the marker). A minute keeps that window short while a busy
/// cluster pays one dump a minute instead of one per change.
pub const RESYNC_AFTER: Duration = Duration::from_mins(1);

/// Address changes sent to the kernel before their answers arrive.
const IN_FLIGHT: usize = 64;

/// How the node holds a service IP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum VipMode {
    /// An address on the interface (`ip addr show lo`), as ExaBGP's healthcheck does. Adding an
    /// IPv4 address costs the kernel time linear in the addresses already there: seconds for
    /// 10,000.
    #[default]
    Address,
    /// A route of type `local` in the `local` table (`ip route show table local`): the node
    /// accepts the traffic, in time that does not grow with the number of routes, and never
    /// picks the service IP as the source of its own traffic. An IPv6 socket that binds the
    /// service IP itself (not `::`) needs `IPV6_FREEBIND` or `net.ipv6.ip_nonlocal_bind=1`;
    /// IPv4 binds work as with an address.
    LocalRoute,
}

/// What changed on the interface: the prefixes added and removed, each list sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VipChanges {
    /// Wanted and absent.
    pub add: Vec<IpNet>,
    /// Ours and no longer wanted.
    pub remove: Vec<IpNet>,
}

impl VipChanges {
    /// True when there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }

    /// The changes in `ops`, each list sorted.
    pub fn from_ops(ops: impl IntoIterator<Item = VipOp>) -> Self {
        let mut changes = VipChanges::default();
        for op in ops {
            match op {
                VipOp::Add(prefix, _) => changes.add.push(prefix),
                VipOp::Remove(prefix, _) => changes.remove.push(prefix),
            }
        }
        changes.add.sort_unstable();
        changes.remove.sort_unstable();
        changes
    }

    /// These changes followed by `later` ones, each list sorted.
    fn merged(mut self, later: VipChanges) -> Self {
        self.add.extend(later.add);
        self.remove.extend(later.remove);
        self.add.sort_unstable();
        self.remove.sort_unstable();
        self
    }
}

/// One change to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipOp {
    /// Add the service IP, held this way and marked as ours.
    Add(IpNet, VipMode),
    /// Remove the service IP of ours, held this way.
    Remove(IpNet, VipMode),
}

/// What the node holds, as a dump says it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownAddresses {
    /// Every service IP the node holds already in the agent's mode, whoever added it: the
    /// interface's addresses, and with [`VipMode::LocalRoute`] every local host route.
    pub present: BTreeSet<IpNet>,
    /// Those marked as ours ([`PROTO_KUBE_ANYCAST`]), and how each is held: an agent that
    /// changed modes still finds, and removes when no longer wanted, what its predecessor added.
    pub ours: BTreeMap<IpNet, VipMode>,
}

impl KnownAddresses {
    /// The view that dumps of the interface's addresses and of the local routes give, for an
    /// agent in `mode` managing the interface with this index.
    pub fn from_dump(
        addresses: &[LinkAddress],
        routes: &[LocalRoute],
        link_index: u32,
        mode: VipMode,
    ) -> Self {
        let our_routes = routes
            .iter()
            .filter(|r| r.protocol == PROTO_KUBE_ANYCAST && r.link_index == Some(link_index));
        let our_addresses = addresses
            .iter()
            .filter(|a| a.protocol == Some(PROTO_KUBE_ANYCAST));
        let ours: BTreeMap<IpNet, VipMode> = our_routes
            .map(|r| (r.prefix, VipMode::LocalRoute))
            .chain(our_addresses.map(|a| (a.prefix, VipMode::Address)))
            .collect();
        let mut present: BTreeSet<IpNet> = addresses.iter().map(|a| a.prefix).collect();
        match mode {
            VipMode::Address => present.extend(ours.keys().copied()),
            VipMode::LocalRoute => present.extend(routes.iter().map(|r| r.prefix)),
        }
        KnownAddresses { present, ours }
    }

    /// The service IPs marked as ours, however held.
    pub fn ours(&self) -> BTreeSet<IpNet> {
        self.ours.keys().copied().collect()
    }
}

/// Computes the changes, adds first: never add a service IP the node holds (whoever added it),
/// never remove one that is not ours. A new one is held in `mode`; one of ours that is still
/// wanted stays as it is, even if held the other way (a change of mode never flaps a VIP).
pub fn vip_changes(known: &KnownAddresses, wanted: &BTreeSet<IpNet>, mode: VipMode) -> Vec<VipOp> {
    let adds = wanted
        .difference(&known.present)
        .map(|prefix| VipOp::Add(*prefix, mode));
    let removes = known
        .ours
        .iter()
        .filter(|(prefix, _)| !wanted.contains(*prefix))
        .map(|(prefix, held)| VipOp::Remove(*prefix, *held));
    adds.chain(removes).collect()
}

/// The node after changes, from each change and its result: when every one succeeded, the view
/// with them applied (an add is present and ours, a removed service IP neither). Otherwise the
/// first failure: someone else may have changed the node, so the view is no longer known and
/// only a dump tells again.
pub fn known_after<E>(
    mut known: KnownAddresses,
    results: Vec<(VipOp, Result<(), E>)>,
) -> Result<KnownAddresses, E> {
    for (op, result) in results {
        result?;
        match op {
            VipOp::Add(prefix, held) => {
                known.present.insert(prefix);
                known.ours.insert(prefix, held);
            }
            VipOp::Remove(prefix, _) => {
                known.present.remove(&prefix);
                known.ours.remove(&prefix);
            }
        }
    }
    Ok(known)
}

/// What one dump told, kept until a failure or [`Vips::resync_after`].
#[derive(Debug)]
struct Cache {
    link_index: u32,
    dumped_at: Instant,
    known: KnownAddresses,
}

/// Keeps an interface's service IPs equal to the wanted set.
///
/// Clones share the remembered view (and wait for each other): they manage the same interface,
/// and a view that each kept apart would go stale at every change the other made.
#[derive(Debug, Clone)]
pub struct Vips {
    addresses: Addresses,
    link: String,
    mode: VipMode,
    resync_after: Duration,
    cache: Arc<Mutex<Option<Cache>>>,
}

impl Vips {
    /// Manages the service IPs of `link` (normally `lo`), dumping it again after
    /// [`RESYNC_AFTER`].
    pub fn new(addresses: Addresses, link: impl Into<String>) -> Self {
        Vips::with_resync_after(addresses, link, RESYNC_AFTER)
    }

    /// Like [`Vips::new`], trusting a dump for `resync_after` (zero: dump at every call).
    pub fn with_resync_after(
        addresses: Addresses,
        link: impl Into<String>,
        resync_after: Duration,
    ) -> Self {
        Vips {
            addresses,
            link: link.into(),
            mode: VipMode::Address,
            resync_after,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// Holds new service IPs this way (addresses by default).
    #[must_use]
    pub fn with_mode(self, mode: VipMode) -> Self {
        Vips { mode, ..self }
    }

    /// Applies the wanted set (host routes); returns the changes made. Changes go to the kernel
    /// many at a time (thousands of VIPs would otherwise cost one round trip each).
    ///
    /// The changes come from the remembered view when it is fresh. When one of those fails (the
    /// view was stale: someone else added or removed an address), the interface is dumped and
    /// the rest applied from what the dump says, once; the first failure of that pass is
    /// returned after the others finished, and the next call dumps again.
    pub async fn reconcile(&self, wanted: &BTreeSet<IpNet>) -> Result<VipChanges, AddressError> {
        // Held for the whole call: a concurrent call would change what this one trusts.
        let mut slot = self.cache.lock().await;
        // Taken out and put back only on success, so a failed or cancelled call leaves no view.
        let fresh = slot
            .take()
            .filter(|cache| cache.dumped_at.elapsed() < self.resync_after);
        let mut made = VipChanges::default();
        if let Some(cache) = fresh {
            let (done, next) = self.apply(cache, wanted).await;
            match next {
                Ok(cache) => {
                    *slot = Some(cache);
                    return Ok(done);
                }
                Err(error) => {
                    tracing::debug!(link = %self.link, error = %error, "the remembered addresses were stale; dumping the interface");
                    made = done;
                }
            }
        }
        let cache = self.dump().await?;
        let (done, next) = self.apply(cache, wanted).await;
        *slot = Some(next?);
        Ok(made.merged(done))
    }

    /// Every service IP the node holds (in this mode, see [`KnownAddresses::present`]), and
    /// those marked as ours: a fresh dump, whatever is remembered.
    pub async fn present(&self) -> Result<(BTreeSet<IpNet>, BTreeSet<IpNet>), AddressError> {
        let known = self.dump().await?.known;
        let ours = known.ours();
        Ok((known.present, ours))
    }

    async fn dump(&self) -> Result<Cache, AddressError> {
        let link_index = self.addresses.link_index(&self.link).await?;
        let dumped_at = Instant::now();
        let listed = self.addresses.list_at(&self.link, link_index).await?;
        // Dumped in both modes: what an agent in the other mode left is found and cleaned up.
        let routes = self.addresses.list_local_routes(&self.link).await?;
        Ok(Cache {
            link_index,
            dumped_at,
            known: KnownAddresses::from_dump(&listed, &routes, link_index, self.mode),
        })
    }

    /// Brings the interface from `cache`'s view to `wanted`: the changes that succeeded, and the
    /// view after them, or the first failure.
    async fn apply(
        &self,
        cache: Cache,
        wanted: &BTreeSet<IpNet>,
    ) -> (VipChanges, Result<Cache, AddressError>) {
        let ops = vip_changes(&cache.known, wanted, self.mode);
        if ops.is_empty() {
            return (VipChanges::default(), Ok(cache));
        }
        let (link, index) = (self.link.as_str(), cache.link_index);
        let results: Vec<(VipOp, Result<(), AddressError>)> = futures::stream::iter(ops)
            .map(|op| async move { (op, self.change(link, index, op).await) })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let done = VipChanges::from_ops(
            results
                .iter()
                .filter(|(_, result)| result.is_ok())
                .map(|(op, _)| *op),
        );
        let next = known_after(cache.known, results).map(|known| Cache { known, ..cache });
        (done, next)
    }

    async fn change(&self, link: &str, index: u32, op: VipOp) -> Result<(), AddressError> {
        let marker = PROTO_KUBE_ANYCAST;
        let addresses = &self.addresses;
        match op {
            VipOp::Add(prefix, VipMode::Address) => {
                addresses
                    .add_at(link, index, prefix, None, Some(marker))
                    .await
            }
            VipOp::Add(prefix, VipMode::LocalRoute) => {
                addresses
                    .add_local_route_at(link, index, prefix, marker)
                    .await
            }
            VipOp::Remove(prefix, VipMode::Address) => {
                addresses.remove_at(link, index, prefix).await
            }
            VipOp::Remove(prefix, VipMode::LocalRoute) => {
                addresses
                    .remove_local_route_at(link, index, prefix, marker)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(items: &[&str]) -> BTreeSet<IpNet> {
        items.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn nets(indexes: &BTreeSet<u8>) -> BTreeSet<IpNet> {
        indexes
            .iter()
            .map(|i| net(&format!("192.0.2.{i}/32")))
            .collect()
    }

    fn ours(items: &[(&str, VipMode)]) -> BTreeMap<IpNet, VipMode> {
        items.iter().map(|(p, m)| (net(p), *m)).collect()
    }

    fn changes(known: &KnownAddresses, wanted: &BTreeSet<IpNet>, mode: VipMode) -> VipChanges {
        VipChanges::from_ops(vip_changes(known, wanted, mode))
    }

    const MODES: [VipMode; 2] = [VipMode::Address, VipMode::LocalRoute];

    /// The kernel's side, as the cache must see it: each service IP and, when ours, how it is
    /// held; an add of an existing one and a removal of a missing one (or one held the other
    /// way) fail.
    #[derive(Debug, Default)]
    struct Kernel(BTreeMap<IpNet, Option<VipMode>>);

    impl Kernel {
        fn apply(&mut self, op: VipOp) -> Result<(), String> {
            match op {
                VipOp::Add(p, _) if self.0.contains_key(&p) => Err(format!("{p} exists")),
                VipOp::Add(p, held) => {
                    self.0.insert(p, Some(held));
                    Ok(())
                }
                VipOp::Remove(p, held) if self.0.get(&p) == Some(&Some(held)) => {
                    self.0.remove(&p);
                    Ok(())
                }
                VipOp::Remove(p, _) => Err(format!("no {p} of ours held that way")),
            }
        }

        fn dump(&self) -> KnownAddresses {
            KnownAddresses {
                present: self.0.keys().copied().collect(),
                ours: self
                    .0
                    .iter()
                    .filter_map(|(p, held)| held.map(|h| (*p, h)))
                    .collect(),
            }
        }
    }

    #[test]
    fn adopts_ours_and_leaves_others_alone() {
        for mode in MODES {
            let known = KnownAddresses {
                present: set(&[
                    "127.0.0.1/8",
                    "192.0.2.1/32",
                    "192.0.2.2/32",
                    "192.0.2.9/32",
                ]),
                ours: ours(&[("192.0.2.1/32", mode), ("192.0.2.2/32", mode)]),
            };
            let wanted = set(&["192.0.2.1/32", "192.0.2.3/32", "192.0.2.9/32"]);
            let c = changes(&known, &wanted, mode);
            assert_eq!(c.add, vec![net("192.0.2.3/32")]);
            assert_eq!(c.remove, vec![net("192.0.2.2/32")]);
        }
    }

    #[test]
    fn adds_in_the_mode_and_removes_as_held() {
        let known = KnownAddresses {
            present: set(&["192.0.2.1/32", "192.0.2.2/32"]),
            ours: ours(&[
                ("192.0.2.1/32", VipMode::Address),
                ("192.0.2.2/32", VipMode::Address),
            ]),
        };
        let wanted = set(&["192.0.2.2/32", "192.0.2.3/32"]);
        let ops = vip_changes(&known, &wanted, VipMode::LocalRoute);
        assert_eq!(
            ops,
            vec![
                VipOp::Add(net("192.0.2.3/32"), VipMode::LocalRoute),
                VipOp::Remove(net("192.0.2.1/32"), VipMode::Address),
            ]
        );
    }

    fn address(prefix: &str, protocol: Option<u8>) -> LinkAddress {
        LinkAddress {
            prefix: net(prefix),
            label: None,
            protocol,
        }
    }

    fn route(prefix: &str, link_index: u32, protocol: u8) -> LocalRoute {
        LocalRoute {
            prefix: net(prefix),
            link_index: Some(link_index),
            protocol,
        }
    }

    #[test]
    fn a_dump_tells_ours_by_the_marker() {
        let addresses = [
            address("192.0.2.1/32", Some(PROTO_KUBE_ANYCAST)),
            address("192.0.2.2/32", None),
            address("192.0.2.3/32", Some(PROTO_KUBE_ANYCAST + 1)),
        ];
        let known = KnownAddresses::from_dump(&addresses, &[], 1, VipMode::Address);
        assert_eq!(
            known.present,
            set(&["192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"])
        );
        assert_eq!(known.ours, ours(&[("192.0.2.1/32", VipMode::Address)]));
    }

    #[test]
    fn a_dump_of_local_routes_tells_ours_by_marker_and_interface() {
        const LO: u32 = 1;
        const KERNEL: u8 = 2;
        let addresses = [
            address("127.0.0.1/8", None),
            address("192.0.2.1/32", Some(PROTO_KUBE_ANYCAST)),
        ];
        let routes = [
            route("127.0.0.1/32", LO, KERNEL),
            route("192.0.2.1/32", LO, KERNEL),
            route("192.0.2.5/32", LO, PROTO_KUBE_ANYCAST),
            route("192.0.2.6/32", 7, PROTO_KUBE_ANYCAST),
            route("198.51.100.1/32", 7, KERNEL),
        ];
        let in_route_mode = KnownAddresses::from_dump(&addresses, &routes, LO, VipMode::LocalRoute);
        assert_eq!(
            in_route_mode.present,
            set(&[
                "127.0.0.1/8",
                "127.0.0.1/32",
                "192.0.2.1/32",
                "192.0.2.5/32",
                "192.0.2.6/32",
                "198.51.100.1/32"
            ])
        );
        let expected_ours = ours(&[
            ("192.0.2.1/32", VipMode::Address),
            ("192.0.2.5/32", VipMode::LocalRoute),
        ]);
        assert_eq!(in_route_mode.ours, expected_ours);
        // In address mode only the interface's addresses count, and what is ours.
        let in_address_mode = KnownAddresses::from_dump(&addresses, &routes, LO, VipMode::Address);
        assert_eq!(
            in_address_mode.present,
            set(&["127.0.0.1/8", "192.0.2.1/32", "192.0.2.5/32"])
        );
        assert_eq!(in_address_mode.ours, expected_ours);
    }

    #[test]
    fn an_add_is_present_and_ours_a_removal_neither() {
        let known = KnownAddresses {
            present: set(&["127.0.0.1/8", "192.0.2.1/32"]),
            ours: ours(&[("192.0.2.1/32", VipMode::Address)]),
        };
        let results: Vec<(VipOp, Result<(), ()>)> = vec![
            (VipOp::Add(net("192.0.2.2/32"), VipMode::LocalRoute), Ok(())),
            (VipOp::Remove(net("192.0.2.1/32"), VipMode::Address), Ok(())),
        ];
        let after = known_after(known, results).unwrap();
        assert_eq!(after.present, set(&["127.0.0.1/8", "192.0.2.2/32"]));
        assert_eq!(after.ours, ours(&[("192.0.2.2/32", VipMode::LocalRoute)]));
    }

    #[test]
    fn an_address_added_behind_the_view_fails_the_add_and_the_view() {
        for mode in MODES {
            let mut kernel = Kernel::default();
            let known = kernel.dump();
            // Someone else adds the address after the dump; the view does not know it.
            kernel.0.insert(net("192.0.2.7/32"), None);
            let wanted = set(&["192.0.2.7/32"]);
            let ops = vip_changes(&known, &wanted, mode);
            let results = ops.into_iter().map(|op| (op, kernel.apply(op))).collect();
            assert!(known_after(known, results).is_err());
            // The dump that follows sees it and leaves it alone.
            assert!(vip_changes(&kernel.dump(), &wanted, mode).is_empty());
        }
    }

    #[test]
    fn merged_changes_are_sorted() {
        let first = VipChanges::from_ops([VipOp::Add(net("192.0.2.9/32"), VipMode::Address)]);
        let later = VipChanges::from_ops([
            VipOp::Add(net("192.0.2.1/32"), VipMode::Address),
            VipOp::Remove(net("192.0.2.5/32"), VipMode::LocalRoute),
        ]);
        let merged = first.merged(later);
        assert_eq!(merged.add, vec![net("192.0.2.1/32"), net("192.0.2.9/32")]);
        assert_eq!(merged.remove, vec![net("192.0.2.5/32")]);
    }

    fn a_mode() -> impl Strategy<Value = VipMode> {
        prop_oneof![Just(VipMode::Address), Just(VipMode::LocalRoute)]
    }

    proptest! {
        #[test]
        fn never_removes_foreign_nor_adds_present(
            p in proptest::collection::btree_set(0u8..16, 0..16),
            o in proptest::collection::btree_map(0u8..16, a_mode(), 0..16),
            w in proptest::collection::btree_set(0u8..16, 0..16),
            mode in a_mode(),
        ) {
            let present = nets(&p);
            let ours: BTreeMap<IpNet, VipMode> = o
                .iter()
                .map(|(i, m)| (net(&format!("192.0.2.{i}/32")), *m))
                .filter(|(p, _)| present.contains(p))
                .collect();
            let wanted = nets(&w);
            let known = KnownAddresses { present: present.clone(), ours: ours.clone() };
            for op in vip_changes(&known, &wanted, mode) {
                match op {
                    VipOp::Add(a, held) => {
                        prop_assert!(!present.contains(&a) && wanted.contains(&a));
                        prop_assert_eq!(held, mode);
                    }
                    VipOp::Remove(r, held) => {
                        prop_assert_eq!(ours.get(&r), Some(&held));
                        prop_assert!(!wanted.contains(&r));
                    }
                }
            }
        }

        /// When every change succeeds, the remembered view is what a dump would say, the kernel
        /// never refuses a change made from it, and foreign addresses stay; what the agent held
        /// in one mode is removed as it was held after a change of mode.
        #[test]
        fn the_view_equals_a_dump_while_every_change_succeeds(
            foreign in proptest::collection::btree_set(0u8..24, 0..8),
            ours_at_start in proptest::collection::btree_map(0u8..24, a_mode(), 0..8),
            steps in proptest::collection::vec((proptest::collection::btree_set(0u8..24, 0..16), a_mode()), 1..8),
        ) {
            let mut kernel = Kernel::default();
            for (i, held) in &ours_at_start {
                kernel.0.insert(net(&format!("192.0.2.{i}/32")), Some(*held));
            }
            for p in nets(&foreign) {
                kernel.0.insert(p, None);
            }
            let foreign: BTreeSet<IpNet> = kernel.0.iter().filter(|(_, h)| h.is_none()).map(|(p, _)| *p).collect();
            let mut known = kernel.dump();
            for (wanted, mode) in steps.iter().map(|(w, m)| (nets(w), *m)) {
                let ops = vip_changes(&known, &wanted, mode);
                let results: Vec<_> = ops.into_iter().map(|op| (op, kernel.apply(op))).collect();
                prop_assert!(results.iter().all(|(_, r)| r.is_ok()), "{:?}", results);
                known = known_after(known, results).unwrap();
                prop_assert_eq!(&known, &kernel.dump());
                prop_assert!(foreign.is_subset(&known.present));
                prop_assert_eq!(known.ours(), wanted.difference(&foreign).copied().collect::<BTreeSet<_>>());
            }
        }

        /// Any failed change forgets the view (the next call dumps), whatever else succeeded.
        #[test]
        fn any_failure_forces_a_dump(
            p in proptest::collection::btree_set(0u8..16, 0..16),
            o in proptest::collection::btree_set(0u8..16, 0..16),
            w in proptest::collection::btree_set(0u8..16, 0..16),
            failing in proptest::collection::btree_set(0usize..32, 1..4),
            mode in a_mode(),
        ) {
            let present = nets(&p);
            let known = KnownAddresses {
                ours: nets(&o).intersection(&present).map(|p| (*p, mode)).collect(),
                present,
            };
            let ops = vip_changes(&known, &nets(&w), mode);
            prop_assume!(!ops.is_empty());
            let failing: BTreeSet<usize> = failing.iter().map(|i| i % ops.len()).collect();
            let results = ops
                .iter()
                .enumerate()
                .map(|(i, op)| (*op, if failing.contains(&i) { Err(i) } else { Ok(()) }))
                .collect();
            let first = failing.first().copied();
            prop_assert_eq!(known_after(known, results).err(), first);
        }
    }
}
