//! The relay's journal: the route lines it passed on to ExaBGP, in a file, so that the relay
//! ExaBGP starts after one was killed knows what ExaBGP still holds. Without it, a route of an
//! agent that died (or changed its mind) while the old relay held it stayed announced with
//! nobody left to withdraw it (docs/reliability.md, "What the suite found", 8).
//!
//! An announce is journaled before ExaBGP may read it and a withdraw only once ExaBGP has it, so
//! the journal never misses a route ExaBGP may hold. A journal left by an earlier ExaBGP only
//! costs withdraws of routes nobody holds. It is appended to line by line and compacted to the
//! tracker's snapshot when it grows to twice that (plus some slack), so its size stays bounded
//! by the routes held. It also records when the lease on those routes runs out (wall-clock
//! time, as the Instant of a dead process means nothing to its successor), so that a relay
//! started while an agent is away keeps its predecessor's deadline instead of starting a new
//! lease. Plain blocking writes: an append to the page cache takes microseconds,
//! less than a hand-over to a blocking thread; no fsync, a node crash takes ExaBGP with it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::tracker::Tracker;

/// Bytes the journal may grow beyond twice its last compacted size before it is compacted.
const SLACK_BYTES: u64 = 64 * 1024;

/// A journal line: the lease on the routes runs out at this many milliseconds after the Unix
/// epoch. Never a route command, so the tracker would ignore it anyway.
const LEASE_UNTIL: &str = "kube-anycast lease-until ";

/// A journal line: no lease runs (an agent is connected and has replayed).
const NO_LEASE: &str = "kube-anycast lease-none";

/// A journal that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading the journal left by an earlier relay failed.
    #[error("cannot read the relay journal {}: {source}", path.display())]
    Read {
        /// The journal file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Writing the journal failed.
    #[error("cannot write the relay journal {}: {source}", path.display())]
    Write {
        /// The journal file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The journal file, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The file's size now.
    bytes: u64,
    /// Its size after the last compaction.
    compacted: u64,
    /// The lease last recorded.
    lease: Option<SystemTime>,
}

/// What a journal holds: the routes, and when their lease runs out if one runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The routes the relays passed on.
    pub tracker: Tracker,
    /// When the lease on them runs out (`None`: no lease ran when the last relay stopped).
    pub lease_until: Option<SystemTime>,
}

