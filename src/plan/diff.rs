//! The minimal changes that turn one RIB into another.

use crate::exabgp::encode::Attributes;
use crate::model::{Rib, RouteKey};

/// One route change for the drivers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    /// Announce (or re-announce with new attributes).
    Announce {
        /// The route.
        key: RouteKey,
        /// Its new attributes.
        attributes: Attributes,
    },
    /// Withdraw; the attributes are the ones announced (the withdraw line carries the next
    /// hop and the ADD-PATH path id).
    Withdraw {
        /// The route.
        key: RouteKey,
        /// The attributes it was announced with.
        attributes: Attributes,
    },
}

impl Change {
    /// The route it is about.
    pub fn key(&self) -> &RouteKey {
        match self {
            Change::Announce { key, .. } | Change::Withdraw { key, .. } => key,
        }
    }
}

/// The changes from `old` to `new`, in key order: an announce for every new or changed route, a
/// withdraw for every route gone. Unchanged routes produce nothing.
///
/// A changed ADD-PATH path id makes a different path in BGP, which an announce would add beside
/// the old one; so the old path is also withdrawn, after the new one is announced
/// (make before break).
pub fn diff(old: &Rib, new: &Rib) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut old_iter = old.iter().peekable();
    let mut new_iter = new.iter().peekable();
    // A merge walk over two sorted maps: linear, and the output comes out in key order.
    loop {
        let order = match (old_iter.peek(), new_iter.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((ok, _)), Some((nk, _))) => ok.cmp(nk),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some((key, attributes)) = old_iter.next() {
                    changes.push(withdraw(key, attributes));
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((key, attributes)) = new_iter.next() {
                    changes.push(announce(key, attributes));
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some((key, before)), Some((_, after))) = (old_iter.next(), new_iter.next())
                    && before != after
                {
                    changes.push(announce(key, after));
                    if before.path_id != after.path_id {
                        changes.push(withdraw(key, before));
                    }
                }
            }
        }
    }
    changes
}

fn announce(key: &RouteKey, attributes: &Attributes) -> Change {
    Change::Announce {
        key: key.clone(),
        attributes: attributes.clone(),
    }
}

fn withdraw(key: &RouteKey, attributes: &Attributes) -> Change {
    Change::Withdraw {
        key: key.clone(),
        attributes: attributes.clone(),
    }
}

/// Applies changes to a RIB as a peer would see them: an announce sets the route, a withdraw
/// removes it only while it still has the withdrawn path id (the withdraw of a replaced
/// ADD-PATH path leaves the new path alone).
pub fn apply(rib: &mut Rib, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Announce { key, attributes } => {
                rib.insert(key.clone(), attributes.clone());
            }
            Change::Withdraw { key, attributes } => {
                if rib
                    .get(key)
                    .is_some_and(|a| a.path_id == attributes.path_id)
                {
                    rib.remove(key);
                }
            }
        }
    }
}
