//! Waiting for conditions with a deadline.

use std::{future::Future, time::Duration};

const POLL_EVERY: Duration = Duration::from_millis(20);

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    eventually_async(timeout, what, || std::future::ready(check())).await
}

/// Like [`eventually`], with an async check. A check that is itself still running at the
/// deadline fails the wait too.
pub async fn eventually_async<T, F: Future<Output = Option<T>>>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, check()).await {
            Ok(Some(value)) => return value,
            Ok(None) => {}
            Err(_) => panic!(
                "timed out after {timeout:?} waiting for: {what} (the last check never returned)"
            ),
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
