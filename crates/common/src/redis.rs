//! Redis: one multiplexed, self-reconnecting connection per process.
//!
//! [`connect`] returns a [`redis::aio::ConnectionManager`] that connects lazily and reconnects
//! with backoff, so a service starts (and reports not-ready) while Redis is down and heals by
//! itself when it returns. Every command has a response timeout, so a stalled Redis turns into
//! an error the caller can degrade on instead of a hung request.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    config::{ConfigError, Env},
    http::health::{CheckFuture, ReadinessCheck},
};

pub use redis::aio::ConnectionManager as RedisConnection;

/// Redis settings.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL` (default `redis://127.0.0.1:6379`); `rediss://` for TLS.
    pub url: SecretString,
    /// `REDIS_TIMEOUT` (default 500ms): per-command response timeout and connect timeout.
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
            timeout: env.duration_or("REDIS_TIMEOUT", Duration::from_millis(500))?,
        })
    }

    /// Settings for the server at `url` with the default timeout.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            timeout: Duration::from_millis(500),
        }
    }
}

/// A lazily connecting, self-healing connection.
pub fn connect(config: &RedisConfig) -> redis::RedisResult<ConnectionManager> {
    let client = redis::Client::open(config.url.expose_secret())?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.timeout))
        .set_response_timeout(Some(config.timeout))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(2));
    ConnectionManager::new_lazy_with_config(client, manager_config)
}

/// Readiness: Redis answers `PING`.
#[derive(Clone)]
pub struct RedisCheck {
    connection: ConnectionManager,
}

impl std::fmt::Debug for RedisCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheck").finish_non_exhaustive()
    }
}

impl RedisCheck {
    pub fn new(connection: ConnectionManager) -> Self {
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
