//! The mutation loop: seed inputs, mutated copies, each run under
//! `catch_unwind`; a panic is a finding, kept with the input that caused it
//! (shrunk) and the panic's message and place.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use fastrand::Rng;

use crate::Target;
use crate::mutate::mutate;

/// How long a run goes on.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// Mutated inputs until this much time has passed.
    Time(Duration),
    /// Exactly this many mutated inputs (the bounded unit test).
    Count(u64),
}

/// One distinct panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// `file:line:col` of the panic: crashes at one place count once.
    pub place: String,
    /// The panic message.
    pub message: String,
    /// The smallest input found that panics at that place.
    pub input: Vec<u8>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Inputs run (seeds included).
    pub execs: u64,
    /// Distinct panics, in the order found.
    pub crashes: Vec<Crash>,
}

thread_local! {
    /// Set while this thread runs a target: the hook keeps the panic quiet
    /// and records it here instead.
    static CAUGHT: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
    static FUZZING: RefCell<bool> = const { RefCell::new(false) };
}

/// Installs (once) a panic hook that records panics of fuzzed code and
/// leaves every other panic to the previous hook.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if FUZZING.with(|f| *f.borrow()) {
                let place = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_else(|| "unknown place".into());
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                CAUGHT.with(|c| *c.borrow_mut() = Some((place, message)));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `target` on one input; `Some((place, message))` if it panicked.
pub fn run_one(target: &Target, input: &[u8]) -> Option<(String, String)> {
    install_hook();
    FUZZING.with(|f| *f.borrow_mut() = true);
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    FUZZING.with(|f| *f.borrow_mut() = false);
    let caught = CAUGHT.with(|c| c.borrow_mut().take());
    match result {
        Ok(()) => None,
        Err(_) => Some(caught.unwrap_or_else(|| ("unknown place".into(), "(no message)".into()))),
    }
}

/// The seeds, then mutated inputs until `budget` is spent. `before_each` sees
/// every input just before it runs (the runner binary keeps it on disk, so
/// that an abort still names its input).
pub fn fuzz(
    target: &Target,
    seeds: &[Vec<u8>],
    budget: Budget,
    seed: u64,
    mut before_each: impl FnMut(&[u8]),
) -> Outcome {
    let mut rng = Rng::with_seed(seed);
    let mut outcome = Outcome::default();
    let started = Instant::now();
    let mut pool: Vec<Vec<u8>> = if seeds.is_empty() { vec![Vec::new()] } else { seeds.to_vec() };
    let record = |outcome: &mut Outcome, input: &[u8], place: String, message: String| {
        if outcome.crashes.iter().all(|c| c.place != place) {
            let input = shrink(target, input, &place);
            outcome.crashes.push(Crash { place, message, input });
        }
    };
    for input in seeds {
        before_each(input);
        outcome.execs += 1;
        if let Some((place, message)) = run_one(target, input) {
            record(&mut outcome, input, place, message);
        }
    }
    let mut mutated = 0u64;
    loop {
        match budget {
            Budget::Count(n) if mutated >= n => break,
            // The clock is read every 64 inputs: it costs as much as a small parse.
            Budget::Time(d) if mutated.is_multiple_of(64) && started.elapsed() >= d => break,
            _ => {}
        }
        let base = &pool[rng.usize(0..pool.len())];
        let input = mutate(&mut rng, base, &pool);
        before_each(&input);
        mutated += 1;
        outcome.execs += 1;
        if let Some((place, message)) = run_one(target, &input) {
            record(&mut outcome, &input, place, message);
        } else if rng.u8(0..16) == 0 && pool.len() < 4096 {
            // Without coverage feedback, a random share of the inputs that
            // pass becomes new bases: mutations stack beyond four edits.
            pool.push(input);
        }
    }
    outcome
}

/// A smaller input that still panics at `place`: cut halves, then quarters,
/// and so on (bounded, so a slow target cannot stall the run).
fn shrink(target: &Target, input: &[u8], place: &str) -> Vec<u8> {
    let mut best = input.to_vec();
    let mut chunk = best.len() / 2;
    let mut tries = 0;
    while chunk > 0 && tries < 2000 {
        let mut start = 0;
        while start < best.len() && tries < 2000 {
            let mut candidate = best.clone();
            candidate.drain(start..(start + chunk).min(best.len()));
            tries += 1;
            match run_one(target, &candidate) {
                Some((p, _)) if p == place => best = candidate,
                _ => start += chunk,
            }
        }
        chunk /= 2;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picky(data: &[u8]) {
        if data.windows(3).any(|w| w == b"BUG") {
            panic!("found the bug");
        }
    }

    const PICKY: Target = Target { name: "picky", about: "test", run: picky };

    #[test]
    fn a_panic_is_caught_recorded_once_and_shrunk() {
        let seeds = vec![b"xxxxxxxxBUGyyyyyyyy".to_vec(), b"fine".to_vec()];
        let out = fuzz(&PICKY, &seeds, Budget::Count(200), 1, |_| {});
        assert_eq!(out.execs, 202);
        assert_eq!(out.crashes.len(), 1, "{:?}", out.crashes);
        let crash = &out.crashes[0];
        assert_eq!(crash.input, b"BUG");
        assert_eq!(crash.message, "found the bug");
        assert!(crash.place.contains("runner.rs"), "{}", crash.place);
    }

    #[test]
    fn inputs_that_pass_report_nothing() {
        let out = fuzz(&PICKY, &[b"plain".to_vec()], Budget::Count(50), 2, |_| {});
        assert!(out.crashes.iter().all(|c| c.input.windows(3).any(|w| w == b"BUG")));
        assert!(run_one(&PICKY, b"plain").is_none());
    }
}
