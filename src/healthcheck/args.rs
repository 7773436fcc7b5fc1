//! From argv (and the `--config` file it names) to [`Options`], with ExaBGP's merge rule: the
//! file's arguments first, then the whole command line.

use std::ffi::OsString;
use std::path::Path;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::config_file;
use super::options::{Options, normalize_argv};

/// Why the arguments were refused, or a request for help. `code` is the exit status.
#[derive(Debug)]
pub struct ArgsError {
    /// Exit status: 0 for help, 2 for bad arguments, 1 for an unreadable file.
    pub code: u8,
    /// What to print.
    pub message: String,
}

impl ArgsError {
    /// True when the message is help text for stdout rather than an error.
    pub fn is_help(&self) -> bool {
        self.code == 0
    }
}

/// Parses the healthcheck's arguments (without the program and subcommand names).
pub fn parse(argv: Vec<OsString>) -> Result<Options, ArgsError> {
    let argv = normalize_argv(argv);
    let command_line = parse_from(&argv).map_err(|e| from_clap(&e, None))?;
    let Some(path) = command_line.config.clone() else {
        return Ok(command_line);
    };
    let lines = config_file::read(&path).map_err(|e| ArgsError {
        code: 1,
        message: e.to_string(),
    })?;
    // Report the first line that makes the file invalid on its own, by its number.
    let mut file_args: Vec<OsString> = Vec::new();
    for line in &lines {
        file_args.extend(line.args.iter().cloned());
        if let Err(e) = parse_from(&file_args) {
            return Err(from_clap(&e, Some((&path, line.number))));
        }
    }
    file_args.extend(argv);
    parse_from(&file_args).map_err(|e| from_clap(&e, Some((&path, 0))))
}

fn parse_from(args: &[OsString]) -> Result<Options, clap::Error> {
    let program = OsString::from("kube-anycast healthcheck");
    Options::try_parse_from(std::iter::once(&program).chain(args))
}

/// One line naming the option (and the file line), as the drop-in promises.
fn from_clap(err: &clap::Error, file: Option<(&Path, usize)>) -> ArgsError {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        return ArgsError {
            code: 0,
            message: err.render().to_string(),
        };
    }
    let rendered = err.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("error: invalid arguments");
    // A rejected value may hold a newline: quote it so the message stays one line.
    let text = match (
        err.get(ContextKind::InvalidArg),
        err.get(ContextKind::InvalidValue),
    ) {
        (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) => {
            let why = std::error::Error::source(err)
                .map(ToString::to_string)
                .unwrap_or_default();
            format!("argument {arg}: invalid value {value:?} {why}")
                .trim_end()
                .replace('\n', "\\n")
        }
        _ => first.strip_prefix("error: ").unwrap_or(first).to_owned(),
    };
    let message = match file {
        Some((path, 0)) => format!(
            "kube-anycast healthcheck: error: {}: {text}",
            path.display()
        ),
        Some((path, n)) => format!(
            "kube-anycast healthcheck: error: {}:{n}: {text}",
            path.display()
        ),
        None => format!("kube-anycast healthcheck: error: {text}"),
    };
    ArgsError { code: 2, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn defaults_match_exabgp_5_0_15() {
        let o = parse(vec![]).unwrap();
        assert_eq!(
            (
                o.interval.to_string(),
                o.fast_interval.to_string(),
                o.timeout
            ),
            ("5".into(), "1".into(), 5)
        );
        assert_eq!((o.rise, o.fall, o.increase), (3, 3, 1));
        assert_eq!(
            (o.up_metric, o.down_metric, o.disabled_metric),
            (100, 1000, 500)
        );
        assert_eq!((o.local_preference, o.start_ip), (-1, 0));
        assert!(!o.no_ip_setup && !o.debounce && !o.withdraw_on_down);
    }

    #[test]
    fn prefixes_aliases_short_forms_and_repeats() {
        let o = parse(argv(&[
            "--int",
            "0",
            "-da",
            "--cmd",
            "true",
            "--ip",
            "192.0.2.1",
            "--ip=192.0.2.2/32",
            "--up-met",
            "-7",
            "--rise",
            "1",
            "--rise",
            "2",
            "-sF",
            "local0",
        ]))
        .unwrap();
        assert!(o.interval.abs() < f64::EPSILON);
        assert!(o.debug && o.no_ack);
        assert_eq!(o.command.as_deref(), Some("true"));
        assert_eq!(o.ip.len(), 2);
        assert_eq!(o.up_metric, -7);
        assert_eq!(o.rise, 2);
        assert_eq!(o.syslog_facility.as_deref(), Some("local0"));
        assert_eq!(
            parse(argv(&["--syslog-facility"]))
                .unwrap()
                .syslog_facility
                .as_deref(),
            Some("daemon")
        );
    }

    #[test]
    fn bad_arguments_exit_2_with_one_line_naming_the_option() {
        for (args, needle) in [
            (&["--ip", "192.0.2.1/24"][..], "--ip"),
            (&["--timeout", "5.5"], "--timeout"),
            (&["--neighbor", "foo"], "--neighbor"),
            (&["--next-hop", "self"], "--next-hop"),
            (&["--bogus"], "--bogus"),
            (&["--silent", "--no-syslog"], "--no-syslog"),
            (&["--community", "65000:1\n"], "--community"),
            (&["--as-path", "1 ] [ 2"], "--as-path"),
            (&["positional"], "positional"),
        ] {
            let err = parse(argv(args)).unwrap_err();
            assert_eq!(err.code, 2, "{args:?}");
            assert!(err.message.contains(needle), "{args:?}: {}", err.message);
            assert_eq!(err.message.lines().count(), 1, "{}", err.message);
        }
    }

    #[test]
    fn config_file_merges_file_first_then_command_line() {
        let dir = std::env::temp_dir().join(format!("kat-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hc.conf");
        std::fs::write(&file, "# web\nip = 192.0.2.1\nrise = 5\ndebounce\nsilent\n").unwrap();
        let f = file.to_str().unwrap();
        let o = parse(argv(&["--config", f, "--ip", "192.0.2.2", "--rise", "2"])).unwrap();
        assert_eq!(
            o.ip.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["192.0.2.1/32", "192.0.2.2/32"]
        );
        assert_eq!(o.rise, 2);
        assert!(o.debounce);
        let err = parse(argv(&["--config", f, "--no-syslog"])).unwrap_err();
        assert_eq!(err.code, 2);
        std::fs::write(&file, "rise = 2\nname haproxy\n").unwrap();
        let err = parse(argv(&["-F", f])).unwrap_err();
        assert!(err.message.contains(&format!("{f}:2:")), "{}", err.message);
        let missing = parse(argv(&["--config", "/nonexistent/hc.conf"])).unwrap_err();
        assert_eq!(missing.code, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
