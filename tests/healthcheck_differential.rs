//! Differential tests: `kube-anycast healthcheck` against ExaBGP 5.0.15's
//! `python -m exabgp healthcheck`, same options, same scripted check results
//! (see `support/differential.rs`), byte-identical stdout and the same exit
//! code. Cases marked with `.expect(...)` also pin ExaBGP's output to the
//! worked examples of the reference, which proves the harness itself.
//!
//! Steps: pass, fail, hang (past --timeout 1), disable (pass, then the disable
//! file exists), term (SIGTERM from inside the check). Past the last step: term.

#[allow(
    dead_code,
    unused_imports,
    reason = "shared by several test crates, each using a part"
)]
mod support;

use support::differential::{Action, Case, exabgp_healthcheck, kube_anycast_healthcheck, run};

/// Runs both implementations on `case` and asserts they behave the same.
fn check(name: &str, case: &Case) {
    let venv = support::testbed::exabgp_venv();
    let theirs = run(&exabgp_healthcheck(&venv), case, name, "exabgp");
    if let Some(expect) = &case.expect {
        assert_eq!(
            &theirs.lines, expect,
            "{name}: ExaBGP differs from the reference: {theirs:#?}"
        );
    }
    let ours = run(
        &kube_anycast_healthcheck(env!("CARGO_BIN_EXE_kube-anycast")),
        case,
        name,
        "ours",
    );
    let report = format!(
        "{name}: kube-anycast differs from ExaBGP 5.0.15\nargs: {:?}\nsteps: {:?}\nconfig: {:?}\n\
         --- ExaBGP ({:?}):\n{}\n--- kube-anycast ({:?}):\n{}\n--- kube-anycast stderr:\n{}",
        case.args,
        case.steps,
        case.config,
        theirs.code,
        theirs.lines.join("\n"),
        ours.code,
        ours.lines.join("\n"),
        ours.stderr,
    );
    if let Some((lines, code)) = &case.deliberate {
        assert_eq!(&ours.lines, lines, "deliberate difference: {report}");
        assert_eq!(
            &ours.code, code,
            "deliberate difference, exit code: {report}"
        );
        assert_ne!(
            (&ours.lines, &ours.code),
            (&theirs.lines, &theirs.code),
            "no longer a difference: {report}"
        );
        return;
    }
    assert_eq!(ours.lines, theirs.lines, "{report}");
    assert_eq!(ours.code, theirs.code, "exit code: {report}");
    assert_eq!(
        ours.hooks, theirs.hooks,
        "hooks: {report}\nExaBGP hooks:\n{}",
        theirs.hooks
    );
}

/// One `#[test]` per row: `name: case;`.
macro_rules! differential {
    ($($name:ident: $case:expr;)*) => {$(
        #[test]
        fn $name() {
            check(stringify!($name), &$case);
        }
    )*};
}

const D: &str = "--disable";
const DF: &str = "{dir}/disable";

