//! Pure: what ExaBGP may still hold from this agent, kept by the driver across relay sessions.
//!
//! A relay that ExaBGP starts again (the old one was killed) knows nothing of the routes ExaBGP
//! holds, and a driver session starts from nothing announced and replays only what is desired
//! now. So a route withdrawn while no relay was there, or whose withdraw was lost with the old
//! relay, would be withdrawn by nobody (docs/reliability.md, finding 6). The driver therefore
//! remembers every route it may have left in ExaBGP, in every attribute set (ExaBGP queues
//! changes per set while a peer is down), and withdraws those it no longer wants when the next
//! session plans its replay.

use std::collections::BTreeMap;

use super::batch::{Batch, Effect, Groups, commands};
use super::encode::{Action, Attributes};
use crate::model::{Rib, RouteKey};

/// Attribute sets kept per route: a route whose attributes keep changing without an answer
/// (a relay that never answers) must not grow its list without bound.
const MAX_ATTRIBUTE_SETS: usize = 16;

/// Routes ExaBGP may hold, each with the attribute sets it may hold them in.
///
/// An announce counts from the moment it is written (its answer may be lost with the
/// connection); a withdraw only once ExaBGP answered `done` to it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Held {
    routes: BTreeMap<RouteKey, Vec<Attributes>>,
}

impl Held {
    /// A line was written to the relay.
    pub fn on_written(&mut self, effect: &Effect) {
        if let Effect::Announce(keys, attrs) = effect {
            for key in keys {
                let sets = self.routes.entry(key.clone()).or_default();
                if !sets.contains(attrs) {
                    sets.push(attrs.clone());
                    if sets.len() > MAX_ATTRIBUTE_SETS {
                        sets.remove(0);
                    }
                }
            }
        }
    }

    /// ExaBGP answered `done` to a line: an announce replaced whatever the route had, a
    /// withdraw removed the route in its set.
    pub fn on_done(&mut self, effect: &Effect) {
        match effect {
            Effect::Announce(keys, attrs) => {
                for key in keys {
                    self.routes.insert(key.clone(), vec![attrs.clone()]);
                }
            }
            Effect::Withdraw(keys, attrs) | Effect::WithdrawReplacedPath(keys, attrs) => {
                for key in keys {
                    if let Some(sets) = self.routes.get_mut(key) {
                        sets.retain(|set| set != attrs);
                        if sets.is_empty() {
                            self.routes.remove(key);
                        }
                    }
                }
            }
            Effect::None => {}
        }
    }

    /// How many routes may be held.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when nothing may be held.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The withdraws of what may be held but is not desired, in every set it may be held in,
    /// except the sets `commands` already withdraws (those `announced` has).
    pub fn stale_withdraws(
        &self,
        announced: &Rib,
        desired: &Rib,
        max_prefixes: usize,
    ) -> Vec<Batch> {
        let mut stale = Groups::default();
        for (key, sets) in &self.routes {
            if desired.contains_key(key) {
                continue;
            }
            for attrs in sets {
                if announced.get(key) != Some(attrs) {
                    stale.add(key, attrs);
                }
            }
        }
        let mut out = Vec::new();
        stale.into_batches(Action::Withdraw, max_prefixes, Effect::Withdraw, &mut out);
        out
    }

    /// True when some route may be held that the session has not acknowledged: only then can
    /// [`Held::stale_withdraws`] find anything (the held keys include the announced ones).
    pub fn may_have_stale(&self, announced: &Rib) -> bool {
        self.routes.len() > announced.len()
    }
}

/// The lines a session plans to take ExaBGP from what it may hold to `desired`: the withdraws of
/// what earlier sessions may have left, then [`commands`] from what this session acknowledged.
pub fn plan(held: &Held, announced: &Rib, desired: &Rib, max_prefixes: usize) -> Vec<Batch> {
    let mut out = if held.may_have_stale(announced) {
        held.stale_withdraws(announced, desired, max_prefixes)
    } else {
        Vec::new()
    };
    out.extend(commands(announced, desired, max_prefixes));
    out
}

#[cfg(test)]
#[path = "held_tests.rs"]
mod tests;
