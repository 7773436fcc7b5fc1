//! Pure: the API lines that take ExaBGP from the announced RIB to the desired one, with routes
//! that share attributes grouped into ExaBGP's bulk `attributes … nlri …` form.

use std::collections::BTreeMap;

use ipnet::IpNet;

#[cfg(test)]
use super::encode::NextHop;
use super::encode::{Action, Attributes, BulkCommand, Target};
use crate::model::{Rib, RouteKey};
use crate::sorted::Cursor;

/// A marker only the relay reads: the agent has sent its whole desired RIB for this session, so
/// anything the relay still holds from an earlier session and was not re-announced is stale.
pub const SYNC_DONE: &str = "kube-anycast sync-done\n";

/// A marker only the relay reads, never forwarded and never answered: the agent is alive. The
/// driver sends it at a third of the relay's lease; a connection silent for a whole lease counts
/// as closed (see `relay.rs`).
pub const KEEPALIVE: &str = "kube-anycast keepalive\n";

/// The line the relay sends the agent on connect: its lease, in milliseconds, so the agent's
/// heartbeat always matches the relay it talks to.
pub fn lease_line(lease: std::time::Duration) -> String {
    let millis = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    format!("kube-anycast lease-ms {millis}\n")
}

/// What a line changes once ExaBGP answers `done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// These routes are now announced with these attributes.
    Announce(Vec<RouteKey>, Attributes),
    /// These routes, announced with these attributes, are now withdrawn.
    Withdraw(Vec<RouteKey>, Attributes),
    /// An ADD-PATH path (these attributes) that was replaced by one with another path id: only
    /// that path is withdrawn, the route itself stays (with the new path id).
    WithdrawReplacedPath(Vec<RouteKey>, Attributes),
    /// Nothing (the sync marker).
    None,
}

/// One API line and its effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The line, newline included.
    pub line: String,
    /// What it changes.
    pub effect: Effect,
}

impl Effect {
    /// Applies the effect to the announced RIB.
    pub fn apply(&self, rib: &mut Rib) {
        match self {
            Effect::Announce(keys, attrs) => {
                for k in keys {
                    rib.insert(k.clone(), attrs.clone());
                }
            }
            Effect::Withdraw(keys, _) => {
                for k in keys {
                    rib.remove(k);
                }
            }
            Effect::WithdrawReplacedPath(..) | Effect::None => {}
        }
    }
}

/// Routes to write in one kind of line, grouped by target, attribute set and address family
/// (ExaBGP's bulk form takes one of each per line).
#[derive(Default)]
pub(super) struct Groups(BTreeMap<(Target, Attributes, bool), Vec<IpNet>>);

impl Groups {
    pub(super) fn add(&mut self, key: &RouteKey, attrs: &Attributes) {
        self.0
            .entry((
                key.target.clone(),
                attrs.clone(),
                key.prefix.addr().is_ipv4(),
            ))
            .or_default()
            .push(key.prefix);
    }

    /// The lines, at most `max` prefixes each, in a fixed order.
    pub(super) fn into_batches(
        self,
        action: Action,
        max: usize,
        effect: fn(Vec<RouteKey>, Attributes) -> Effect,
        out: &mut Vec<Batch>,
    ) {
        for ((target, attributes, _), prefixes) in self.0 {
            for chunk in prefixes.chunks(max.max(1)) {
                let line = BulkCommand {
                    target: &target,
                    action,
                    attributes: &attributes,
                    prefixes: chunk,
                }
                .to_line();
                let keys = chunk
                    .iter()
                    .map(|p| RouteKey {
                        target: target.clone(),
                        prefix: *p,
                    })
                    .collect();
                out.push(Batch {
                    line,
                    effect: effect(keys, attributes.clone()),
                });
            }
        }
    }
}

/// The lines that turn `announced` into `desired`: withdraws first, then (re-)announces of new or
/// changed routes; at most `max_prefixes` prefixes per line. Deterministic.
pub fn commands(announced: &Rib, desired: &Rib, max_prefixes: usize) -> Vec<Batch> {
    // This runs on every change, over every route: both maps are walked in key order side by
    // side (crate::sorted), one key comparison per step instead of a tree search per route.
    let (mut wanted, mut held) = (Cursor::new(desired), Cursor::new(announced));
    diff(
        announced,
        desired,
        max_prefixes,
        |key| wanted.seek(key).is_some(),
        |key| held.seek(key),
    )
}

/// [`commands`] with its two lookups given, each asked in ascending key order: whether a route
/// of `announced` is desired, and what a route of `desired` was announced with.
fn diff<'a>(
    announced: &'a Rib,
    desired: &Rib,
    max_prefixes: usize,
    mut is_desired: impl FnMut(&RouteKey) -> bool,
    mut announced_with: impl FnMut(&RouteKey) -> Option<&'a Attributes>,
) -> Vec<Batch> {
    // A withdraw carries the attributes the route was announced with: ExaBGP queues changes per
    // attribute set, and only a withdraw in the same set replaces a queued announce (encode.rs).
    let mut withdraws = Groups::default();
    for (key, attrs) in announced {
        if !is_desired(key) {
            withdraws.add(key, attrs);
        }
    }
    let mut to_announce = Groups::default();
    // With ADD-PATH a new path id is another path: the old one is withdrawn after the new one is
    // announced, so the prefix is never without a path.
    let mut replaced = Groups::default();
    for (key, attrs) in desired {
        let old = announced_with(key);
        if old != Some(attrs) {
            to_announce.add(key, attrs);
        }
        if let Some(old) = old.filter(|old| old.path_id != attrs.path_id) {
            replaced.add(key, old);
        }
    }
    let mut out = Vec::new();
    withdraws.into_batches(Action::Withdraw, max_prefixes, Effect::Withdraw, &mut out);
    to_announce.into_batches(Action::Announce, max_prefixes, Effect::Announce, &mut out);
    replaced.into_batches(
        Action::Withdraw,
        max_prefixes,
        Effect::WithdrawReplacedPath,
        &mut out,
    );
    out
}