// The worked examples of the reference (section 13), pinned line by line.
differential! {
    example1_defaults: Case::new(&["--ip", "192.0.2.10/32"])
        .steps("pass pass pass fail fail fail pass term")
        .expect(&[
            "neighbor * announce route 192.0.2.10/32 next-hop self med 100",
            "neighbor * announce route 192.0.2.10/32 next-hop self med 1000",
            "neighbor * withdraw route 192.0.2.10/32 next-hop self",
        ]);
    example2_withdraw_on_down: Case::new(EXAMPLE2).steps("pass fail pass term").expect(&[
        "neighbor 10.0.0.1, neighbor 10.0.0.2 announce route 192.0.2.10/32 next-hop 10.0.0.254 med 100 local-preference 200 community [ 65000:100 ]",
        "neighbor 10.0.0.1, neighbor 10.0.0.2 announce route 192.0.2.11/32 next-hop 10.0.0.254 med 101 local-preference 200 community [ 65000:100 ]",
        "neighbor 10.0.0.1, neighbor 10.0.0.2 withdraw route 192.0.2.10/32 next-hop 10.0.0.254",
        "neighbor 10.0.0.1, neighbor 10.0.0.2 withdraw route 192.0.2.11/32 next-hop 10.0.0.254",
        "neighbor 10.0.0.1, neighbor 10.0.0.2 announce route 192.0.2.10/32 next-hop 10.0.0.254 med 100 local-preference 200 community [ 65000:100 ]",
        "neighbor 10.0.0.1, neighbor 10.0.0.2 announce route 192.0.2.11/32 next-hop 10.0.0.254 med 101 local-preference 200 community [ 65000:100 ]",
        "neighbor 10.0.0.1, neighbor 10.0.0.2 withdraw route 192.0.2.10/32 next-hop 10.0.0.254",
        "neighbor 10.0.0.1, neighbor 10.0.0.2 withdraw route 192.0.2.11/32 next-hop 10.0.0.254",
    ]);
    example3_debounce_disable_rotation: Case::new(&[
        "--ip", "198.51.100.1/32", "--ip", "198.51.100.2/32", "--rise", "2", "--debounce", D, DF,
        "--up-metric", "50", "--disabled-metric", "300", "--increase", "10", "--start-ip", "1",
        "--disabled-community", "65000:666",
    ])
    .steps("pass disable pass pass pass term")
    .after(4, Action::Enable)
    .expect(&[
        "neighbor * announce route 198.51.100.2/32 next-hop self med 50",
        "neighbor * announce route 198.51.100.1/32 next-hop self med 60",
        "neighbor * announce route 198.51.100.2/32 next-hop self med 300 community [ 65000:666 ]",
        "neighbor * announce route 198.51.100.1/32 next-hop self med 310 community [ 65000:666 ]",
        "neighbor * announce route 198.51.100.2/32 next-hop self med 50",
        "neighbor * announce route 198.51.100.1/32 next-hop self med 60",
        "neighbor * withdraw route 198.51.100.2/32 next-hop self",
        "neighbor * withdraw route 198.51.100.1/32 next-hop self",
    ]);
    example4_ipv6_deaggregate_interval0: Case::new(&[
        "--no-ack", "--no-ip-setup", "--no-syslog", "--ip", "2001:db8::/127",
        "--deaggregate-networks", "--rise", "1", "--interval", "0", "--path-id", "3",
        "--as-path", "65000", "--up-as-path", "65000 65000", "--large-community", "65000:1:2",
        "--cmd", "true",
    ])
    .bare()
    .expect(&[
        "neighbor * announce route 2001:db8::/128 next-hop self med 100 large-community [ 65000:1:2 ] as-path [ 65000 65000 ] path-information 3",
        "neighbor * announce route 2001:db8::1/128 next-hop self med 101 large-community [ 65000:1:2 ] as-path [ 65000 65000 ] path-information 3",
    ]);
}

const EXAMPLE2: &[&str] = &[
    "--ip",
    "192.0.2.10/32",
    "--ip",
    "192.0.2.11/32",
    "--rise",
    "1",
    "--fall",
    "1",
    "--withdraw-on-down",
    "--community",
    "65000:100",
    "--disabled-community",
    "65000:666",
    "--local-preference",
    "200",
    "--neighbor",
    "10.0.0.1",
    "--neighbor",
    "10.0.0.2",
    "--next-hop",
    "10.0.0.254",
];
const IP: &[&str] = &["--ip", "192.0.2.1/32"];
const IP3: &[&str] = &[
    "--ip",
    "192.0.2.1/32",
    "--ip",
    "192.0.2.2/32",
    "--ip",
    "192.0.2.3/32",
];

