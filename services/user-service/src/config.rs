//! user-service's settings, all from the environment (README, "user-service").

use marquee_common::{
    ConfigError, Env,
    auth::VerifierConfig,
    cache::CacheConfig,
    db::DatabaseConfig,
    http::HttpConfig,
    kafka::{KafkaConfig, consumer::ConsumerConfig, relay::RelayConfig},
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use marquee_proto_events::topics;

/// The service's name: `ce_source`, consumer group, default `OTEL_SERVICE_NAME`.
pub const SERVICE: &str = "user-service";
/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 8082;

/// Everything user-service needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    /// Sessions (token checks) and idempotency keys.
    pub redis: RedisConfig,
    /// The profile cache (`CACHE_*`; its own Redis with `CACHE_REDIS_URL`).
    pub cache: CacheConfig,
    pub kafka: KafkaConfig,
    pub relay: RelayConfig,
    pub telemetry: TelemetryConfig,
    pub verifier: VerifierConfig,
    /// Consumer of `users.v1` (group `user-service`; `CONSUMER_*` variables).
    pub consumer: ConsumerConfig,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            database: DatabaseConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            cache: CacheConfig::from_env(env)?,
            kafka: KafkaConfig::from_env(env, SERVICE)?,
            relay: RelayConfig::from_env(env)?,
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            verifier: VerifierConfig::from_env(env)?,
            consumer: ConsumerConfig::from_env(env, SERVICE, &[topics::USERS_V1])?,
        })
    }
}
