//! The healthcheck's log: `LEVEL[healthcheck] message` on stderr (or JSON), and syslog datagrams
//! to `/dev/log` in ExaBGP's format (`<PRI>healthcheck[-NAME][PID]: message`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;

use super::options::{LogFormat, Options};

/// Log severity, ordered from most to least verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Debug details (only with `--debug`).
    Debug,
    /// Normal events.
    Info,
    /// Something failed, the loop carries on.
    Warning,
    /// The program stops.
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        }
    }

    fn syslog_severity(self) -> u8 {
        match self {
            Level::Debug => 7,
            Level::Info => 6,
            Level::Warning => 4,
            Level::Error => 3,
        }
    }
}

/// An unknown `--syslog-facility`.
#[derive(Debug, thiserror::Error)]
#[error("unknown syslog facility {0:?}")]
pub struct UnknownFacility(pub String);

/// Where log records go.
#[derive(Debug)]
pub struct Logger {
    min: Level,
    console: Option<LogFormat>,
    syslog: Option<Syslog>,
}

#[derive(Debug)]
struct Syslog {
    socket: UnixDatagram,
    facility: u8,
    tag: String,
}

impl Logger {
    /// Builds the logger the options ask for. `--debug` turns syslog off, as in ExaBGP; a missing
    /// `/dev/log` only loses the syslog copy.
    pub fn new(opts: &Options) -> Result<Self, UnknownFacility> {
        let syslog = if opts.no_syslog || opts.debug {
            None
        } else {
            let name = opts.syslog_facility.as_deref().unwrap_or("daemon");
            let facility = facility_code(name).ok_or_else(|| UnknownFacility(name.to_owned()))?;
            let tag = match &opts.name {
                Some(n) => format!("healthcheck-{n}"),
                None => "healthcheck".to_owned(),
            };
            UnixDatagram::unbound()
                .and_then(|s| s.connect("/dev/log").map(|()| s))
                .ok()
                .map(|socket| Syslog {
                    socket,
                    facility,
                    tag,
                })
        };
        Ok(Logger {
            min: if opts.debug {
                Level::Debug
            } else {
                Level::Info
            },
            console: (!opts.silent).then_some(opts.log_format),
            syslog,
        })
    }

    /// A logger that writes nothing (for tests).
    pub fn silent() -> Self {
        Logger {
            min: Level::Error,
            console: None,
            syslog: None,
        }
    }

    /// True when records of this level are written.
    pub fn enabled(&self, level: Level) -> bool {
        level >= self.min && (self.console.is_some() || self.syslog.is_some())
    }

    /// Writes one record.
    pub fn log(&self, level: Level, message: &str) {
        if !self.enabled(level) {
            return;
        }
        // One write per record: stderr is unbuffered, and a record split over several writes
        // costs syscalls and can interleave with other writers.
        let record = match self.console {
            Some(LogFormat::Text) => Some(format!("{}[healthcheck] {message}\n", level.name())),
            Some(LogFormat::Json) => Some(format!(
                "{}\n",
                serde_json::json!({
                    "level": level.name(),
                    "logger": "healthcheck",
                    "message": message,
                    "time": unix_time(),
                })
            )),
            None => None,
        };
        if let Some(record) = record {
            let _ = std::io::stderr().write_all(record.as_bytes());
        }
        if let Some(s) = &self.syslog {
            let pri = u16::from(s.facility) * 8 + u16::from(level.syslog_severity());
            let datagram = format!("<{pri}>{}[{}]: {message}\0", s.tag, std::process::id());
            let _ = s.socket.send(datagram.as_bytes());
        }
    }

    /// Shorthand for [`Level::Debug`].
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(Level::Debug, message.as_ref());
    }
    /// Shorthand for [`Level::Info`].
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(Level::Info, message.as_ref());
    }
    /// Shorthand for [`Level::Warning`].
    pub fn warning(&self, message: impl AsRef<str>) {
        self.log(Level::Warning, message.as_ref());
    }
    /// Shorthand for [`Level::Error`].
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(Level::Error, message.as_ref());
    }
}

fn unix_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Python's syslog facility table (names case-insensitive; severity names are accepted too, as
/// Python's `SysLogHandler` does).
fn facility_code(name: &str) -> Option<u8> {
    const NAMES: &[(&str, u8)] = &[
        ("kern", 0),
        ("user", 1),
        ("mail", 2),
        ("daemon", 3),
        ("auth", 4),
        ("syslog", 5),
        ("lpr", 6),
        ("news", 7),
        ("uucp", 8),
        ("cron", 9),
        ("authpriv", 10),
        ("ftp", 11),
        ("ntp", 12),
        ("security", 13),
        ("console", 14),
        ("solcron", 15),
        ("local0", 16),
        ("local1", 17),
        ("local2", 18),
        ("local3", 19),
        ("local4", 20),
        ("local5", 21),
        ("local6", 22),
        ("local7", 23),
        ("emerg", 0),
        ("alert", 1),
        ("crit", 2),
        ("err", 3),
        ("warning", 4),
        ("notice", 5),
        ("info", 6),
        ("debug", 7),
    ];
    let lower = name.to_ascii_lowercase();
    NAMES
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, code)| *code)
}

/// Python's `repr()` of a `str`, for log lines that quote commands as ExaBGP does.
pub fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr()` of `bytes` (`b'…'`).
pub fn py_repr_bytes(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::from("b");
    out.push(char::from(quote));
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(char::from(c));
            }
            0x20..=0x7e => out.push(char::from(c)),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push(char::from(quote));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_like_python() {
        assert_eq!(py_repr_str("echo 'hi'"), "\"echo 'hi'\"");
        assert_eq!(py_repr_str("true"), "'true'");
        assert_eq!(
            py_repr_bytes(b"some output\nerr\n"),
            "b'some output\\nerr\\n'"
        );
        assert_eq!(py_repr_bytes(b"\xff'"), "b\"\\xff'\"");
    }

    #[test]
    fn facilities() {
        assert_eq!(facility_code("DAEMON"), Some(3));
        assert_eq!(facility_code("local7"), Some(23));
        assert_eq!(facility_code("nope"), None);
    }
}
