//! movies-service's settings, all from the environment (docs/movies.md, "Configuration").

use marquee_common::{
    ConfigError, Env,
    auth::VerifierConfig,
    config::in_range,
    db::DatabaseConfig,
    http::HttpConfig,
    kafka::{KafkaConfig, consumer::ConsumerConfig, relay::RelayConfig},
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use marquee_proto_events::topics;

use crate::catalogue::CatalogueConfig;

/// The service's name: `ce_source`, consumer group, default `OTEL_SERVICE_NAME`.
pub const SERVICE: &str = "movies-service";
/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 8083;

/// Everything movies-service needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    /// Sessions (token checks).
    pub redis: RedisConfig,
    /// TMDb or the offline catalogue, and the TMDb response cache.
    pub catalogue: CatalogueConfig,
    pub kafka: KafkaConfig,
    pub relay: RelayConfig,
    pub telemetry: TelemetryConfig,
    pub verifier: VerifierConfig,
    /// Consumer of `users.v1` (group `movies-service`; `CONSUMER_*` variables).
    pub consumer: ConsumerConfig,
    /// `WATCHLIST_MAX_ITEMS` (default 5000): the most movies one watchlist may hold.
    pub watchlist_max_items: i64,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            database: DatabaseConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            catalogue: CatalogueConfig::from_env(env)?,
            kafka: KafkaConfig::from_env(env, SERVICE)?,
            relay: RelayConfig::from_env(env)?,
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            verifier: VerifierConfig::from_env(env)?,
            consumer: ConsumerConfig::from_env(env, SERVICE, &[topics::USERS_V1])?,
            watchlist_max_items: in_range(
                "WATCHLIST_MAX_ITEMS",
                env.or("WATCHLIST_MAX_ITEMS", 5000)?,
                1..=1_000_000,
            )?,
        })
    }
}
