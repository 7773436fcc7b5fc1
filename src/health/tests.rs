use super::*;
use proptest::prelude::*;

const OK: Observation = Observation {
    disabled: false,
    ok: true,
};
const FAIL: Observation = Observation {
    disabled: false,
    ok: false,
};
const DISABLED: Observation = Observation {
    disabled: true,
    ok: true,
};

fn run(rise: i64, fall: i64, obs: &[Observation]) -> Vec<State> {
    let mut m = Machine::new(rise, fall);
    obs.iter().map(|o| m.observe(*o).to).collect()
}

#[test]
fn reference_example_one_with_defaults() {
    use State::*;
    let got = run(3, 3, &[OK, OK, OK, FAIL, FAIL, FAIL, OK]);
    assert_eq!(got, [Rising, Rising, Up, Falling, Falling, Down, Rising]);
}

#[test]
fn rise_and_fall_of_one_skip_the_transitional_states() {
    use State::*;
    assert_eq!(run(1, 1, &[OK, FAIL, OK]), [Up, Down, Up]);
    assert_eq!(run(0, -5, &[FAIL, OK]), [Down, Up]);
}

#[test]
fn disable_file_then_init_ignoring_the_result() {
    use State::*;
    // Reference example three: rise 2, then the file appears, then goes away.
    let got = run(2, 3, &[OK, OK, DISABLED, DISABLED, FAIL, OK, OK]);
    assert_eq!(got, [Rising, Up, Disabled, Disabled, Init, Rising, Up]);
}

#[test]
fn a_short_failure_is_a_new_change_to_up() {
    let mut m = Machine::new(2, 3);
    for o in [OK, OK, FAIL] {
        m.observe(o);
    }
    assert_eq!(
        m.observe(OK),
        Step {
            from: State::Falling,
            to: State::Rising
        }
    );
    let step = m.observe(OK);
    assert!(step.changed() && step.to == State::Up);
    assert!(should_emit(step, true));
}

#[test]
fn pauses_follow_the_state() {
    let (i, f) = (Duration::from_secs(5), Duration::from_secs(1));
    assert_eq!(next_pause(State::Rising, i, f), Some(f));
    assert_eq!(next_pause(State::Falling, Duration::ZERO, f), Some(f));
    assert_eq!(next_pause(State::Init, i, f), Some(i));
    assert_eq!(next_pause(State::Up, Duration::ZERO, f), None);
}

#[test]
fn exit_is_final() {
    let mut m = Machine::new(1, 1);
    m.observe(OK);
    assert_eq!(
        m.exit(),
        Step {
            from: State::Up,
            to: State::Exit
        }
    );
    assert_eq!(m.observe(DISABLED).to, State::Exit);
}

#[test]
fn emission_rules() {
    let up = Step {
        from: State::Up,
        to: State::Up,
    };
    assert!(should_emit(up, false));
    assert!(!should_emit(up, true));
    assert!(!should_emit(
        Step {
            from: State::Init,
            to: State::Rising
        },
        false
    ));
}

fn observation() -> impl Strategy<Value = Observation> {
    prop_oneof![8 => Just(OK), 8 => Just(FAIL), 1 => Just(DISABLED)]
}

proptest! {
    /// UP only after `rise` passes in a row since the last failure or disable; DOWN only after
    /// `fall` failures in a row since the last pass; never a change to itself.
    #[test]
    fn dampening_invariants(rise in 1i64..6, fall in 1i64..6, obs in prop::collection::vec(observation(), 0..80)) {
        let mut m = Machine::new(rise, fall);
        let (mut passes, mut fails) = (0i64, 0i64);
        let mut after_disabled = false;
        for o in obs {
            let step = m.observe(o);
            if o.disabled {
                prop_assert_eq!(step.to, State::Disabled);
                passes = 0; fails = 0; after_disabled = true;
                continue;
            }
            if after_disabled {
                // The first iteration after the file goes away ignores its result.
                prop_assert_eq!(step.to, State::Init);
                after_disabled = false;
                continue;
            }
            if o.ok { passes += 1; fails = 0; } else { fails += 1; passes = 0; }
            if step.changed() && step.to == State::Up { prop_assert!(passes >= rise); }
            if step.changed() && step.to == State::Down { prop_assert!(fails >= fall); }
            if passes >= rise { prop_assert_eq!(step.to, State::Up); }
            if fails >= fall { prop_assert_eq!(step.to, State::Down); }
            // A single contrary result never jumps straight across (unless rise/fall is 1).
            if step.from == State::Up && step.to == State::Down { prop_assert_eq!(fall, 1); }
            if step.from == State::Down && step.to == State::Up { prop_assert_eq!(rise, 1); }
        }
    }
}
