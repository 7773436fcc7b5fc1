//! A model of relays that die at any point, with the journal's ordering (as `relay.rs` follows
//! it): an announce is journaled before ExaBGP may read it, a withdraw once ExaBGP has it, and
//! the journal is compacted to the tracker at any moment. Whatever agents sent and whenever the
//! relays died, a relay started from the journal leaves a model ExaBGP with exactly what the
//! next agent announces once that agent's replay is complete, and with nothing once the lease
//! runs out without an agent. The journal itself is the file's line sequence, in memory.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::super::tracker::{AgentLine, Tracked, Tracker};

/// ExaBGP's RIB as the peer sees it: a prefix and the MED it was last announced with. A
/// withdraw removes the prefix whatever attributes it names (so it does for sent routes).
#[derive(Debug, Default)]
struct Exabgp {
    rib: BTreeMap<String, String>,
}

impl Exabgp {
    fn apply(&mut self, line: &str) {
        let Some(cmd) = super::super::parse::parse_command(line) else {
            return;
        };
        for prefix in cmd.prefixes {
            if cmd.announce {
                self.rib.insert(prefix.to_owned(), cmd.attributes.clone());
            } else {
                self.rib.remove(prefix);
            }
        }
    }
}

/// A relay process: its tracker, over the journal that outlives it.
struct Relay {
    tracker: Tracker,
}

impl Relay {
    /// A relay started as `Journal::open` starts one: the journal replayed, then compacted.
    fn start(journal: &mut Vec<String>) -> Relay {
        let mut tracker = Tracker::default();
        for line in journal.iter() {
            tracker.on_agent_line(line);
        }
        *journal = tracker.snapshot();
        Relay { tracker }
    }

    /// Passes an agent's line on; `die_at` 0 is before anything, 1 after an announce's journal
    /// line, 2 after ExaBGP has the lines (before a withdraw's journal line), 3 never. Returns
    /// false when the relay died.
    fn forward(
        &mut self,
        line: &str,
        die_at: u8,
        compact: bool,
        journal: &mut Vec<String>,
        exabgp: &mut Exabgp,
    ) -> bool {
        if die_at == 0 {
            return false;
        }
        let AgentLine::Forward {
            withdraws_before,
            tracked,
        } = self.tracker.on_agent_line(line)
        else {
            return true;
        };
        if tracked == Tracked::Announce {
            journal.push(line.to_owned());
            if compact {
                *journal = self.tracker.snapshot();
            }
        }
        if die_at == 1 {
            return false;
        }
        for l in withdraws_before.iter().map(String::as_str).chain([line]) {
            exabgp.apply(l);
        }
        if die_at == 2 {
            return false;
        }
        if tracked == Tracked::Withdraw {
            journal.push(line.to_owned());
            if compact {
                *journal = self.tracker.snapshot();
            }
        }
        true
    }
}

fn line(announce: bool, prefix: u8, med: u8) -> String {
    let action = if announce { "announce" } else { "withdraw" };
    format!("neighbor * {action} attributes next-hop self med {med} nlri 192.0.2.{prefix}/32")
}

/// One agent line and whether (and where) the relay dies while passing it on.
fn step() -> impl Strategy<Value = (bool, u8, u8, u8, bool)> {
    (
        any::<bool>(),
        0u8..6,
        prop::sample::select(vec![100u8, 150]),
        prop::sample::select(vec![0u8, 1, 2, 3, 3, 3, 3, 3]),
        any::<bool>(),
    )
}

proptest! {
    #[test]
    fn a_relay_started_from_the_journal_leaves_exabgp_with_what_the_next_agent_announces(
        history in prop::collection::vec(step(), 0..40),
        next_agent in prop::collection::btree_map(0u8..6, prop::sample::select(vec![100u8, 150]), 0..6),
        agent_comes in any::<bool>(),
    ) {
        let mut journal = Vec::new();
        let mut exabgp = Exabgp::default();
        let mut relay = Relay::start(&mut journal);
        for (announce, prefix, med, die_at, compact) in history {
            let l = line(announce, prefix, med);
            if !relay.forward(&l, die_at, compact, &mut journal, &mut exabgp) {
                relay = Relay::start(&mut journal);
            }
        }
        if agent_comes {
            // A new agent, which knows nothing of its predecessors: its replay, then its marker.
            relay.tracker.start_session();
            for (prefix, med) in &next_agent {
                let l = line(true, *prefix, *med);
                prop_assert!(relay.forward(&l, 3, false, &mut journal, &mut exabgp));
            }
            for l in relay.tracker.take_unconfirmed() {
                exabgp.apply(&l);
            }
            let want: BTreeMap<String, String> = next_agent
                .iter()
                .map(|(p, m)| (format!("192.0.2.{p}/32"), format!("next-hop self med {m}")))
                .collect();
            prop_assert_eq!(&exabgp.rib, &want);
        } else {
            for l in relay.tracker.take_all() {
                exabgp.apply(&l);
            }
            prop_assert!(exabgp.rib.is_empty(), "{:?}", exabgp.rib);
        }
    }
}

/// The model's own check: without the journal (a relay that starts from nothing), the property
/// fails for the chaos suite's case, so the test above can catch a journal that loses routes.
#[test]
fn without_the_journal_a_dead_agents_route_outlives_the_relay() {
    let mut exabgp = Exabgp::default();
    let mut journal = Vec::new();
    let mut relay = Relay::start(&mut journal);
    assert!(relay.forward(&line(true, 6, 100), 3, false, &mut journal, &mut exabgp));
    // The relay dies and its successor starts without the journal; the next agent wants nothing.
    let mut forgetful = Relay::start(&mut Vec::new());
    forgetful.tracker.start_session();
    assert!(forgetful.tracker.take_unconfirmed().is_empty());
    assert!(exabgp.rib.contains_key("192.0.2.6/32"));
    // With it, the route goes.
    relay = Relay::start(&mut journal);
    relay.tracker.start_session();
    for l in relay.tracker.take_unconfirmed() {
        exabgp.apply(&l);
    }
    assert!(exabgp.rib.is_empty());
}
