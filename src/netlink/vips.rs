//! The agent's service IPs on the loopback: added while announced, marked as ours, adopted at
//! start, removed when withdrawn and at exit. Addresses that others added are never touched.
//!
//! [`Vips`] remembers what the interface holds between calls, so that one change costs one
//! netlink add or remove instead of a dump of every address (4-8 ms at 1,000 VIPs). The view
//! comes from a dump and is dumped again after any failure and after [`RESYNC_AFTER`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ipnet::IpNet;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{AddressError, Addresses, LinkAddress};

/// The `IFA_PROTO` value that marks an address as kube-anycast's ('K').
pub const PROTO_KUBE_ANYCAST: u8 = 0x4b;

/// How long a dump of the interface is trusted. Until then (or a failed change) what others do
/// goes unseen: an address of ours that someone removed is put back by the first reconcile after
/// it, and one removed and added again without our marker would still count as ours (a delete
/// cannot make the kernel check the marker). A minute keeps that window short while a busy
/// cluster pays one dump a minute instead of one per change.
pub const RESYNC_AFTER: Duration = Duration::from_mins(1);

/// Address changes sent to the kernel before their answers arrive.
const IN_FLIGHT: usize = 64;

/// What to change on the interface: pure, from what is there and what is wanted.
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

    /// Each change, adds first.
    pub fn ops(&self) -> impl Iterator<Item = VipOp> + '_ {
        let adds = self.add.iter().copied().map(VipOp::Add);
        adds.chain(self.remove.iter().copied().map(VipOp::Remove))
    }

    /// The changes in `ops`, each list sorted.
    pub fn from_ops(ops: impl IntoIterator<Item = VipOp>) -> Self {
        let mut changes = VipChanges::default();
        for op in ops {
            match op {
                VipOp::Add(prefix) => changes.add.push(prefix),
                VipOp::Remove(prefix) => changes.remove.push(prefix),
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

/// One change to the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipOp {
    /// Add the address, marked as ours.
    Add(IpNet),
    /// Remove the address (ours).
    Remove(IpNet),
}

/// What the interface holds, as a dump says it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownAddresses {
    /// Every address on the interface, whoever added it.
    pub present: BTreeSet<IpNet>,
    /// Those marked as ours ([`PROTO_KUBE_ANYCAST`]).
    pub ours: BTreeSet<IpNet>,
}

impl KnownAddresses {
    /// The view a dump gives.
    pub fn from_dump(listed: &[LinkAddress]) -> Self {
        KnownAddresses {
            present: listed.iter().map(|a| a.prefix).collect(),
            ours: listed
                .iter()
                .filter(|a| a.protocol == Some(PROTO_KUBE_ANYCAST))
                .map(|a| a.prefix)
                .collect(),
        }
    }
}

/// Computes the changes: never add an address that exists (whoever added it), never remove one
/// that is not ours.
pub fn vip_changes(
    present: &BTreeSet<IpNet>,
    ours: &BTreeSet<IpNet>,
    wanted: &BTreeSet<IpNet>,
) -> VipChanges {
    VipChanges {
        add: wanted.difference(present).copied().collect(),
        remove: ours.difference(wanted).copied().collect(),
    }
}

/// The interface after changes, from each change and its result: when every one succeeded, the
/// view with them applied (an add is present and ours, a removed address neither). Otherwise the
/// first failure: someone else may have changed the interface, so the view is no longer known
/// and only a dump tells again.
pub fn known_after<E>(
    mut known: KnownAddresses,
    results: Vec<(VipOp, Result<(), E>)>,
) -> Result<KnownAddresses, E> {
    for (op, result) in results {
        result?;
        match op {
            VipOp::Add(prefix) => {
                known.present.insert(prefix);
                known.ours.insert(prefix);
            }
            VipOp::Remove(prefix) => {
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
            resync_after,
            cache: Arc::new(Mutex::new(None)),
        }
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

    /// Every address on the link, and those marked as ours: a fresh dump, whatever is
    /// remembered.
    pub async fn present(&self) -> Result<(BTreeSet<IpNet>, BTreeSet<IpNet>), AddressError> {
        let known = KnownAddresses::from_dump(&self.addresses.list(&self.link).await?);
        Ok((known.present, known.ours))
    }

    async fn dump(&self) -> Result<Cache, AddressError> {
        let link_index = self.addresses.link_index(&self.link).await?;
        let dumped_at = Instant::now();
        let listed = self.addresses.list_at(&self.link, link_index).await?;
        Ok(Cache {
            link_index,
            dumped_at,
            known: KnownAddresses::from_dump(&listed),
        })
    }

    /// Brings the interface from `cache`'s view to `wanted`: the changes that succeeded, and the
    /// view after them, or the first failure.
    async fn apply(
        &self,
        cache: Cache,
        wanted: &BTreeSet<IpNet>,
    ) -> (VipChanges, Result<Cache, AddressError>) {
        let changes = vip_changes(&cache.known.present, &cache.known.ours, wanted);
        if changes.is_empty() {
            return (changes, Ok(cache));
        }
        let (link, index) = (self.link.as_str(), cache.link_index);
        let results: Vec<(VipOp, Result<(), AddressError>)> = futures::stream::iter(changes.ops())
            .map(|op| async move {
                let result = match op {
                    VipOp::Add(prefix) => {
                        let marker = Some(PROTO_KUBE_ANYCAST);
                        self.addresses
                            .add_at(link, index, prefix, None, marker)
                            .await
                    }
                    VipOp::Remove(prefix) => self.addresses.remove_at(link, index, prefix).await,
                };
                (op, result)
            })
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
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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

    /// The kernel's side, as the cache must see it: each address and whether it is marked as
    /// ours; an add of an existing address and a removal of a missing one fail.
    #[derive(Debug, Default)]
    struct Kernel(BTreeMap<IpNet, bool>);

    impl Kernel {
        fn apply(&mut self, op: VipOp) -> Result<(), String> {
            match op {
                VipOp::Add(p) if self.0.contains_key(&p) => Err(format!("{p} exists")),
                VipOp::Add(p) => {
                    self.0.insert(p, true);
                    Ok(())
                }
                VipOp::Remove(p) => self.0.remove(&p).map(|_| ()).ok_or(format!("no {p}")),
            }
        }

        fn dump(&self) -> KnownAddresses {
            KnownAddresses {
                present: self.0.keys().copied().collect(),
                ours: self
                    .0
                    .iter()
                    .filter(|(_, o)| **o)
                    .map(|(p, _)| *p)
                    .collect(),
            }
        }
    }

    #[test]
    fn adopts_ours_and_leaves_others_alone() {
        let present = set(&[
            "127.0.0.1/8",
            "192.0.2.1/32",
            "192.0.2.2/32",
            "192.0.2.9/32",
        ]);
        let ours = set(&["192.0.2.1/32", "192.0.2.2/32"]);
        let wanted = set(&["192.0.2.1/32", "192.0.2.3/32", "192.0.2.9/32"]);
        let c = vip_changes(&present, &ours, &wanted);
        assert_eq!(c.add, vec![net("192.0.2.3/32")]);
        assert_eq!(c.remove, vec![net("192.0.2.2/32")]);
    }

    #[test]
    fn a_dump_tells_ours_by_the_marker() {
        let listed = [
            LinkAddress {
                prefix: net("192.0.2.1/32"),
                label: None,
                protocol: Some(PROTO_KUBE_ANYCAST),
            },
            LinkAddress {
                prefix: net("192.0.2.2/32"),
                label: None,
                protocol: None,
            },
            LinkAddress {
                prefix: net("192.0.2.3/32"),
                label: None,
                protocol: Some(PROTO_KUBE_ANYCAST + 1),
            },
        ];
        let known = KnownAddresses::from_dump(&listed);
        assert_eq!(
            known.present,
            set(&["192.0.2.1/32", "192.0.2.2/32", "192.0.2.3/32"])
        );
        assert_eq!(known.ours, set(&["192.0.2.1/32"]));
    }

    #[test]
    fn an_add_is_present_and_ours_a_removal_neither() {
        let known = KnownAddresses {
            present: set(&["127.0.0.1/8", "192.0.2.1/32"]),
            ours: set(&["192.0.2.1/32"]),
        };
        let results: Vec<(VipOp, Result<(), ()>)> = vec![
            (VipOp::Add(net("192.0.2.2/32")), Ok(())),
            (VipOp::Remove(net("192.0.2.1/32")), Ok(())),
        ];
        let after = known_after(known, results).unwrap();
        assert_eq!(after.present, set(&["127.0.0.1/8", "192.0.2.2/32"]));
        assert_eq!(after.ours, set(&["192.0.2.2/32"]));
    }

    #[test]
    fn an_address_added_behind_the_view_fails_the_add_and_the_view() {
        let mut kernel = Kernel::default();
        let known = kernel.dump();
        // Someone else adds the address after the dump; the view does not know it.
        kernel.0.insert(net("192.0.2.7/32"), false);
        let wanted = set(&["192.0.2.7/32"]);
        let changes = vip_changes(&known.present, &known.ours, &wanted);
        let results = changes.ops().map(|op| (op, kernel.apply(op))).collect();
        assert!(known_after(known, results).is_err());
        // The dump that follows sees it and leaves it alone.
        let fresh = kernel.dump();
        assert!(vip_changes(&fresh.present, &fresh.ours, &wanted).is_empty());
    }

    #[test]
    fn merged_changes_are_sorted() {
        let first = VipChanges::from_ops([VipOp::Add(net("192.0.2.9/32"))]);
        let later = VipChanges::from_ops([
            VipOp::Add(net("192.0.2.1/32")),
            VipOp::Remove(net("192.0.2.5/32")),
        ]);
        let merged = first.merged(later);
        assert_eq!(merged.add, vec![net("192.0.2.1/32"), net("192.0.2.9/32")]);
        assert_eq!(merged.remove, vec![net("192.0.2.5/32")]);
    }

    proptest! {
        #[test]
        fn never_removes_foreign_nor_adds_present(p in proptest::collection::btree_set(0u8..16, 0..16), o in proptest::collection::btree_set(0u8..16, 0..16), w in proptest::collection::btree_set(0u8..16, 0..16)) {
            let (present, wanted) = (nets(&p), nets(&w));
            let ours: BTreeSet<IpNet> = nets(&o).intersection(&present).copied().collect();
            let c = vip_changes(&present, &ours, &wanted);
            prop_assert!(c.remove.iter().all(|r| ours.contains(r) && !wanted.contains(r)));
            prop_assert!(c.add.iter().all(|a| !present.contains(a) && wanted.contains(a)));
        }

        /// When every change succeeds, the remembered view is what a dump would say, the kernel
        /// never refuses a change made from it, and foreign addresses stay.
        #[test]
        fn the_view_equals_a_dump_while_every_change_succeeds(
            foreign in proptest::collection::btree_set(0u8..24, 0..8),
            ours_at_start in proptest::collection::btree_set(0u8..24, 0..8),
            wanted_sets in proptest::collection::vec(proptest::collection::btree_set(0u8..24, 0..16), 1..8),
        ) {
            let mut kernel = Kernel::default();
            for p in nets(&ours_at_start) {
                kernel.0.insert(p, true);
            }
            for p in nets(&foreign) {
                kernel.0.insert(p, false);
            }
            let foreign = kernel.dump().present.difference(&kernel.dump().ours).copied().collect::<BTreeSet<_>>();
            let mut known = kernel.dump();
            for wanted in wanted_sets.iter().map(nets) {
                let changes = vip_changes(&known.present, &known.ours, &wanted);
                let results: Vec<_> = changes.ops().map(|op| (op, kernel.apply(op))).collect();
                prop_assert!(results.iter().all(|(_, r)| r.is_ok()), "{:?}", results);
                known = known_after(known, results).unwrap();
                prop_assert_eq!(&known, &kernel.dump());
                prop_assert!(foreign.is_subset(&known.present));
                prop_assert_eq!(&known.ours, &wanted.difference(&foreign).copied().collect());
            }
        }

        /// Any failed change forgets the view (the next call dumps), whatever else succeeded.
        #[test]
        fn any_failure_forces_a_dump(
            p in proptest::collection::btree_set(0u8..16, 0..16),
            o in proptest::collection::btree_set(0u8..16, 0..16),
            w in proptest::collection::btree_set(0u8..16, 0..16),
            failing in proptest::collection::btree_set(0usize..32, 1..4),
        ) {
            let present = nets(&p);
            let known = KnownAddresses {
                ours: nets(&o).intersection(&present).copied().collect(),
                present,
            };
            let changes = vip_changes(&known.present, &known.ours, &nets(&w));
            let ops: Vec<VipOp> = changes.ops().collect();
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