/// `base` followed by `more`.
fn with(base: &[&'static str], more: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(more).copied().collect()
}

// The state machine and the check results.
differential! {
    rise_fall_counting: Case::new(&with(IP, &["--rise", "2", "--fall", "2"]))
        .steps("pass fail pass pass fail pass fail fail pass pass term");
    rise_and_fall_at_most_one: Case::new(&with(IP, &["--rise", "0", "--fall", "-1"]))
        .steps("fail pass fail term");
    stable_states_repeat_without_debounce: Case::new(&with(IP, &["--rise", "1", "--fall", "1"]))
        .steps("pass pass pass fail fail term");
    hang_past_timeout_is_a_failure: Case::new(&with(IP, &["--rise", "1", "--fall", "2"]))
        .steps("pass hang hang pass term");
    missing_check_command_is_a_failure: Case::new(&with(IP, &[
        "--cmd", "/nonexistent/kat-check", "--fall", "1", "--interval", "0",
    ]));
    empty_check_command_passes: Case::new(&with(IP, &["--cmd", "", "--rise", "1", "--interval", "0"]));
    no_check_command_always_passes: Case::new(&[
        "--no-syslog", "--no-ip-setup", "--ip", "192.0.2.1", "--rise", "2", "--interval", "0",
        "--fast-interval", "0.05",
    ]).bare();
    debounce_reannounces_after_a_short_failure: Case::new(&with(IP, &[
        "--debounce", "--rise", "2", "--fall", "2",
    ]))
    .steps("pass pass pass fail pass pass fail fail fail pass pass term");
    hooks_see_every_state: Case::new(&with(IP, &[
        "--rise", "2", "--fall", "2", D, DF,
        "--execute", "echo \"all $STATE\" >>{dir}/hooks",
        "--up-execute", "echo up >>{dir}/hooks", "--up-execute", "echo up2 >>{dir}/hooks",
        "--down-execute", "echo down >>{dir}/hooks",
        "--disabled-execute", "echo disabled >>{dir}/hooks",
    ]))
    .steps("pass pass fail fail pass disable pass pass pass term")
    .after(5, Action::Enable);
}

// --interval 0 and the disable file.
differential! {
    interval_zero_keeps_looping_while_rising: Case::new(&with(IP, &["--interval", "0"]))
        .steps("pass pass pass");
    interval_zero_after_down: Case::new(&with(IP, &["--interval", "0", "--fall", "2"]))
        .steps("pass fail fail");
    disabled_repeats_without_debounce: Case::new(&with(IP, &["--rise", "1", D, DF]))
        .steps("disable pass pass term")
        .after(4, Action::Enable);
    disabled_with_withdraw_on_down: Case::new(&with(IP, &["--rise", "1", "--withdraw-on-down", D, DF]))
        .steps("pass disable pass pass term")
        .after(3, Action::Enable);
    disable_path_present_from_the_start: Case::new(&with(IP, &[D, "{dir}", "--interval", "0"]));
    debounced_disable_without_acks: Case::new(&with(IP, &["--rise", "1", "--debounce", D, DF]))
        .eof()
        .steps("disable pass pass term")
        .after(2, Action::Enable);
}

// Route attributes per state: metrics, communities, AS paths, local-pref, path-id.
differential! {
    metrics_in_every_state: Case::new(&with(IP3, &[
        "--up-metric", "7", "--down-metric", "-7", "--disabled-metric", "700", "--increase", "5",
        "--start-ip", "2", "--rise", "1", "--fall", "1", D, DF,
    ]))
    .steps("pass fail disable pass pass term")
    .after(12, Action::Enable);
    metrics_negative_increase_and_rotation: Case::new(&with(IP3, &[
        "--increase", "-3", "--start-ip", "-1", "--up-metric", "0", "--rise", "1", "--interval", "0",
    ]))
        .steps("pass");
    start_ip_beyond_the_list: Case::new(&with(IP3, &["--start-ip", "5", "--rise", "1", "--interval", "0"]))
        .steps("pass");
    communities_in_every_state: Case::new(&with(IP, &[
        "--community", "65000:1 65000:2", "--extended-community", "target:65000:7",
        "--large-community", "65000:1:1", "--disabled-community", "65000:666",
        "--rise", "1", "--fall", "1", D, DF,
    ]))
    .steps("pass fail disable pass pass term")
    .after(4, Action::Enable);
    community_last_wins: Case::new(&with(IP, &[
        "--community", "65000:1", "--community", "65000:9 no-export", "--rise", "1",
        "--interval", "0",
    ]))
        .steps("pass");
    // ExaBGP splices attribute text verbatim, spaces and all (reference 2.3); kube-anycast
    // parses it into typed values and writes them with single spaces (docs/healthcheck.md).
    attribute_text_is_normalised: Case::new(&with(IP, &[
        "--community", " 65000:9  no-export ", "--as-path", "65000  65001 ", "--rise", "1",
        "--interval", "0",
    ]))
    .steps("pass")
    .deliberately(&[
        "neighbor * announce route 192.0.2.1/32 next-hop self med 100 community [ 65000:9 no-export ] as-path [ 65000 65001 ]",
    ], 0);
    disabled_community_alone: Case::new(&with(IP, &[
        "--disabled-community", "65000:666", "--rise", "1", "--fall", "1",
    ]))
    .steps("pass fail term");
    empty_attributes_are_unset: Case::new(&with(IP, &[
        "--community", "", "--extended-community", "", "--large-community", "", "--as-path", "",
        "--disabled-community", "", "--rise", "1", "--fall", "1",
    ]))
    .steps("pass fail term");
    as_paths_in_every_state: Case::new(&with(IP, &[
        "--as-path", "65000 65001", "--up-as-path", "", "--down-as-path", "64999",
        "--disabled-as-path", "64998 64998", "--rise", "1", "--fall", "1", D, DF,
    ]))
    .steps("pass fail disable pass pass term")
    .after(4, Action::Enable);
    as_path_fallback: Case::new(&with(IP, &[
        "--as-path", "65000", "--down-as-path", "65000 65000 65000", "--rise", "1", "--fall", "1",
    ]))
    .steps("pass fail pass term");
    local_preference_200: Case::new(&with(IP, &["--local-preference", "200", "--rise", "1"]))
        .steps("pass fail fail fail term");
    local_preference_0: Case::new(&with(IP, &["--local-preference", "0", "--rise", "1", "--interval", "0"]))
        .steps("pass");
    local_preference_negative: Case::new(&with(IP, &["--local-preference", "-1", "--rise", "1", "--interval", "0"]))
        .steps("pass");
    path_id_on_announce_and_withdraw: Case::new(&with(IP, &[
        "--path-id", "7", "--withdraw-on-down", "--rise", "1", "--fall", "1",
    ]))
    .steps("pass fail term");
    path_id_zero: Case::new(&with(IP, &["--path-id", "0", "--rise", "1", "--interval", "0"]))
        .steps("pass");
    path_id_negative: Case::new(&with(IP, &["--path-id", "-3", "--rise", "1"])).steps("pass term");
    all_attributes_in_order: Case::new(&with(IP, &[
        "--as-path", "65000", "--large-community", "65000:1:2", "--extended-community",
        "target:65000:7", "--community", "65000:1", "--local-preference", "50", "--path-id", "2",
        "--next-hop", "10.0.0.254", "--neighbor", "10.0.0.1", "--rise", "1",
    ]))
    .steps("pass term");
}

// Targets, next hops and the IP list.
differential! {
    neighbors_several_v4_v6_duplicates: Case::new(&with(IP, &[
        "--neighbor", "10.0.0.1", "--neighbor", "2001:db8:0::5", "--neighbor", "10.0.0.1",
        "--rise", "1",
    ]))
    .steps("pass term");
    neighbor_star_among_others: Case::new(&with(IP, &[
        "--neighbor", "10.0.0.1", "--neighbor", " * ", "--rise", "1", "--interval", "0",
    ]))
        .steps("pass");
    neighbor_star_alone: Case::new(&with(IP, &["--neighbor", "*", "--rise", "1", "--interval", "0"]))
        .steps("pass");
    next_hop_v4_with_withdraw_on_down: Case::new(&with(IP, &[
        "--next-hop", "10.0.0.254", "--withdraw-on-down", "--rise", "1", "--fall", "1",
    ]))
    .steps("pass fail term");
    next_hop_v6_normalised: Case::new(&[
        "--ip", "2001:DB8::1", "--next-hop", "2001:0DB8::0001", "--rise", "1",
    ])
    .steps("pass fail fail fail term");
    ip_forms_and_duplicates: Case::new(&[
        "--ip", "2001:DB8:0:0::1", "--ip", "192.0.2.1/255.255.255.255", "--ip", "192.0.2.1",
        "--ip", "192.0.2.1/32", "--ip", "2001:db8::/64", "--rise", "1", "--interval", "0",
    ])
        .steps("pass");
    deaggregate_ipv4_networks: Case::new(&[
        "--ip", "192.0.2.0/30", "--ip", "192.0.2.8/31", "--ip", "192.0.2.20",
        "--deaggregate-networks", "--rise", "1",
    ])
    .steps("pass fail fail fail term");
    networks_without_deaggregate: Case::new(&[
        "--ip", "192.0.2.0/30", "--ip", "2001:db8::/64", "--rise", "1",
    ])
    .steps("pass term");
}

const CONFIG: &str = "# every line style of the config file
  no-syslog
no-ip-setup\r
int = 0.05
fast-interval=0.05

timeout = 1
cmd = KAT_SPLIT=at=first exec sh {dir}/check.sh
ip = 192.0.2.1/32
ip=192.0.2.2/32
rise = 1
fall = 1
community = 65000:1 65000:2
as-path = 65000 65001
withdraw-on-down
";

// The config file, alone and merged with the command line.
differential! {
    config_file_alone: Case::new(&["--config", "{dir}/healthcheck.conf"])
        .bare()
        .config(CONFIG)
        .steps("pass fail pass term");
    config_merged_with_command_line: Case::new(&[
        "--ip", "192.0.2.3/32", "--config", "{dir}/healthcheck.conf", "--community", "65000:9",
        "--fall", "2", "--debounce",
    ])
    .bare()
    .config(CONFIG)
    .steps("pass fail fail pass term");
    config_flags_cannot_be_unset: Case::new(&["--config", "{dir}/healthcheck.conf", "--rise", "1"])
        .config("debounce\nip = 192.0.2.1\n")
        .steps("pass pass fail pass term");
}

// ACKs on stdin, and signals.
differential! {
    acks_at_eof: Case::new(EXAMPLE2).eof().steps("pass fail pass term");
    no_ack_never_reads: Case::new(&with(EXAMPLE2, &["--no-ack"])).silent().steps("pass fail pass term");
    sigterm_during_check_before_any_announce: Case::new(IP3).steps("pass term");
    sigterm_while_sleeping: Case::new(&with(IP, &["--interval", "5", "--rise", "1"]))
        .eof()
        .steps("pass")
        .after(1, Action::Term);
    // ExaBGP writes one withdraw and exits 1 (a re-entrant read); kube-anycast withdraws
    // every route and exits 0 (docs/healthcheck.md).
    sigterm_during_ack_wait: Case::new(&with(IP3, &["--interval", "5", "--rise", "1"]))
        .steps("pass")
        .after(1, Action::Term)
        .deliberately(&[
            "neighbor * announce route 192.0.2.1/32 next-hop self med 100",
            "neighbor * withdraw route 192.0.2.1/32 next-hop self",
            "neighbor * withdraw route 192.0.2.2/32 next-hop self",
            "neighbor * withdraw route 192.0.2.3/32 next-hop self",
        ], 0);
}

// Logging options change nothing on stdout.
differential! {
    logging_silent: Case::new(&with(IP, &["--silent", "--rise", "1"])).logging().steps("pass fail term");
    logging_debug: Case::new(&with(IP, &["--debug", "--rise", "1"])).steps("pass fail term");
    logging_facility: Case::new(&with(IP, &["--syslog-facility", "local3", "--rise", "1"]))
        .logging()
        .steps("pass term");
    logging_name_and_pid_file: Case::new(&with(IP, &[
        "--name", "web", "--pid", "{dir}/hc.pid", "--rise", "1",
    ]))
    .steps("pass term");
}

/// A case that must be rejected before anything is written.
fn rejected(args: &[&'static str]) -> Case {
    Case::new(args).bare()
}

// Bad input: exit 2 (argparse) or 1 (the messages need not match).
differential! {
    bad_ip_with_host_bits: rejected(&["--ip", "192.0.2.1/24"]);
    bad_timeout_float: rejected(&["--ip", "192.0.2.1", "--timeout", "5.5"]);
    bad_neighbor: rejected(&["--ip", "192.0.2.1", "--neighbor", "foo"]);
    bad_next_hop_self: rejected(&["--ip", "192.0.2.1", "--next-hop", "self"]);
    bad_unknown_option: rejected(&["--ip", "192.0.2.1", "--bogus"]);
    bad_positional_argument: rejected(&["--ip", "192.0.2.1", "extra"]);
    bad_silent_with_no_syslog: rejected(&["--ip", "192.0.2.1", "--silent", "--no-syslog"]);
    bad_control_character: rejected(&["--ip", "192.0.2.1", "--community", "65000:1\n"]);
    bad_ambiguous_prefix: rejected(&["--ip", "192.0.2.1", "--up", "5"]);
    bad_missing_value: rejected(&["--ip"]);
    bad_rise: rejected(&["--ip", "192.0.2.1", "--rise", "x"]);
    bad_config_key_value_line: rejected(&["--config", "{dir}/healthcheck.conf"])
        .config("ip = 192.0.2.1\nname haproxy\n");
    bad_config_flag_with_value: rejected(&["--config", "{dir}/healthcheck.conf"])
        .config("ip = 192.0.2.1\ndebug = true\n");
    bad_config_exclusion_across: rejected(&["--config", "{dir}/healthcheck.conf", "--no-syslog"])
        .config("ip = 192.0.2.1\nsilent\n");
    bad_missing_config_file: rejected(&["--config", "{dir}/missing.conf"]);
    bad_unknown_user: rejected(&[
        "--no-syslog", "--no-ip-setup", "--ip", "192.0.2.1", "--user", "kat-no-such-user",
    ]);
}

// Inside a private network namespace: address discovery on lo, and IP setup.
differential! {
    no_ip_found: Case::new(&["--no-syslog", "--interval", "0", "--cmd", "true"]).bare().netns(&[]);
    discovered_addresses: Case::new(&["--no-syslog", "--interval", "0", "--rise", "1", "--cmd", "true"])
        .bare()
        .netns(&[
            "198.51.100.7/32 dev lo", "198.51.100.8/32 dev lo label lo:web",
            "198.51.100.16/30 dev lo", "10.9.9.9/24 dev lo", "2001:db8::7/128 dev lo",
        ]);
    discovered_by_label: Case::new(&[
        "--no-syslog", "--interval", "0", "--rise", "1", "--cmd", "true", "--label", "we",
    ])
    .bare()
    .netns(&["198.51.100.7/32 dev lo", "198.51.100.8/32 dev lo label lo:web"]);
    ip_setup_then_sigterm: Case::new(&[
        "--no-syslog", "--interval", "0.05", "--rise", "1", "--ip", "198.51.100.9/32",
        "--ip", "2001:db8::9/128", "--cmd", "exec sh {dir}/check.sh",
    ])
    .bare()
    .netns(&[])
    .steps("pass pass term");
}
