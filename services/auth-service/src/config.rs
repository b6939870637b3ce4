//! auth-service's settings, all from the environment (README, "auth-service").

use std::{path::PathBuf, time::Duration};

use marquee_common::{
    ConfigError, Env,
    auth::VerifierConfig,
    config::in_range,
    db::DatabaseConfig,
    http::HttpConfig,
    kafka::{KafkaConfig, relay::RelayConfig},
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};

/// The service's name: `ce_source`, client id, default `OTEL_SERVICE_NAME`.
pub const SERVICE: &str = "auth-service";
/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 8081;

/// Where the signing keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `AUTH_KEYS_DIR`: PEM files (see `keys`).
    Dir(PathBuf),
    /// A fresh key per process (tests only: tokens do not survive a restart).
    Generated,
}

/// Token settings.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// `AUTH_ISSUER` / `AUTH_AUDIENCE`, shared with every verifier.
    pub issuer: String,
    pub audience: String,
    /// `AUTH_ACCESS_TTL` (default 15m).
    pub access_ttl: Duration,
    /// `AUTH_REFRESH_TTL` (default 30d): a session unused this long ends.
    pub refresh_ttl: Duration,
    /// `AUTH_REFRESH_GRACE` (default 10s): a just-rotated refresh token still yields the same
    /// successor within this window (concurrent tabs), instead of revoking the session.
    pub refresh_grace: Duration,
    pub keys: KeySource,
}

/// Everything auth-service needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    pub relay: RelayConfig,
    pub telemetry: TelemetryConfig,
    pub tokens: TokenConfig,
    /// `BCRYPT_COST` (default 12, 4–31).
    pub bcrypt_cost: u32,
    /// `HASH_THREADS` (default: CPUs) and `HASH_QUEUE` (default 64): the hashing pool.
    pub hash_threads: usize,
    pub hash_queue: usize,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let verifier = VerifierConfig::from_env(env)?;
        let keys_dir: Option<PathBuf> = env.optional("AUTH_KEYS_DIR")?;
        let keys = keys_dir.map(KeySource::Dir).ok_or_else(|| {
            ConfigError::new(
                "AUTH_KEYS_DIR",
                "is required: a folder of Ed25519 PEM keys (`auth-service keys generate --dir …`)",
            )
        })?;
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            database: DatabaseConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            kafka: KafkaConfig::from_env(env, SERVICE)?,
            relay: RelayConfig::from_env(env)?,
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            tokens: TokenConfig {
                issuer: verifier.issuer,
                audience: verifier.audience,
                access_ttl: env.duration_or("AUTH_ACCESS_TTL", Duration::from_secs(15 * 60))?,
                refresh_ttl: env
                    .duration_or("AUTH_REFRESH_TTL", Duration::from_secs(30 * 24 * 3600))?,
                refresh_grace: env.duration_or("AUTH_REFRESH_GRACE", Duration::from_secs(10))?,
                keys,
            },
            bcrypt_cost: in_range("BCRYPT_COST", env.or("BCRYPT_COST", 12)?, 4..=31)?,
            hash_threads: in_range("HASH_THREADS", env.or("HASH_THREADS", cpus)?, 1..=256)?,
            hash_queue: in_range("HASH_QUEUE", env.or("HASH_QUEUE", 64)?, 0..=100_000)?,
        })
    }
}
