//! Shutdown as a value: servers, relays and consumer loops take a [`CancellationToken`] and
//! stop cleanly when it is cancelled — by SIGTERM/Ctrl-C in production ([`on_signal`]), by
//! the test that started them in tests.

use std::time::Duration;

use futures::future::BoxFuture;
pub use tokio_util::sync::CancellationToken;

use crate::http::health::Readiness;

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

/// How an instance leaves rotation before it stops: on the shutdown signal its readiness
/// turns to `draining` (503) and it goes on serving for `delay` (`HTTP_DRAIN_DELAY`), long
/// enough for the gateway's health checks and Kubernetes' endpoints to see it go, so no new
/// request is sent to a server that has stopped accepting.
#[derive(Debug, Clone)]
pub struct Drain {
    readiness: Readiness,
    delay: Duration,
}

impl Drain {
    pub fn new(readiness: Readiness, delay: Duration) -> Self {
        Self { readiness, delay }
    }
}

/// A named background loop, for [`serve`]: started with the token that tells it to stop.
pub type NamedTask = (
    String,
    Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>,
);

/// Serves `server` and runs the background `tasks` (relay, consumers, socket closers) until
/// `shutdown` is cancelled — or until the server stops by itself — then:
/// 1. flips readiness to `draining` and keeps serving for the drain delay ([`Drain`]);
/// 2. tells the tasks to stop (a service closes its WebSockets then) and stops accepting
///    connections, letting in-flight requests finish (`HTTP_SHUTDOWN_TIMEOUT`);
/// 3. waits for the tasks to stop, at most [`BACKGROUND_STOP_TIMEOUT`].
///
/// Every service's `run_until_stopped`.
pub async fn serve(
    server: actix_web::dev::Server,
    tasks: Vec<NamedTask>,
    drain: Drain,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let handle = server.handle();
    let stop = CancellationToken::new();
    let tasks: Vec<_> = tasks
        .into_iter()
        .map(|(name, task)| (name, tokio::spawn(task(stop.clone()))))
        .collect();
    let stopping = stop.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        drain.readiness.drain();
        if !drain.delay.is_zero() {
            tracing::info!(delay = ?drain.delay, "draining: out of rotation, still serving");
            tokio::time::sleep(drain.delay).await;
        }
        stopping.cancel();
        handle.stop(true).await;
    });
    let served = server.await;
    stop.cancel();
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
