//! Pure: the routes the relay passed on to ExaBGP, per target, prefix and path id, with every
//! attribute set each was announced with since its last withdraw; the withdraw lines the relay
//! writes on its own (after an agent's replay, when the lease runs out); and the snapshot its
//! journal is compacted to (`journal.rs`).

use std::collections::{BTreeMap, BTreeSet};

use super::parse::{Control, parse_command, parse_control};

/// A path as the relay tracks it: target, prefix and ADD-PATH path id.
type PathKey = (String, String, Option<String>);

/// The attribute sets kept per route (see [`Tracker`]). A route whose attributes keep changing
/// without a withdraw (a MED that follows a probe weight) would otherwise grow its list without
/// bound; ExaBGP only holds an announce queued until its next UPDATE pass to the peer, so only the
/// sets of one session outage matter.
const MAX_ATTRIBUTE_SETS: usize = 16;

/// Prefixes per withdraw line the relay writes (the driver's default too).
const MAX_PREFIXES_PER_LINE: usize = 500;

/// The routes the relay passed on, keyed by target, prefix and path id, with the attribute sets
/// each was announced with since it was last withdrawn (`next-hop self med 100`, oldest first).
///
/// ExaBGP 5.0.15 queues changes per attribute set, and a withdraw replaces a queued announce of
/// the same route only within the same set; the first UPDATE pass of a new session sends no
/// withdraws at all. So a route announced with one set and then another while the session is
/// down, and then withdrawn, would come back with the session in its older set
/// (docs/reliability.md, "What the suite found", 2). Every withdraw is therefore made in every
/// set the route was announced with since its last withdraw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tracker {
    routes: BTreeMap<PathKey, Vec<String>>,
    unconfirmed: BTreeSet<PathKey>,
}

/// What to do with a line from the agent.
#[derive(Debug, PartialEq, Eq)]
pub enum AgentLine {
    /// Pass it to ExaBGP, after `withdraws_before`: the routes it withdraws, in the other
    /// attribute sets they were announced with since their last withdraw.
    Forward {
        /// Withdraw lines the relay writes first (their answers are the relay's).
        withdraws_before: Vec<String>,
        /// What the line does to the routes the relay tracks.
        tracked: Tracked,
    },
    /// The agent finished its replay: withdraw what it did not re-announce.
    SyncDone,
    /// The agent is alive; nothing to pass on.
    Keepalive,
    /// A line of the relay protocol this relay does not know: dropped, never passed on.
    Drop,
}

/// What a line passed on to ExaBGP does to the routes the relay tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// It announces routes: journaled before ExaBGP may hold them.
    Announce,
    /// It withdraws routes: journaled once ExaBGP has it.
    Withdraw,
    /// Not a route command the relay understands.
    Untracked,
}

impl Tracker {
    /// Records a line the agent sent.
    pub fn on_agent_line(&mut self, line: &str) -> AgentLine {
        match parse_control(line) {
            Some(Control::SyncDone) => return AgentLine::SyncDone,
            Some(Control::Keepalive) => return AgentLine::Keepalive,
            Some(Control::Lease(_) | Control::Unknown) => return AgentLine::Drop,
            None => {}
        }
        let mut other_sets = Vec::new();
        let mut tracked = Tracked::Untracked;
        if let Some(cmd) = parse_command(line) {
            tracked = if cmd.announce {
                Tracked::Announce
            } else {
                Tracked::Withdraw
            };
            for prefix in &cmd.prefixes {
                // With ADD-PATH each path id is its own path.
                let key = (
                    cmd.target.to_owned(),
                    (*prefix).to_owned(),
                    cmd.path_id.map(str::to_owned),
                );
                self.unconfirmed.remove(&key);
                if cmd.announce {
                    let sets = self.routes.entry(key).or_default();
                    sets.retain(|set| *set != cmd.attributes);
                    sets.push(cmd.attributes.clone());
                    if sets.len() > MAX_ATTRIBUTE_SETS {
                        sets.remove(0);
                    }
                } else if let Some(sets) = self.routes.remove(&key) {
                    other_sets.extend(
                        sets.into_iter()
                            .filter(|set| *set != cmd.attributes)
                            .map(|set| (key.clone(), set)),
                    );
                }
            }
        }
        AgentLine::Forward {
            withdraws_before: withdraw_lines(other_sets),
            tracked,
        }
    }

