//! Redis: one multiplexed, self-reconnecting connection per process, with bounded waits and
//! retries.
//!
//! [`connect`] returns a [`RedisConnection`]: a [`ConnectionManager`] that connects lazily
//! (warming itself up in the background) and reconnects, so a service starts (and reports
//! not-ready) while Redis is down and heals by itself when it returns.
//!
//! ## Budgets
//!
//! A healthy Redis answers in well under a millisecond; the bounds only decide when it
//! counts as down, and must stay far above the scheduling delays of a busy machine (a
//! service under load, a CI runner) while leaving most of a request's budget (the gateway
//! waits 15 s for an upstream) to the rest of the request:
//!
//! - each attempt of a command, and each attempt to connect, may take `REDIS_TIMEOUT`
//!   (default 1 s);
//! - a transient failure (a timeout, a dropped or refused connection) is tried again, after
//!   50 ms and then 200 ms: at most [`ATTEMPTS`] attempts, so a command gives up after at
//!   most 3 × `REDIS_TIMEOUT` + 250 ms, and at once when Redis refuses connections;
//! - anything else (a script error, a wrong type) is returned at once.
//!
//! Retrying is safe for how Marquee uses Redis: reads and `SET`/`DEL`/`EXPIRE` are
//! idempotent; refresh-token rotation replays its result within the grace window; counters
//! (sign-in attempts, rate-limit buckets) may count a retried attempt twice, which errs on
//! the strict side.

use std::time::Duration;

use redis::{
    Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    io::tcp::{TcpSettings, socket2},
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::{ConfigError, Env},
    dead_peer,
    http::health::{CheckFuture, ReadinessCheck},
};

/// Attempts per command, the first included (see the module docs).
pub const ATTEMPTS: usize = 3;
/// The pauses before the second and third attempt.
const RETRY_DELAYS: [Duration; ATTEMPTS - 1] =
    [Duration::from_millis(50), Duration::from_millis(200)];
/// `REDIS_TIMEOUT`'s default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Redis settings.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL` (default `redis://127.0.0.1:6379`); `rediss://` for TLS.
    pub url: SecretString,
    /// `REDIS_TIMEOUT` (default 1s): how long one attempt of a command, or of connecting,
    /// may take (see the module docs for the budget).
    pub timeout: Duration,
}

impl RedisConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Self::from_env_var(env, "REDIS_URL")
    }

    /// Settings for a Redis named by `variable` (`CACHE_REDIS_URL`, say), falling back to
    /// `REDIS_URL` and then to the default when it is unset.
    pub fn from_env_var(env: &Env, variable: &str) -> Result<Self, ConfigError> {
        let url = match env.optional_secret(variable)? {
            Some(url) => url,
            None => env
                .optional_secret("REDIS_URL")?
                .unwrap_or_else(|| SecretString::from("redis://127.0.0.1:6379")),
        };
        redis::Client::open(url.expose_secret())
            .map_err(|_| ConfigError::new(variable, "must be a redis:// or rediss:// URL"))?;
        Ok(Self {
            url,
            timeout: env.duration_or("REDIS_TIMEOUT", DEFAULT_TIMEOUT)?,
        })
    }

    /// Settings for the server at `url` with the default timeout.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A client for `config`'s server whose connections notice a vanished server
/// ([`crate::dead_peer`]). For connections of their own, such as a pub/sub subscription; every
/// other use goes through [`connect`].
pub fn client(config: &RedisConfig) -> redis::RedisResult<redis::Client> {
    let info = config
        .url
        .expose_secret()
        .into_connection_info()?
        .set_tcp_settings(tcp_settings());
    redis::Client::open(info)
}

/// A lazily connecting, self-healing connection whose commands retry transient failures.
/// Inside a Tokio runtime it starts connecting at once, in the background, so the first
/// requests do not pay for the connection and its I/O task runs on that runtime (not on
/// whichever HTTP worker happens to send the first command).
pub fn connect(config: &RedisConfig) -> redis::RedisResult<RedisConnection> {
    let client = client(config)?;
    // No reconnect attempts inside the manager: a failed connect is one failed attempt of
    // the command waiting for it, and `RedisConnection` decides about trying again.
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.timeout))
        .set_response_timeout(Some(config.timeout))
        .set_number_of_retries(0);
    let connection = RedisConnection {
        manager: ConnectionManager::new_lazy_with_config(client, manager_config)?,
        attempt_timeout: config.timeout,
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        let mut warm = connection.clone();
        tokio::spawn(async move {
            let _ = redis::cmd("PING")
                .query_async::<()>(&mut warm.manager)
                .await;
        });
    }
    Ok(connection)
}

/// The process's Redis connection: cheap to clone (every clone shares one multiplexed
/// connection), usable wherever redis-rs takes an async connection. See the module docs for
/// its timeouts and retries.
#[derive(Clone)]
pub struct RedisConnection {
    manager: ConnectionManager,
    /// `REDIS_TIMEOUT`: one attempt's bound.
    attempt_timeout: Duration,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConnection").finish_non_exhaustive()
    }
}

/// Whether `error` says Redis could not be reached or did not answer in time, rather than
/// that it refused the command.
fn is_transient(error: &RedisError) -> bool {
    error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_io_error()
}

impl RedisConnection {
    /// How long one attempt may take (`REDIS_TIMEOUT`): for callers that would rather
    /// degrade at once than wait for the retries.
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// Runs `attempt` (on a handle of the shared connection) until it succeeds, fails for a
    /// reason other than reaching Redis, or has been tried [`ATTEMPTS`] times.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> redis::RedisResult<T>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let mut delays = RETRY_DELAYS.iter();
        loop {
            match attempt(self.manager.clone()).await {
                Err(error) if is_transient(&error) => match delays.next() {
                    Some(delay) => {
                        tracing::debug!(%error, "Redis command failed; trying again");
                        tokio::time::sleep(*delay).await;
                    }
                    None => return Err(error),
                },
                result => return result,
            }
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(
            self.with_retries(
                move |mut manager| async move { manager.req_packed_command(cmd).await },
            ),
        )
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.with_retries(move |mut manager| async move {
            manager.req_packed_commands(pipeline, offset, count).await
        }))
    }

    fn get_db(&self) -> i64 {
        self.manager.get_db()
    }
}

fn tcp_settings() -> TcpSettings {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(dead_peer::KEEPALIVE_IDLE)
        .with_interval(dead_peer::KEEPALIVE_INTERVAL);
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    let keepalive = keepalive.with_retries(dead_peer::KEEPALIVE_RETRIES);
    let settings = TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive);
    #[cfg(target_os = "linux")]
    let settings = settings.set_user_timeout(dead_peer::TCP_USER_TIMEOUT);
    settings
}

/// Readiness: Redis answers `PING`.
#[derive(Clone)]
pub struct RedisCheck {
    connection: RedisConnection,
}

impl std::fmt::Debug for RedisCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheck").finish_non_exhaustive()
    }
}

impl RedisCheck {
    pub fn new(connection: RedisConnection) -> Self {
        Self { connection }
    }
}

impl ReadinessCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn check(&self) -> CheckFuture<'_> {
        let mut connection = self.connection.clone();
        Box::pin(async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
                .map_err(|_| "no PONG".to_owned())
        })
    }
}
