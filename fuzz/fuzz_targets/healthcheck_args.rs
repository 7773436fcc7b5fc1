//! The healthcheck's options: arbitrary argv, and arbitrary config-file text, through
//! `healthcheck::args::parse`. It must never panic, and a refusal is one line with exit code 2
//! (or 1 for an unreadable file), as the drop-in promises.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt as _;
use std::path::PathBuf;

use clap::Parser as _;
use kube_anycast::healthcheck::args::{ArgsError, parse};
use kube_anycast::healthcheck::config_file::split;
use kube_anycast::healthcheck::options::{Options, normalize_argv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        // argv: NUL-separated words, any bytes (not only UTF-8).
        let argv: Vec<OsString> = rest
            .split(|b| *b == 0)
            .map(|w| OsString::from_vec(w.to_vec()))
            .collect();
        check_argv(argv);
    } else {
        let text = String::from_utf8_lossy(rest);
        // The file's lines as arguments on their own...
        let argv: Vec<OsString> = split(&text).into_iter().flat_map(|l| l.args).collect();
        check_argv(argv);
        // ...and the file read through --config, line numbers and merge included.
        let path = config_path();
        if std::fs::write(&path, text.as_bytes()).is_ok() {
            check_result(&parse(vec!["--config".into(), path.into_os_string()]));
        }
    }
});

/// Parses `argv`, unless it names a config file of its own: the fuzzer must not make us read
/// `/dev/zero` or a FIFO. File contents are covered by the `--config` half above.
fn check_argv(argv: Vec<OsString>) {
    let program = OsString::from("kube-anycast healthcheck");
    let named =
        Options::try_parse_from(std::iter::once(program).chain(normalize_argv(argv.clone())));
    if named.is_ok_and(|o| o.config.is_some()) {
        return;
    }
    check_result(&parse(argv));
}

fn check_result(result: &Result<Options, ArgsError>) {
    if let Err(e) = result {
        assert!(matches!(e.code, 0..=2), "exit code {}", e.code);
        if !e.is_help() {
            assert!(
                e.message.lines().count() <= 1,
                "an error must be one line: {:?}",
                e.message
            );
        }
    }
}

fn config_path() -> PathBuf {
    std::env::temp_dir().join(format!("kube-anycast-fuzz-hc-{}.conf", std::process::id()))
}
