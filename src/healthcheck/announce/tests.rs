use super::*;
use crate::healthcheck::args::parse;

fn mk(args: &str) -> Announcer {
    let opts = parse(args.split_whitespace().map(Into::into).collect()).unwrap();
    let ips = opts.ip.clone();
    Announcer::new(&opts, &ips).unwrap()
}

#[test]
fn reference_example_two_withdraw_on_down() {
    let a = mk(
        "--ip 192.0.2.10/32 --ip 192.0.2.11/32 --rise 1 --fall 1 --withdraw-on-down \
                --community 65000:100 --disabled-community 65000:666 --local-preference 200 \
                --neighbor 10.0.0.1 --neighbor 10.0.0.2 --next-hop 10.0.0.254",
    );
    let t = "neighbor 10.0.0.1, neighbor 10.0.0.2";
    assert_eq!(
        a.lines(State::Up),
        [
            format!(
                "{t} announce route 192.0.2.10/32 next-hop 10.0.0.254 med 100 local-preference 200 community [ 65000:100 ]\n"
            ),
            format!(
                "{t} announce route 192.0.2.11/32 next-hop 10.0.0.254 med 101 local-preference 200 community [ 65000:100 ]\n"
            ),
        ]
    );
    let withdraw = [
        format!("{t} withdraw route 192.0.2.10/32 next-hop 10.0.0.254\n"),
        format!("{t} withdraw route 192.0.2.11/32 next-hop 10.0.0.254\n"),
    ];
    assert_eq!(a.lines(State::Down), withdraw);
    assert_eq!(a.lines(State::Disabled), withdraw);
    assert_eq!(a.lines(State::Exit), withdraw);
}

#[test]
fn reference_example_three_rotation_and_disabled_community() {
    let a = mk(
        "--ip 198.51.100.1/32 --ip 198.51.100.2/32 --rise 2 --up-metric 50 \
                --disabled-metric 300 --increase 10 --start-ip 1 --disabled-community 65000:666",
    );
    assert_eq!(
        a.lines(State::Up),
        [
            "neighbor * announce route 198.51.100.2/32 next-hop self med 50\n",
            "neighbor * announce route 198.51.100.1/32 next-hop self med 60\n",
        ]
    );
    assert_eq!(
        a.lines(State::Disabled),
        [
            "neighbor * announce route 198.51.100.2/32 next-hop self med 300 community [ 65000:666 ]\n",
            "neighbor * announce route 198.51.100.1/32 next-hop self med 310 community [ 65000:666 ]\n",
        ]
    );
    assert!(a.lines(State::Rising).is_empty());
}

#[test]
fn reference_example_four_ipv6_deaggregated() {
    let opts = parse(
        [
            "--ip",
            "2001:db8::/127",
            "--deaggregate-networks",
            "--path-id",
            "3",
            "--as-path",
            "65000",
            "--up-as-path",
            "65000 65000",
            "--large-community",
            "65000:1:2",
        ]
        .iter()
        .map(Into::into)
        .collect(),
    )
    .unwrap();
    let a = Announcer::new(&opts, &opts.ip).unwrap();
    assert_eq!(
        a.lines(State::Up),
        [
            "neighbor * announce route 2001:db8::/128 next-hop self med 100 large-community [ 65000:1:2 ] as-path [ 65000 65000 ] path-information 3\n",
            "neighbor * announce route 2001:db8::1/128 next-hop self med 101 large-community [ 65000:1:2 ] as-path [ 65000 65000 ] path-information 3\n",
        ]
    );
    // Withdraws keep next-hop and path-information.
    assert_eq!(
        a.lines(State::Exit)[0],
        "neighbor * withdraw route 2001:db8::/128 next-hop self path-information 3\n"
    );
    // DOWN falls back to --as-path.
    assert!(
        a.lines(State::Down)[0]
            .contains("med 1000 large-community [ 65000:1:2 ] as-path [ 65000 ]")
    );
}

#[test]
fn empty_per_state_as_path_suppresses_the_common_one() {
    let opts = parse(
        [
            "--ip",
            "192.0.2.1",
            "--as-path",
            "65000",
            "--down-as-path",
            "",
        ]
        .iter()
        .map(Into::into)
        .collect(),
    )
    .unwrap();
    let a = Announcer::new(&opts, &opts.ip).unwrap();
    assert_eq!(
        a.lines(State::Down),
        ["neighbor * announce route 192.0.2.1/32 next-hop self med 1000\n"]
    );
    assert!(a.lines(State::Up)[0].ends_with("as-path [ 65000 ]\n"));
}

#[test]
fn neighbors_star_wins_and_duplicates_stay() {
    let a = mk("--ip 192.0.2.1 --neighbor 10.0.0.1 --neighbor *");
    assert!(a.lines(State::Up)[0].starts_with("neighbor * announce"));
    let a = mk(
        "--ip 192.0.2.1 --ip 192.0.2.1 --neighbor 2001:db8:0::5 --neighbor 2001:db8::5 --path-id 0 --local-preference 0",
    );
    let lines = a.lines(State::Up);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1],
        "neighbor 2001:db8::5, neighbor 2001:db8::5 announce route 192.0.2.1/32 next-hop self med 101 local-preference 0\n"
    );
}

#[test]
fn expansion_includes_network_and_broadcast_and_is_bounded() {
    let got = expand_all(&["192.0.2.0/30".parse().unwrap()]).unwrap();
    let got: Vec<String> = got.iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "192.0.2.0/32",
            "192.0.2.1/32",
            "192.0.2.2/32",
            "192.0.2.3/32"
        ]
    );
    assert!(expand_all(&["10.0.0.0/8".parse().unwrap()]).is_err());
    assert_eq!(
        expand_all(&["10.0.0.0/16".parse().unwrap()]).unwrap().len(),
        65_536
    );
}

#[test]
fn negative_start_rotates_right() {
    let a = mk("--ip 192.0.2.1 --ip 192.0.2.2 --ip 192.0.2.3 --start-ip -1");
    assert!(a.lines(State::Up)[0].contains("192.0.2.3/32"));
}
