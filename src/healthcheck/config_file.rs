//! ExaBGP's healthcheck configuration file: each line becomes command-line arguments.
//!
//! A line is stripped; blank lines and `#` comments are skipped; any other line gets `--`
//! prepended and is split at the first `=` into at most two stripped tokens. There is no quoting:
//! `name = web` gives `--name`, `web`, and `command = echo 'hi' # x` keeps its `#`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A configuration file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("failed to read configuration file {path}: {source}")]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The arguments of one line, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Line number in the file.
    pub number: usize,
    /// The one or two arguments it gives.
    pub args: Vec<OsString>,
}

/// Reads and splits a configuration file.
pub fn read(path: &Path) -> Result<Vec<Line>, ReadError> {
    let text = std::fs::read(path).map_err(|source| ReadError {
        path: path.to_owned(),
        source,
    })?;
    Ok(split(&String::from_utf8_lossy(&text)))
}

/// Splits configuration text into per-line arguments.
pub fn split(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let args = match line.split_once('=') {
                Some((key, value)) => vec![format!("--{}", key.trim()), value.trim().to_owned()],
                None => vec![format!("--{line}")],
            };
            Some(Line {
                number: i + 1,
                args: args.into_iter().map(OsString::from).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<Vec<String>> {
        split(text)
            .into_iter()
            .map(|l| {
                l.args
                    .into_iter()
                    .map(|a| a.into_string().unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn lines_become_arguments() {
        let text =
            "# comment\n\n  debug  \r\nname = web\nas-path = 1 = 2\ncommand = echo 'hi' # x\nip=\n";
        assert_eq!(
            args(text),
            vec![
                vec!["--debug"],
                vec!["--name", "web"],
                vec!["--as-path", "1 = 2"],
                vec!["--command", "echo 'hi' # x"],
                vec!["--ip", ""],
            ]
        );
    }

    #[test]
    fn line_numbers_count_skipped_lines() {
        let lines = split("#a\n\nrise = 2\n");
        assert_eq!(lines[0].number, 3);
    }

    #[test]
    fn key_without_equals_is_one_token() {
        assert_eq!(args("name haproxy"), vec![vec!["--name haproxy"]]);
    }
}
