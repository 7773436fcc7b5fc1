//! The agent's service IPs on the loopback: added while announced, marked as ours, adopted at
//! start, removed when withdrawn and at exit. Addresses that others added are never touched.

use std::collections::BTreeSet;

use futures::StreamExt;
use ipnet::IpNet;

use super::{AddressError, Addresses};

/// The `IFA_PROTO` value that marks an address as kube-anycast's ('K').
pub const PROTO_KUBE_ANYCAST: u8 = 0x4b;

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

/// Keeps an interface's service IPs equal to the wanted set.
#[derive(Debug, Clone)]
pub struct Vips {
    addresses: Addresses,
    link: String,
}

impl Vips {
    /// Manages the service IPs of `link` (normally `lo`).
    pub fn new(addresses: Addresses, link: impl Into<String>) -> Self {
        Vips {
            addresses,
            link: link.into(),
        }
    }

    /// Applies the wanted set (host routes); returns the changes made. Changes go to the kernel
    /// many at a time (thousands of VIPs would otherwise cost one round trip each); the first
    /// failure is returned after the others finished.
    pub async fn reconcile(&self, wanted: &BTreeSet<IpNet>) -> Result<VipChanges, AddressError> {
        let (present, ours) = self.present().await?;
        let changes = vip_changes(&present, &ours, wanted);
        if changes.add.is_empty() && changes.remove.is_empty() {
            return Ok(changes);
        }
        let index = self.addresses.link_index(&self.link).await?;
        let link = self.link.as_str();
        let adds = changes.add.iter().map(|p| {
            futures::future::Either::Left(self.addresses.add_at(
                link,
                index,
                *p,
                None,
                Some(PROTO_KUBE_ANYCAST),
            ))
        });
        let removes = changes
            .remove
            .iter()
            .map(|p| futures::future::Either::Right(self.addresses.remove_at(link, index, *p)));
        let results: Vec<Result<(), AddressError>> = futures::stream::iter(adds.chain(removes))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        results
            .into_iter()
            .find(Result::is_err)
            .unwrap_or(Ok(()))
            .map(|()| changes)
    }

    /// Every address on the link, and those marked as ours.
    pub async fn present(&self) -> Result<(BTreeSet<IpNet>, BTreeSet<IpNet>), AddressError> {
        let all = self.addresses.list(&self.link).await?;
        let present = all.iter().map(|a| a.prefix).collect();
        let ours = all
            .iter()
            .filter(|a| a.protocol == Some(PROTO_KUBE_ANYCAST))
            .map(|a| a.prefix)
            .collect();
        Ok((present, ours))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(items: &[&str]) -> BTreeSet<IpNet> {
        items.iter().map(|s| s.parse().unwrap()).collect()
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
        assert_eq!(c.add, vec!["192.0.2.3/32".parse::<IpNet>().unwrap()]);
        assert_eq!(c.remove, vec!["192.0.2.2/32".parse::<IpNet>().unwrap()]);
    }

    proptest! {
        #[test]
        fn never_removes_foreign_nor_adds_present(p in proptest::collection::btree_set(0u8..16, 0..16), o in proptest::collection::btree_set(0u8..16, 0..16), w in proptest::collection::btree_set(0u8..16, 0..16)) {
            let to = |s: &BTreeSet<u8>| s.iter().map(|i| format!("192.0.2.{i}/32").parse::<IpNet>().unwrap()).collect::<BTreeSet<_>>();
            let (present, wanted) = (to(&p), to(&w));
            let ours: BTreeSet<IpNet> = to(&o).intersection(&present).copied().collect();
            let c = vip_changes(&present, &ours, &wanted);
            prop_assert!(c.remove.iter().all(|r| ours.contains(r) && !wanted.contains(r)));
            prop_assert!(c.add.iter().all(|a| !present.contains(a) && wanted.contains(a)));
        }
    }
}
