//! [`RetryConfig`]: how often and how patiently idempotent requests are repeated.

use std::time::Duration;

use hpc_core::error::Retry;
use http::StatusCode;

/// Retry policy (object_store's shape): exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Repeats after the first attempt (0: never retry).
    pub max_retries: u32,
    /// Wait before the first repeat.
    pub initial_backoff: Duration,
    /// Upper bound of any wait (also caps `Retry-After`).
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryConfig {
    /// No retries at all.
    pub fn none() -> Self {
        RetryConfig { max_retries: 0, ..RetryConfig::default() }
    }

    /// Wait before repeat number `attempt + 1`: doubling, capped, with
    /// jitter between 50 and 100 % so that clients do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base =
            self.initial_backoff.saturating_mul(1u32 << attempt.min(20)).min(self.max_backoff);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let jitter = 0.5 + f64::from(nanos % 1000) / 2000.0;
        base.mul_f64(jitter)
    }
}

/// How an HTTP error status is marked: 429 (too many requests) and 5xx are
/// temporary, except 501 (the server does not implement the method, and will
/// not by the next attempt); everything else is permanent.
pub fn retry_for_status(status: StatusCode) -> Retry {
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
    {
        Retry::Temporary
    } else {
        Retry::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_that_mean_try_later() {
        let retry = |s| retry_for_status(StatusCode::from_u16(s).unwrap());
        assert_eq!(retry(503), Retry::Temporary);
        assert_eq!(retry(429), Retry::Temporary);
        assert_eq!(retry(507), Retry::Temporary);
        assert_eq!(retry(404), Retry::Permanent);
        assert_eq!(retry(501), Retry::Permanent);
        assert_eq!(retry(200), Retry::Permanent);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let r = RetryConfig {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        for (attempt, full) in [(0, 100), (1, 200), (2, 350), (9, 350)] {
            let d = r.backoff(attempt);
            let full = Duration::from_millis(full);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }
}
