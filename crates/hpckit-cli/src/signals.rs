//! SIGINT, SIGTERM and SIGHUP end every command the same way (ADR 0304).
//!
//! [`run`] races the command against the first of the three signals. When a
//! signal wins, the command's future is dropped, so the guards of whatever it
//! was doing (a staged `.part` file, an S3 multipart upload) start their
//! cleanup; `run` waits for that cleanup ([`hpckit::core::cleanup::finished`],
//! at most [`CLEANUP_LIMIT`]) and ends with the shell's code for the signal:
//! 130, 143 or 129. A second signal during the cleanup ends at once.
//!
//! A command with a graceful stop of its own (unmount, cancel the job it
//! runs, put a token back) holds a [`Graceful`] guard and waits for
//! [`requested`]: then the first signal only asks it to stop, and its own
//! result is the outcome.

use std::future::Future;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::output;

/// How long an interrupted command's cleanup may take before the program
/// ends anyway (what is left then is found by `hpckit fs cleanup`).
pub(crate) const CLEANUP_LIMIT: Duration = Duration::from_secs(30);

/// The first signal received, once there was one.
fn shutdown() -> &'static watch::Sender<Option<i32>> {
    static SHUTDOWN: OnceLock<watch::Sender<Option<i32>>> = OnceLock::new();
    SHUTDOWN.get_or_init(|| watch::Sender::new(None))
}

/// Commands that stop gracefully on their own when asked.
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);

/// While alive, the first signal asks the command to stop ([`requested`])
/// instead of dropping it.
pub(crate) struct Graceful(());

/// Take over the first signal for the rest of the command.
pub(crate) fn graceful() -> Graceful {
    GRACEFUL.fetch_add(1, Ordering::SeqCst);
    Graceful(())
}

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves with the signal number once a stop was asked for.
pub(crate) async fn requested() -> i32 {
    let mut rx = shutdown().subscribe();
    // The sender is a static and never dropped, so this waits for a signal.
    let sig = rx.wait_for(Option::is_some).await.ok().and_then(|s| *s);
    sig.unwrap_or(2)
}

/// The shell's exit code of a program ended by signal `sig`.
pub(crate) fn exit_code(sig: i32) -> ExitCode {
    ExitCode::from(128u8.saturating_add(u8::try_from(sig).unwrap_or(0)))
}

/// The signals that end a command, listened to from the start.
struct Listener {
    kinds: Vec<(i32, &'static str, Signal)>,
}

impl Listener {
    fn new() -> std::io::Result<Self> {
        let mut kinds = Vec::new();
        for (n, name, kind) in [
            (2, "SIGINT", SignalKind::interrupt()),
            (15, "SIGTERM", SignalKind::terminate()),
            (1, "SIGHUP", SignalKind::hangup()),
        ] {
            kinds.push((n, name, signal(kind)?));
        }
        Ok(Listener { kinds })
    }

    /// The next signal: its number and name.
    async fn next(&mut self) -> (i32, &'static str) {
        let waits = self.kinds.iter_mut().map(|(n, name, s)| {
            let (n, name) = (*n, *name);
            Box::pin(async move {
                s.recv().await;
                (n, name)
            })
        });
        futures::future::select_all(waits).await.0
    }
}

/// Run `command` until it ends or a signal stops it (see the module docs);
/// then wait for the cleanup its guards started.
pub(crate) async fn run(command: impl Future<Output = ExitCode>) -> ExitCode {
    let mut listener = match Listener::new() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen to signals; they end hpckit at once");
            let code = command.await;
            hpckit::core::cleanup::finished(CLEANUP_LIMIT).await;
            return code;
        }
    };
    // Boxed, so that dropping it below really drops the command's future.
    let mut command = Box::pin(command);
    let (sig, name) = tokio::select! {
        code = &mut command => {
            // Guards dropped on an error path may still be cleaning up.
            tokio::select! {
                _ = hpckit::core::cleanup::finished(CLEANUP_LIMIT) => {}
                (sig, _) = listener.next() => return exit_code(sig),
            }
            return code;
        }
        s = listener.next() => s,
    };
    shutdown().send_replace(Some(sig));
    if GRACEFUL.load(Ordering::SeqCst) > 0 {
        // The command stops by itself; a second signal does not wait for it.
        return tokio::select! {
            code = &mut command => code,
            (sig, _) = listener.next() => exit_code(sig),
        };
    }
    // Dropping the command makes its guards start their cleanup.
    drop(command);
    output::note(format_args!("interrupted by {name}; cleaning up"));
    tokio::select! {
        done = hpckit::core::cleanup::finished(CLEANUP_LIMIT) => if !done {
            output::note(format_args!(
                "cleanup did not finish within {} s; `hpckit fs cleanup` removes what is left",
                CLEANUP_LIMIT.as_secs()
            ));
        },
        _ = listener.next() => {}
    }
    exit_code(sig)
}