/// The sync marker as a batch.
pub fn sync_done() -> Batch {
    Batch {
        line: SYNC_DONE.to_owned(),
        effect: Effect::None,
    }
}

/// Test helper: a `next-hop self` route with a MED.
#[cfg(test)]
pub(crate) fn mk_route(prefix: &str, med: i64) -> (RouteKey, Attributes) {
    let prefix = prefix.parse().unwrap();
    (
        RouteKey {
            target: Target::All,
            prefix,
        },
        Attributes {
            next_hop: NextHop::SelfAddress,
            med: Some(med),
            ..Attributes::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rib(routes: &[(&str, i64)]) -> Rib {
        routes.iter().map(|(p, m)| mk_route(p, *m)).collect()
    }

    #[test]
    fn groups_by_attributes_and_family_withdraws_first() {
        let old = rib(&[("192.0.2.9/32", 100)]);
        let new = rib(&[
            ("192.0.2.1/32", 100),
            ("192.0.2.2/32", 100),
            ("192.0.2.3/32", 150),
            ("2001:db8::1/128", 100),
        ]);
        let lines: Vec<String> = commands(&old, &new, 100)
            .into_iter()
            .map(|b| b.line)
            .collect();
        assert_eq!(
            lines,
            [
                "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.9/32\n",
                "neighbor * announce attributes next-hop self med 100 nlri 2001:db8::1/128\n",
                "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32\n",
                "neighbor * announce attributes next-hop self med 150 nlri 192.0.2.3/32\n",
            ]
        );
    }

    /// Regression (docs/reliability.md, finding 2): ExaBGP replaces a queued announce only with
    /// a withdraw in the same attribute set.
    #[test]
    fn a_withdraw_carries_the_attributes_it_was_announced_with() {
        let (key, mut attrs) = mk_route("192.0.2.5/32", 100);
        attrs.communities = "65535:0".parse().unwrap();
        let announced: Rib = [(key, attrs)].into();
        let lines: Vec<String> = commands(&Rib::new(), &announced, 10)
            .into_iter()
            .chain(commands(&announced, &Rib::new(), 10))
            .map(|b| b.line)
            .collect();
        assert_eq!(
            lines,
            [
                "neighbor * announce attributes next-hop self med 100 community [ 65535:0 ] nlri 192.0.2.5/32\n",
                "neighbor * withdraw attributes next-hop self med 100 community [ 65535:0 ] nlri 192.0.2.5/32\n",
            ]
        );
    }

    #[test]
    fn nothing_to_do_when_equal_and_chunks_are_bounded() {
        let r = rib(&[("192.0.2.1/32", 100)]);
        assert!(commands(&r, &r, 10).is_empty());
        let many: Rib = (0..25u8)
            .map(|i| mk_route(&format!("192.0.2.{i}/32"), 100))
            .collect();
        assert_eq!(commands(&Rib::new(), &many, 10).len(), 3);
    }

    fn arb_rib() -> impl Strategy<Value = Rib> {
        let attrs = (0i64..4, proptest::option::of(1i64..3));
        proptest::collection::btree_map(0u8..40, attrs, 0..30).prop_map(|m| {
            m.into_iter()
                .map(|(i, (med, path_id))| {
                    let (key, attrs) = mk_route(&format!("198.51.100.{i}/32"), med * 50);
                    (key, Attributes { path_id, ..attrs })
                })
                .collect()
        })
    }

    #[test]
    fn a_new_path_id_is_announced_before_the_old_path_is_withdrawn() {
        let (key, mut old) = mk_route("192.0.2.1/32", 100);
        old.path_id = Some(1);
        let new = Attributes {
            path_id: Some(2),
            ..old.clone()
        };
        let announced: Rib = [(key.clone(), old)].into();
        let desired: Rib = [(key, new)].into();
        let batches = commands(&announced, &desired, 10);
        let lines: Vec<&str> = batches.iter().map(|b| b.line.as_str()).collect();
        assert_eq!(
            lines,
            [
                "neighbor * announce attributes next-hop self med 100 path-information 2 nlri 192.0.2.1/32\n",
                "neighbor * withdraw attributes next-hop self med 100 path-information 1 nlri 192.0.2.1/32\n",
            ]
        );
        let mut rib = announced.clone();
        for b in &batches {
            b.effect.apply(&mut rib);
        }
        assert_eq!(rib, desired);
    }

    proptest! {
        #[test]
        fn applying_every_effect_reaches_the_desired_rib(old in arb_rib(), new in arb_rib(), max in 1usize..8) {
            let mut announced = old.clone();
            for b in commands(&old, &new, max) {
                prop_assert!(b.line.ends_with('\n') && b.line.matches('\n').count() == 1);
                b.effect.apply(&mut announced);
            }
            prop_assert_eq!(announced, new);
        }

        #[test]
        fn the_merge_walk_gives_the_lines_of_a_lookup_per_route(old in arb_rib(), new in arb_rib(), max in 1usize..8) {
            prop_assert_eq!(commands(&old, &new, max), lookup_per_route(&old, &new, max));
        }
    }

    /// `commands` as first written: a tree search per route in each map.
    fn lookup_per_route(announced: &Rib, desired: &Rib, max_prefixes: usize) -> Vec<Batch> {
        diff(
            announced,
            desired,
            max_prefixes,
            |key| desired.contains_key(key),
            |key| announced.get(key),
        )
    }
}
