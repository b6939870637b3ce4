//! auth-service's settings, all from the environment (README, "auth-service").

use std::{path::PathBuf, time::Duration};

use secrecy::SecretString;

use marquee_common::{
    ConfigError, Env,
    auth::VerifierConfig,
    config::in_range,
    db::DatabaseConfig,
    http::HttpConfig,
    kafka::{KafkaConfig, consumer::ConsumerConfig, relay::RelayConfig},
    rate_limit::{FailMode, Quota},
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use marquee_proto_events::topics;

pub use crate::store::throttle::LockoutPolicy;

/// The service's name: `ce_source`, client id, default `OTEL_SERVICE_NAME`.
pub const SERVICE: &str = "auth-service";
/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 8081;

/// Where the signing keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `AUTH_KEYS_DIR`: PEM files (see `keys`); `AUTH_SIGNING_KID` picks the signing one.
    Dir {
        dir: PathBuf,
        signing_kid: Option<String>,
    },
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
    /// `AUTH_COOKIE_SECURE` (default true): the `Secure` attribute of the token cookies.
    /// Browsers accept secure cookies from `http://localhost`; turn it off only for plain-HTTP
    /// hosts other than localhost.
    pub cookie_secure: bool,
}

/// Brute-force protection.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// `AUTH_LOCKOUT_THRESHOLD` (default 5): failed sign-ins per address before it locks.
    pub lockout: LockoutPolicy,
    /// `AUTH_IP_LIMIT_BURST` (default 20) and `AUTH_IP_LIMIT_PER_MINUTE` (default 20): the
    /// per-client-IP budget shared by register, login and password changes.
    pub ip_quota: Quota,
    /// `RATE_LIMIT_FAIL_OPEN` (default `true`): while Redis is down the per-IP budget lapses
    /// — registering keeps working; signing in needs Redis anyway and answers 503.
    pub fail_mode: FailMode,
}

/// `BOOTSTRAP_ADMIN_EMAIL` + `BOOTSTRAP_ADMIN_PASSWORD`: an admin created at start-up if the
/// address is free (see `admin`).
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub email: String,
    pub password: SecretString,
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
    pub throttle: ThrottleConfig,
    /// Consumer of `users.v1` (group `auth-service`; `CONSUMER_*` variables).
    pub consumer: ConsumerConfig,
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// `BCRYPT_COST` (default 12, 4–31).
    pub bcrypt_cost: u32,
    /// `HASH_THREADS` (default: CPUs − 1, at least 1) and `HASH_QUEUE` (default: what the
    /// threads finish within 1 s): the hashing pool, see [`crate::hashing`].
    pub hash_threads: usize,
    pub hash_queue: Option<usize>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let verifier = VerifierConfig::from_env(env)?;
        let keys_dir: Option<PathBuf> = env.optional("AUTH_KEYS_DIR")?;
        let signing_kid = env.raw("AUTH_SIGNING_KID").map(str::to_owned);
        let keys = keys_dir.map(|dir| KeySource::Dir { dir, signing_kid }).ok_or_else(|| {
            ConfigError::new(
                "AUTH_KEYS_DIR",
                "is required: a folder of Ed25519 PEM keys (`auth-service keys generate --dir …`)",
            )
        })?;
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let bootstrap_admin = match (
            env.raw("BOOTSTRAP_ADMIN_EMAIL"),
            env.optional_secret("BOOTSTRAP_ADMIN_PASSWORD")?,
        ) {
            (None, None) => None,
            (Some(email), Some(password)) => Some(BootstrapAdmin {
                email: email.to_owned(),
                password,
            }),
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "BOOTSTRAP_ADMIN_PASSWORD",
                    "is required when BOOTSTRAP_ADMIN_EMAIL is set",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "BOOTSTRAP_ADMIN_EMAIL",
                    "is required when BOOTSTRAP_ADMIN_PASSWORD is set",
                ));
            }
        };
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
                cookie_secure: env.flag_or("AUTH_COOKIE_SECURE", true)?,
            },
            throttle: ThrottleConfig {
                lockout: LockoutPolicy::progressive(in_range(
                    "AUTH_LOCKOUT_THRESHOLD",
                    env.or("AUTH_LOCKOUT_THRESHOLD", 5)?,
                    1..=100,
                )?),
                ip_quota: Quota::from_env(
                    env,
                    "AUTH_IP_LIMIT",
                    Quota {
                        burst: 20,
                        per_minute: 20,
                    },
                )?,
                fail_mode: FailMode::from_env(env, FailMode::Open)?,
            },
            consumer: ConsumerConfig::from_env(env, SERVICE, &[topics::USERS_V1])?,
            bootstrap_admin,
            bcrypt_cost: bcrypt_cost(env)?,
            hash_threads: in_range(
                "HASH_THREADS",
                env.or("HASH_THREADS", cpus.saturating_sub(1).max(1))?,
                1..=256,
            )?,
            hash_queue: env
                .optional::<usize>("HASH_QUEUE")?
                .map(|queue| in_range("HASH_QUEUE", queue, 0..=100_000))
                .transpose()?,
        })
    }
}

fn bcrypt_cost(env: &Env) -> Result<u32, ConfigError> {
    in_range("BCRYPT_COST", env.or("BCRYPT_COST", 12)?, 4..=31)
}

/// What the `admin` subcommands need: the database and the hashing cost.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub database: DatabaseConfig,
    pub bcrypt_cost: u32,
}

impl AdminConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            bcrypt_cost: bcrypt_cost(env)?,
        })
    }
}
