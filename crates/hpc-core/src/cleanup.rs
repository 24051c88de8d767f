//! Cleanup that must run to its end although the operation that needed it
//! was dropped: the staged `.part` file of an interrupted write, the
//! multipart upload of a cancelled S3 copy.
//!
//! A guard ([`OnDrop`]) holds the cleanup as a future that has not started;
//! when the guard is dropped while armed (the operation was cancelled by
//! dropping its future), the cleanup is spawned and counted here. A program
//! that ends because of a signal drops its work and then awaits
//! [`finished`], so no counted cleanup is cut off by the exit. Tasks whose
//! abort can start cleanup (the files of a tree copy, each in its own task)
//! are wrapped in [`tracked`], so that [`finished`] also waits until the
//! runtime has actually dropped them (ADR 0304).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let removed = Arc::new(AtomicBool::new(false));
//! let flag = removed.clone();
//! let write = async move {
//!     let _guard = hpc_core::cleanup::OnDrop::new(async move { flag.store(true, Ordering::SeqCst) });
//!     std::future::pending::<()>().await; // a transfer that never ends
//! };
//! // Cancelled: the write is dropped half-way, its guard starts the cleanup.
//! let _ = tokio::time::timeout(Duration::from_millis(1), write).await;
//! assert!(hpc_core::cleanup::finished(Duration::from_secs(5)).await);
//! assert!(removed.load(Ordering::SeqCst));
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;

/// The number of cleanups and tracked tasks still running.
fn pending() -> &'static watch::Sender<usize> {
    static PENDING: OnceLock<watch::Sender<usize>> = OnceLock::new();
    PENDING.get_or_init(|| watch::Sender::new(0))
}

/// Counts one pending piece of work while it lives.
struct Token(());

impl Token {
    fn new() -> Self {
        pending().send_modify(|n| *n += 1);
        Token(())
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        pending().send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Run `cleanup` in a task of the current runtime, counted until it ends.
/// Outside a runtime there is nothing to run it on, and it is dropped.
pub fn spawn(cleanup: impl Future<Output = ()> + Send + 'static) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let token = Token::new();
        rt.spawn(async move {
            cleanup.await;
            drop(token);
        });
    }
}

/// Wait until every spawned cleanup and every [`tracked`] task has ended,
/// at most `limit`; false when the limit was reached first.
pub async fn finished(limit: Duration) -> bool {
    let mut rx = pending().subscribe();
    tokio::time::timeout(limit, rx.wait_for(|n| *n == 0)).await.is_ok_and(|r| r.is_ok())
}

/// Cleanup that runs when the guard is dropped while armed; [`disarm`](Self::disarm)
/// it once the operation has succeeded or has cleaned up by itself.
#[must_use = "the cleanup runs when the guard is dropped"]
pub struct OnDrop {
    cleanup: Option<BoxFuture<'static, ()>>,
}

impl OnDrop {
    /// A guard for `cleanup`, which does not start before the guard is dropped.
    pub fn new(cleanup: impl Future<Output = ()> + Send + 'static) -> Self {
        OnDrop { cleanup: Some(Box::pin(cleanup)) }
    }

    /// Nothing to clean up any more.
    pub fn disarm(&mut self) {
        self.cleanup = None;
    }

    /// Run the cleanup now (on an error path that can still await it).
    pub async fn run_now(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup.await;
        }
    }
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            spawn(cleanup);
        }
    }
}

impl std::fmt::Debug for OnDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnDrop").field("armed", &self.cleanup.is_some()).finish()
    }
}

/// `task`, counted by [`finished`] until it has ended or been dropped (after
/// whatever cleanup its guards spawned on the way has been counted).
pub fn tracked<F: Future + Send + 'static>(task: F) -> impl Future<Output = F::Output> + Send {
    Tracked { task: Box::pin(task), _token: Token::new() }
}

/// Fields drop in order: the task (whose guards count their cleanup) before the token.
struct Tracked<F> {
    task: Pin<Box<F>>,
    _token: Token,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.task.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn aborted_tracked_tasks_finish_their_cleanup_before_finished_returns() {
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let done = done.clone();
            tasks.spawn(tracked(async move {
                let _guard = OnDrop::new(async move {
                    tokio::task::yield_now().await;
                    done.fetch_add(1, Ordering::SeqCst);
                });
                std::future::pending::<()>().await;
            }));
        }
        tokio::task::yield_now().await;
        drop(tasks);
        assert!(finished(Duration::from_secs(10)).await);
        assert_eq!(done.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_disarmed_guard_does_nothing() {
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let mut g = OnDrop::new(async move {
            d.fetch_add(1, Ordering::SeqCst);
        });
        g.disarm();
        drop(g);
        assert!(finished(Duration::from_secs(10)).await);
        assert_eq!(done.load(Ordering::SeqCst), 0);
    }
}