    /// A new agent session: everything held must be re-announced before the sync marker.
    pub fn start_session(&mut self) {
        self.unconfirmed = self.routes.keys().cloned().collect();
    }

    /// The withdraw lines for routes the new session did not re-announce.
    pub fn take_unconfirmed(&mut self) -> Vec<String> {
        let stale = std::mem::take(&mut self.unconfirmed);
        let sets = stale
            .into_iter()
            .filter_map(|key| self.routes.remove(&key).map(|sets| (key, sets)));
        withdraw_lines(flatten(sets))
    }

    /// The withdraw lines for every route held (the lease ran out).
    pub fn take_all(&mut self) -> Vec<String> {
        self.unconfirmed.clear();
        withdraw_lines(flatten(std::mem::take(&mut self.routes)))
    }

    /// Announce lines that rebuild this tracker's routes, attribute sets and their order when
    /// fed to an empty one (the journal's compacted form): every route's oldest set first.
    pub fn snapshot(&self) -> Vec<String> {
        bulk_lines(
            "announce",
            self.routes.iter().flat_map(|(key, sets)| {
                sets.iter()
                    .enumerate()
                    .map(move |(rank, set)| (rank, key.clone(), set.clone()))
            }),
        )
    }

    /// How many routes are held.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when no route is held.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

fn flatten(
    routes: impl IntoIterator<Item = (PathKey, Vec<String>)>,
) -> impl Iterator<Item = (PathKey, String)> {
    routes
        .into_iter()
        .flat_map(|(key, sets)| sets.into_iter().map(move |set| (key.clone(), set)))
}

/// Withdraw lines in ExaBGP's bulk form, one per target, attribute set and address family (at
/// most [`MAX_PREFIXES_PER_LINE`] prefixes each), in a fixed order.
fn withdraw_lines(paths: impl IntoIterator<Item = (PathKey, String)>) -> Vec<String> {
    bulk_lines(
        "withdraw",
        paths.into_iter().map(|(key, set)| (0, key, set)),
    )
}

/// Lines in ExaBGP's bulk form, one per rank, target, attribute set and address family (at most
/// [`MAX_PREFIXES_PER_LINE`] prefixes each), lower ranks first, in a fixed order.
fn bulk_lines(
    action: &str,
    paths: impl IntoIterator<Item = (usize, PathKey, String)>,
) -> Vec<String> {
    let mut groups: BTreeMap<(usize, String, String, bool), Vec<String>> = BTreeMap::new();
    for (rank, (target, prefix, _), attributes) in paths {
        let ipv6 = prefix.contains(':');
        groups
            .entry((rank, target, attributes, ipv6))
            .or_default()
            .push(prefix);
    }
    let mut lines = Vec::new();
    for ((_, target, attributes, _), prefixes) in groups {
        for chunk in prefixes.chunks(MAX_PREFIXES_PER_LINE) {
            lines.push(format!(
                "{target} {action} attributes {attributes} nlri {}\n",
                chunk.join(" ")
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(tracked: Tracked, withdraws_before: &[&str]) -> AgentLine {
        AgentLine::Forward {
            withdraws_before: withdraws_before.iter().map(|l| format!("{l}\n")).collect(),
            tracked,
        }
    }

    #[test]
    fn tracker_follows_announces_and_withdraws() {
        let mut t = Tracker::default();
        t.on_agent_line(
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32",
        );
        t.on_agent_line("neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.2/32");
        assert_eq!(t.len(), 1);
        t.start_session();
        t.on_agent_line("neighbor * announce attributes next-hop self med 150 nlri 192.0.2.3/32");
        assert_eq!(
            t.on_agent_line("kube-anycast sync-done"),
            AgentLine::SyncDone
        );
        assert_eq!(
            t.take_unconfirmed(),
            ["neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32\n"]
        );
        assert_eq!(
            t.take_all(),
            ["neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.3/32\n"]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn paths_with_other_ids_are_tracked_apart() {
        let mut t = Tracker::default();
        t.on_agent_line("neighbor * announce attributes next-hop self med 100 path-information 2 nlri 192.0.2.1/32");
        t.on_agent_line(
            "neighbor * withdraw attributes next-hop self med 100 path-information 1 nlri 192.0.2.1/32",
        );
        assert_eq!(
            t.take_all(),
            [
                "neighbor * withdraw attributes next-hop self med 100 path-information 2 nlri 192.0.2.1/32\n"
            ]
        );
    }

    #[test]
    fn a_reannounced_route_is_kept() {
        let mut t = Tracker::default();
        t.on_agent_line("neighbor * announce route 192.0.2.1/32 next-hop self med 100");
        t.start_session();
        t.on_agent_line("neighbor * announce route 192.0.2.1/32 next-hop self med 100");
        assert!(t.take_unconfirmed().is_empty());
        assert_eq!(t.len(), 1);
    }

    /// Regression (docs/reliability.md, finding 2): ExaBGP may still hold a route's announce in
    /// every attribute set it had since its last withdraw (while the session is down, all of
    /// them), and only a withdraw in the same set replaces it.
    #[test]
    fn a_withdraw_is_made_in_every_set_announced_since_the_last_one() {
        let mut t = Tracker::default();
        let up =
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32";
        assert_eq!(t.on_agent_line(up), forward(Tracked::Announce, &[]));
        // A drain: the same routes with GRACEFUL_SHUTDOWN, then a withdraw in that set.
        t.on_agent_line("neighbor * announce attributes next-hop self med 100 community [ 65535:0 ] nlri 192.0.2.1/32 192.0.2.2/32");
        assert_eq!(
            t.on_agent_line("neighbor * withdraw attributes next-hop self med 100 community [ 65535:0 ] nlri 192.0.2.1/32"),
            forward(
                Tracked::Withdraw,
                &["neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32"]
            )
        );
        // A withdraw in a set it was never announced with (an older agent's, without
        // attributes) is made in all of them.
        assert_eq!(
            t.on_agent_line("neighbor * withdraw attributes next-hop self nlri 192.0.2.2/32"),
            forward(
                Tracked::Withdraw,
                &[
                    "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.2/32",
                    "neighbor * withdraw attributes next-hop self med 100 community [ 65535:0 ] nlri 192.0.2.2/32",
                ]
            )
        );
        assert!(t.is_empty());
        // Once withdrawn, the old sets are forgotten: a new announce starts over.
        t.on_agent_line("neighbor * announce attributes next-hop self med 150 nlri 192.0.2.1/32");
        assert_eq!(
            t.on_agent_line(
                "neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.1/32"
            ),
            forward(Tracked::Withdraw, &[])
        );
        assert_eq!(
            t.on_agent_line("show neighbor summary"),
            forward(Tracked::Untracked, &[])
        );
    }

    #[test]
    fn the_relays_own_withdraws_cover_every_set_grouped_per_family() {
        let mut t = Tracker::default();
        t.on_agent_line(
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32",
        );
        t.on_agent_line("neighbor * announce attributes next-hop self med 150 nlri 192.0.2.2/32");
        t.on_agent_line(
            "neighbor * announce attributes next-hop self med 100 nlri 2001:db8::1/128",
        );
        t.on_agent_line("neighbor 10.0.0.1 announce route 192.0.2.9/32 next-hop 10.0.0.254 med 5");
        // Announced again in its first set: that set is current again, and kept once.
        t.on_agent_line("neighbor * announce attributes next-hop self med 100 nlri 192.0.2.2/32");
        assert_eq!(t.len(), 4);
        assert_eq!(
            t.take_all(),
            [
                "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32\n",
                "neighbor * withdraw attributes next-hop self med 100 nlri 2001:db8::1/128\n",
                "neighbor * withdraw attributes next-hop self med 150 nlri 192.0.2.2/32\n",
                "neighbor 10.0.0.1 withdraw attributes next-hop 10.0.0.254 med 5 nlri 192.0.2.9/32\n",
            ]
        );
    }

    #[test]
    fn sets_and_lines_are_bounded() {
        let mut t = Tracker::default();
        for med in 0..40 {
            t.on_agent_line(&format!(
                "neighbor * announce attributes next-hop self med {med} nlri 192.0.2.1/32"
            ));
        }
        let lines = t.take_all();
        assert_eq!(lines.len(), MAX_ATTRIBUTE_SETS);
        assert!(lines.iter().any(|l| l.contains(" med 39 ")), "{lines:?}");
        let many: Vec<String> = (0..1200)
            .map(|i| format!("100.64.{}.{}/32", i / 256, i % 256))
            .collect();
        t.on_agent_line(&format!(
            "neighbor * announce attributes next-hop self nlri {}",
            many.join(" ")
        ));
        let per_line: Vec<usize> = t
            .take_all()
            .iter()
            .map(|l| l.split(" nlri ").nth(1).map_or(0, |p| p.split(' ').count()))
            .collect();
        assert_eq!(per_line, [500, 500, 200]);
    }

    fn rebuilt(t: &Tracker) -> Tracker {
        let mut again = Tracker::default();
        for line in t.snapshot() {
            again.on_agent_line(&line);
        }
        again
    }

    #[test]
    fn a_snapshot_rebuilds_the_routes_their_sets_and_their_order() {
        let mut t = Tracker::default();
        t.on_agent_line("neighbor * announce attributes next-hop self med 150 nlri 192.0.2.1/32");
        t.on_agent_line(
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 2001:db8::1/128",
        );
        t.on_agent_line("neighbor 10.0.0.1 announce attributes next-hop self med 100 path-information 2 nlri 192.0.2.1/32");
        assert_eq!(
            t.snapshot(),
            [
                "neighbor * announce attributes next-hop self med 100 nlri 2001:db8::1/128\n",
                "neighbor * announce attributes next-hop self med 150 nlri 192.0.2.1/32\n",
                "neighbor 10.0.0.1 announce attributes next-hop self med 100 path-information 2 nlri 192.0.2.1/32\n",
                "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32\n",
            ]
        );
        assert_eq!(rebuilt(&t), t);
        assert!(Tracker::default().snapshot().is_empty());
    }

    fn command() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (
            any::<bool>(),
            prop::sample::select(vec!["neighbor *", "neighbor 10.0.0.1"]),
            0u32..20,
            prop::option::of(1u32..3),
            prop::collection::vec(
                prop::sample::select(vec![
                    "192.0.2.1/32",
                    "192.0.2.2/32",
                    "198.51.100.0/24",
                    "2001:db8::1/128",
                ]),
                1..4,
            ),
        )
            .prop_map(|(announce, target, med, path, prefixes)| {
                let action = if announce { "announce" } else { "withdraw" };
                let path = path.map_or(String::new(), |id| format!(" path-information {id}"));
                format!(
                    "{target} {action} attributes next-hop self med {med}{path} nlri {}",
                    prefixes.join(" ")
                )
            })
    }

    proptest::proptest! {
        /// Whatever the history, replaying the snapshot gives the same routes, sets and order
        /// (the order decides which set goes first when a route has too many).
        #[test]
        fn the_snapshot_rebuilds_any_history(lines in proptest::collection::vec(command(), 0..60)) {
            let mut t = Tracker::default();
            for line in &lines {
                t.on_agent_line(line);
            }
            proptest::prop_assert_eq!(rebuilt(&t), t);
        }
    }
}