impl Journal {
    /// Opens the journal at `path`: what it records (nothing when there is no file) and the
    /// journal, compacted to it.
    pub fn open(path: &Path) -> Result<(Journal, Recorded), JournalError> {
        let mut recorded = Recorded::default();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines() {
                    if let Some(ms) = line.strip_prefix(LEASE_UNTIL) {
                        recorded.lease_until = ms
                            .parse()
                            .ok()
                            .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
                    } else if line == NO_LEASE {
                        recorded.lease_until = None;
                    } else {
                        recorded.tracker.on_agent_line(line);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(JournalError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let journal = Journal::write_snapshot(path, &recorded.tracker, recorded.lease_until)?;
        Ok((journal, recorded))
    }

    /// Appends a line: one the relay passed on (an announce before ExaBGP may read it, a
    /// withdraw after), or a lease; compacts the journal to `tracker` (which already has the
    /// line's routes) when it is due.
    pub fn record(&mut self, line: &str, tracker: &Tracker) -> Result<(), JournalError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let mut entry = Vec::with_capacity(line.len() + 1);
        entry.extend_from_slice(line.as_bytes());
        entry.push(b'\n');
        self.file
            .write_all(&entry)
            .map_err(|source| self.write_error(source))?;
        self.bytes += entry.len() as u64;
        if self.bytes > 2 * self.compacted + SLACK_BYTES {
            self.compact(tracker)?;
        }
        Ok(())
    }

    /// Records when the lease on the routes runs out, or that none runs; nothing when unchanged.
    pub fn record_lease(
        &mut self,
        until: Option<SystemTime>,
        tracker: &Tracker,
    ) -> Result<(), JournalError> {
        if until == self.lease {
            return Ok(());
        }
        self.lease = until;
        self.record(&lease_line(until), tracker)
    }

    /// Rewrites the journal as `tracker`'s snapshot (after the relay withdrew routes of its own).
    pub fn compact(&mut self, tracker: &Tracker) -> Result<(), JournalError> {
        *self = Journal::write_snapshot(&self.path, tracker, self.lease)?;
        Ok(())
    }

    /// Writes `tracker`'s snapshot to a new file and renames it over `path`, so that a relay
    /// killed midway leaves the old journal whole.
    fn write_snapshot(
        path: &Path,
        tracker: &Tracker,
        lease: Option<SystemTime>,
    ) -> Result<Journal, JournalError> {
        let error = |source| JournalError::Write {
            path: path.to_owned(),
            source,
        };
        let next = with_suffix(path, ".next");
        let mut text = tracker.snapshot().concat();
        if lease.is_some() {
            text.push_str(&lease_line(lease));
            text.push('\n');
        }
        std::fs::write(&next, &text).map_err(error)?;
        std::fs::rename(&next, path).map_err(error)?;
        let file = OpenOptions::new().append(true).open(path).map_err(error)?;
        let bytes = text.len() as u64;
        Ok(Journal {
            path: path.to_owned(),
            file,
            bytes,
            compacted: bytes,
            lease,
        })
    }

    fn write_error(&self, source: std::io::Error) -> JournalError {
        JournalError::Write {
            path: self.path.clone(),
            source,
        }
    }
}

/// The line that records a lease (whole milliseconds since the Unix epoch), or none.
fn lease_line(until: Option<SystemTime>) -> String {
    match until.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok()) {
        Some(since_epoch) => format!("{LEASE_UNTIL}{}", since_epoch.as_millis()),
        None => NO_LEASE.to_owned(),
    }
}

/// The journal's default place: beside the agent's socket, in the directory both share.
pub fn default_path(socket: &Path) -> PathBuf {
    with_suffix(socket, ".journal")
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
#[path = "journal_model_tests.rs"]
mod model_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("kat-journal-{name}-{}", std::process::id()))
    }

    fn tracker_of(lines: &[&str]) -> Tracker {
        let mut t = Tracker::default();
        for line in lines {
            t.on_agent_line(line);
        }
        t
    }

    #[test]
    fn a_new_relay_finds_what_the_last_one_passed_on() {
        let path = temp_path("reopen");
        let _ = std::fs::remove_file(&path);
        let (mut journal, recorded) = Journal::open(&path).unwrap();
        assert_eq!(recorded, Recorded::default(), "no file: nothing held");
        let mut tracker = recorded.tracker;
        let lines = [
            "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32 192.0.2.2/32",
            "neighbor * announce attributes next-hop self med 150 nlri 192.0.2.2/32",
            "neighbor * withdraw attributes next-hop self med 100 nlri 192.0.2.1/32",
        ];
        for line in lines {
            tracker.on_agent_line(line);
            journal.record(line, &tracker).unwrap();
        }
        drop(journal);
        let (_journal, Recorded { tracker: again, .. }) = Journal::open(&path).unwrap();
        assert_eq!(again, tracker_of(&lines));
        assert_eq!(again.len(), 1);
        // Opening compacted it to the snapshot.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            again.snapshot().concat()
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_journal_stays_bounded_by_the_routes_held() {
        let path = temp_path("bounded");
        let _ = std::fs::remove_file(&path);
        let (mut journal, Recorded { mut tracker, .. }) = Journal::open(&path).unwrap();
        let mut largest = 0;
        for round in 0..5_000 {
            let line = format!(
                "neighbor * {} attributes next-hop self med 100 nlri 192.0.2.1/32",
                if round % 2 == 0 {
                    "announce"
                } else {
                    "withdraw"
                }
            );
            tracker.on_agent_line(&line);
            journal.record(&line, &tracker).unwrap();
            largest = largest.max(std::fs::metadata(&path).unwrap().len());
        }
        assert!(largest <= 2 * SLACK_BYTES, "grew to {largest} bytes");
        let (_journal, again) = Journal::open(&path).unwrap();
        assert!(again.tracker.is_empty(), "{again:?}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn an_unwritable_journal_is_an_error_naming_the_file() {
        let path = temp_path("missing-dir").join("journal");
        let err = Journal::open(&path).unwrap_err();
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    #[test]
    fn the_lease_survives_the_relay_and_compaction_and_ends_with_none() {
        let path = temp_path("lease");
        let _ = std::fs::remove_file(&path);
        let (mut journal, Recorded { mut tracker, .. }) = Journal::open(&path).unwrap();
        let line = "neighbor * announce attributes next-hop self med 100 nlri 192.0.2.1/32";
        tracker.on_agent_line(line);
        journal.record(line, &tracker).unwrap();
        let until = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_000_000_123);
        journal.record_lease(Some(until), &tracker).unwrap();
        drop(journal);
        // Read back (and compacted on open), then read back again.
        for _ in 0..2 {
            let (_journal, recorded) = Journal::open(&path).unwrap();
            assert_eq!(recorded.lease_until, Some(until));
            assert_eq!(recorded.tracker, tracker);
        }
        let (mut journal, _) = Journal::open(&path).unwrap();
        journal.record_lease(None, &tracker).unwrap();
        journal.compact(&tracker).unwrap();
        drop(journal);
        let (_journal, recorded) = Journal::open(&path).unwrap();
        assert_eq!(recorded.lease_until, None);
        assert_eq!(recorded.tracker, tracker);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_default_sits_beside_the_socket() {
        assert_eq!(
            default_path(Path::new("/run/kube-anycast/exabgp.sock")),
            Path::new("/run/kube-anycast/exabgp.sock.journal")
        );
    }
}
