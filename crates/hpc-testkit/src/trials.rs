//! One runner for every conformance suite: each check is its own test (a
//! libtest-mimic trial named `<suite>::<check>`), so one check can be run alone
//! (`cargo nextest run -p itests --test conformance -- sftp::rename`), and a check
//! that does not apply to an adaptor is listed as skipped with the capability it
//! needs instead of passing silently.
//!
//! A suite is a list of [`Check`]s over a fixture type; the test binary (with
//! `harness = false`) collects [`trials`] of each adaptor and hands them to [`run`].
//! Whether a check applies is decided from the capabilities the adaptor declares,
//! before anything connects; the fixture is built inside each trial, so a missing
//! service fails every trial of its suite loudly.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use hpc_core::Result;

pub use libtest_mimic::{Arguments, Conclusion, Trial};

/// What a suite's fixture does around each check.
pub trait Fixture: Send + Sync + 'static {
    /// Prepares the scratch space of the checks (for example creates the root directory).
    fn prepare(&self) -> BoxFuture<'_, Result<()>>;
    /// Cleans up after one check; `passed` is false when it failed (keep evidence then).
    fn finish(&self, passed: bool) -> BoxFuture<'_, ()>;
}

/// A capability a check needs: its name as printed, and how to read it.
pub struct Capability<C> {
    /// Name shown in `skipped (capability: <name>)`.
    pub name: &'static str,
    /// Whether the declared capabilities include it.
    pub present: fn(&C) -> bool,
}

/// One check of a suite over fixtures `F` of adaptors with capabilities `C`.
pub struct Check<F, C: 'static> {
    /// The check's name (the trial is `<suite>::<name>`).
    pub name: &'static str,
    /// What the adaptor must be able to do for the check to apply.
    pub needs: &'static [Capability<C>],
    /// The check: `Err` when an operation that should work fails, a panic when a
    /// result is wrong.
    pub run: for<'a> fn(&'a F) -> BoxFuture<'a, Result<()>>,
}

/// Builds a suite's fixture, once per trial (each trial may run in its own process).
pub type MakeFixture<F> = Arc<dyn Fn() -> BoxFuture<'static, Result<F>> + Send + Sync>;

/// A [`MakeFixture`] from an async closure.
pub fn make_fixture<F, Fut>(make: impl Fn() -> Fut + Send + Sync + 'static) -> MakeFixture<F>
where
    Fut: Future<Output = Result<F>> + Send + 'static,
{
    Arc::new(move || make().boxed())
}

/// The trials of one suite for one adaptor: `<suite>::<check>` for every check,
/// skipped with the missing capability where the declared `caps` lack one.
pub fn trials<F: Fixture, C: 'static>(
    suite: &str,
    caps: &C,
    checks: &'static [Check<F, C>],
    make: MakeFixture<F>,
) -> Vec<Trial> {
    checks
        .iter()
        .map(|check| {
            let name = format!("{suite}::{}", check.name);
            if let Some(missing) = check.needs.iter().find(|c| !(c.present)(caps)) {
                return Trial::test(name, || Ok(()))
                    .with_ignored_flag(true)
                    .with_kind(format!("skipped (capability: {})", missing.name));
            }
            let make = Arc::clone(&make);
            let run = check.run;
            Trial::test(name, move || run_one(&make, run))
        })
        .collect()
}

/// Runs one check on a fresh runtime and fixture.
fn run_one<F: Fixture>(
    make: &MakeFixture<F>,
    run: for<'a> fn(&'a F) -> BoxFuture<'a, Result<()>>,
) -> std::result::Result<(), libtest_mimic::Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    runtime.block_on(async {
        let fixture = make().await.map_err(|e| format!("fixture: {e}"))?;
        fixture.prepare().await.map_err(|e| format!("preparing the fixture: {e}"))?;
        let outcome = AssertUnwindSafe(run(&fixture)).catch_unwind().await;
        let verdict = match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("error: {e}")),
            Err(panic) => Err(panic_message(panic.as_ref())),
        };
        fixture.finish(verdict.is_ok()).await;
        verdict.map_err(Into::into)
    })
}

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs the trials with the command-line arguments of the test binary and exits
/// with libtest's exit code (for `main` of a `harness = false` test).
pub fn run(trials: Vec<Trial>) -> ! {
    libtest_mimic::run(&Arguments::from_args(), trials).exit()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static PREPARED: AtomicUsize = AtomicUsize::new(0);
    static FAILED_FINISHES: AtomicUsize = AtomicUsize::new(0);

    struct Fx;

    impl Fixture for Fx {
        fn prepare(&self) -> BoxFuture<'_, Result<()>> {
            PREPARED.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }.boxed()
        }
        fn finish(&self, passed: bool) -> BoxFuture<'_, ()> {
            if !passed {
                FAILED_FINISHES.fetch_add(1, Ordering::SeqCst);
            }
            async {}.boxed()
        }
    }

    struct Caps {
        rename: bool,
    }

    static CHECKS: &[Check<Fx, Caps>] = &[
        Check { name: "passes", needs: &[], run: |_| async { Ok(()) }.boxed() },
        Check {
            name: "errs",
            needs: &[],
            run: |_| async { Err(hpc_core::Error::InvalidInput("boom".into())) }.boxed(),
        },
        Check { name: "panics", needs: &[], run: |_| async { panic!("wrong result") }.boxed() },
        Check {
            name: "renames",
            needs: &[Capability { name: "rename", present: |c: &Caps| c.rename }],
            run: |_| async { Ok(()) }.boxed(),
        },
    ];

    #[test]
    fn each_check_is_a_trial_and_missing_capabilities_skip() {
        let make = make_fixture(|| async { Ok(Fx) });
        let list = trials("fake", &Caps { rename: false }, CHECKS, make.clone());
        let names: Vec<&str> = list.iter().map(Trial::name).collect();
        assert_eq!(names, ["fake::passes", "fake::errs", "fake::panics", "fake::renames"]);
        assert_eq!(list[3].kind(), "skipped (capability: rename)");
        assert!(list[3].has_ignored_flag());
        let args = Arguments { test_threads: Some(1), quiet: true, ..Arguments::default() };
        let c = libtest_mimic::run(&args, list);
        assert_eq!((c.num_passed, c.num_failed, c.num_ignored), (1, 2, 1));
        assert_eq!(PREPARED.load(Ordering::SeqCst), 3, "one fixture per run check");
        assert_eq!(FAILED_FINISHES.load(Ordering::SeqCst), 2);

        let with_rename = trials("fake", &Caps { rename: true }, CHECKS, make);
        assert!(!with_rename[3].has_ignored_flag());
    }

    #[test]
    fn a_fixture_that_cannot_be_built_fails_its_trials() {
        let make: MakeFixture<Fx> = make_fixture(|| async {
            Err(hpc_core::Error::InvalidInput("service sftp is not running".into()))
        });
        let list = trials("down", &Caps { rename: true }, &CHECKS[..1], make);
        let args = Arguments { quiet: true, ..Arguments::default() };
        assert_eq!(libtest_mimic::run(&args, list).num_failed, 1);
    }
}
