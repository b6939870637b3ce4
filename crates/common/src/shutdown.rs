//! Shutdown as a value: servers, relays and consumer loops take a [`CancellationToken`] and
//! stop cleanly when it is cancelled — by SIGTERM/Ctrl-C in production ([`on_signal`]), by
//! the test that started them in tests.

use std::time::Duration;

pub use tokio_util::sync::CancellationToken;

/// A token cancelled when the process receives SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Sleeps for `delay` unless `shutdown` comes first; returns whether it did.
pub async fn sleep_or_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}

/// How long the background loops (relay, consumers, tails) may take to stop once the HTTP
/// server has drained. Each stops within a few seconds on its own (the relay within 2 s, a
/// consumer within [`crate::kafka::CONSUMER_CLOSE_TIMEOUT`]); a loop still running after this
/// is abandoned with a warning rather than holding the process until SIGKILL.
pub const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A named background loop, for [`serve`].
pub type NamedTask = (String, futures::future::BoxFuture<'static, ()>);

/// Serves `server` and runs the background `tasks` (relay, consumers) until `shutdown` is
/// cancelled — or until the server stops by itself, which cancels it for the tasks — then
/// lets in-flight requests finish and waits for the tasks to stop (at most
/// [`BACKGROUND_STOP_TIMEOUT`]). Every service's `run_until_stopped`.
pub async fn serve(
    server: actix_web::dev::Server,
    tasks: Vec<NamedTask>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let handle = server.handle();
    let tasks: Vec<_> = tasks
        .into_iter()
        .map(|(name, task)| (name, tokio::spawn(task)))
        .collect();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        handle.stop(true).await;
    });
    let served = server.await;
    shutdown.cancel();
    let deadline = tokio::time::Instant::now() + BACKGROUND_STOP_TIMEOUT;
    for (name, mut task) in tasks {
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            tracing::warn!(
                task = %name,
                timeout = ?BACKGROUND_STOP_TIMEOUT,
                "a background loop did not stop in time; abandoning it"
            );
            task.abort();
        }
    }
    served
}
