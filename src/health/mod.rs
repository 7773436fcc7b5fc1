//! The rise/fall health state machine of ExaBGP's healthcheck, as a pure function.
//!
//! Check results go in, states and transitions come out. There is no I/O and no clock: the caller
//! runs the check, asks [`Machine::observe`] for the next state and [`next_pause`] for how long to
//! wait.

use std::fmt;
use std::time::Duration;

/// A health state. The names print in upper case, as ExaBGP writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// No result yet, or just after the disable file went away.
    Init,
    /// Administratively disabled (the disable file exists).
    Disabled,
    /// Passing, but fewer than `rise` times in a row.
    Rising,
    /// Failing, but fewer than `fall` times in a row.
    Falling,
    /// `rise` passes in a row.
    Up,
    /// `fall` failures in a row.
    Down,
    /// Stopping on a signal: everything is withdrawn.
    Exit,
}

impl State {
    /// The upper-case name ExaBGP uses (and puts in the hooks' `STATE`).
    pub fn name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Disabled => "DISABLED",
            State::Rising => "RISING",
            State::Falling => "FALLING",
            State::Up => "UP",
            State::Down => "DOWN",
            State::Exit => "EXIT",
        }
    }

    /// True for the states that write routes: UP, DOWN, DISABLED (and EXIT).
    pub fn is_emitting(self) -> bool {
        matches!(
            self,
            State::Up | State::Down | State::Disabled | State::Exit
        )
    }

    /// True while counting towards UP or DOWN.
    pub fn is_transitional(self) -> bool {
        matches!(self, State::Rising | State::Falling)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one iteration observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The disable file exists (the check was then not run).
    pub disabled: bool,
    /// The check passed (always true when disabled or when there is no check).
    pub ok: bool,
}

/// A state change, or none (`from == to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The state before the observation.
    pub from: State,
    /// The state after it.
    pub to: State,
}

impl Step {
    /// True when the state changed.
    pub fn changed(&self) -> bool {
        self.from != self.to
    }
}

/// The rise/fall state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    rise: u32,
    fall: u32,
    state: State,
    count: u32,
}

impl Machine {
    /// A machine in INIT. `rise` and `fall` below 1 count as 1, as in ExaBGP.
    pub fn new(rise: i64, fall: i64) -> Self {
        let clamp = |n: i64| u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        Machine {
            rise: clamp(rise),
            fall: clamp(fall),
            state: State::Init,
            count: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Applies one observation and returns the transition (ExaBGP 5.0.15's table, in order).
    pub fn observe(&mut self, obs: Observation) -> Step {
        let from = self.state;
        let to = match (from, obs.disabled, obs.ok) {
            (State::Exit, _, _) => State::Exit,
            // The check ran but its result is ignored: a fresh start.
            (State::Disabled, false, _) => State::Init,
            (_, true, _) => State::Disabled,
            (State::Init | State::Falling | State::Down, _, true) => self.start_rising(),
            (State::Init | State::Rising | State::Up, _, false) => self.start_falling(),
            (State::Rising, _, true) => self.count_towards(State::Up, self.rise),
            (State::Falling, _, false) => self.count_towards(State::Down, self.fall),
            (State::Up, _, true) => State::Up,
            (State::Down, _, false) => State::Down,
        };
        self.state = to;
        Step { from, to }
    }

    /// Moves to EXIT (a signal arrived).
    pub fn exit(&mut self) -> Step {
        let from = self.state;
        self.state = State::Exit;
        Step {
            from,
            to: State::Exit,
        }
    }

    fn start_rising(&mut self) -> State {
        self.count = 1;
        if self.rise <= 1 {
            State::Up
        } else {
            State::Rising
        }
    }

    fn start_falling(&mut self) -> State {
        self.count = 1;
        if self.fall <= 1 {
            State::Down
        } else {
            State::Falling
        }
    }

    fn count_towards(&mut self, target: State, needed: u32) -> State {
        self.count = self.count.saturating_add(1);
        if self.count >= needed {
            target
        } else {
            self.state
        }
    }
}

/// How long to wait after an iteration, or `None` to stop (`--interval 0` outside RISING and
/// FALLING).
pub fn next_pause(state: State, interval: Duration, fast_interval: Duration) -> Option<Duration> {
    if state.is_transitional() {
        Some(fast_interval)
    } else if interval.is_zero() {
        None
    } else {
        Some(interval)
    }
}

/// Whether an iteration writes routes: always in an emitting state, or only on a change with
/// `--debounce`.
pub fn should_emit(step: Step, debounce: bool) -> bool {
    step.to.is_emitting() && (!debounce || step.changed())
}

#[cfg(test)]
mod tests;
