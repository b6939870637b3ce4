//! chat-service's settings, all from the environment (docs/chat.md, "Configuration").

use std::time::Duration;

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
use uuid::Uuid;

use crate::attachments::AttachmentConfig;

/// The service's name: `ce_source`, consumer group, default `OTEL_SERVICE_NAME`.
pub const SERVICE: &str = "chat-service";
/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 8084;

/// Everything chat-service needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    /// Sessions (token checks), presence, and the signals between instances.
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    pub relay: RelayConfig,
    pub telemetry: TelemetryConfig,
    pub verifier: VerifierConfig,
    /// Consumer of `users.v1` for the directory of display names (group `chat-service`).
    pub consumer: ConsumerConfig,
    pub chat: ChatConfig,
    pub attachments: AttachmentConfig,
}

/// Limits and timings of the chat itself.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// `CHAT_INSTANCE_ID` (default: random): names this instance in logs and presence
    /// entries.
    pub instance_id: String,
    /// `CHAT_REDIS_PREFIX` (default `chat:`): put in front of every presence key and signal
    /// channel, so deployments (or tests) can share one Redis.
    pub redis_prefix: String,
    /// `CHAT_MAX_BODY_CHARS` (default 4000): longest message text.
    pub max_body_chars: usize,
    /// `CHAT_MAX_FRAME_BYTES` (default 16384): largest client frame accepted; a larger one
    /// gets an error frame. Frames above four times this are refused by the WebSocket codec
    /// and close the connection (1009).
    pub max_frame_bytes: usize,
    /// `CHAT_SEND_QUEUE` (default 256): frames waiting for one socket; beyond it a burst is
    /// paced (messages caught up from history, the newest notification per room), so it can
    /// never hold up a room.
    pub send_queue: usize,
    /// `CHAT_WRITE_TIMEOUT` (default 10s): a socket that has not taken a frame within this
    /// long does not read, and is disconnected (close 4008).
    pub write_timeout: Duration,
    /// `CHAT_SEND_RATE` (default 5 per second) and `CHAT_SEND_BURST` (default 20): how fast
    /// one connection may send messages (typing signals are throttled separately, one per
    /// second per room).
    pub send_rate: f64,
    pub send_burst: u32,
    /// `CHAT_MAX_STRIKES` (default 10): malformed frames and rate-limit violations a
    /// connection may commit (one is forgiven every 6 s) before it is closed (1008).
    pub max_strikes: u32,
    /// `CHAT_HEARTBEAT` (default 10s): how often a connection pings its client and refreshes
    /// its presence.
    pub heartbeat: Duration,
    /// `CHAT_IDLE_TIMEOUT` (default 60s): a client that sends nothing (not even a pong) for
    /// this long is disconnected.
    pub idle_timeout: Duration,
    /// `CHAT_PRESENCE_TTL` (default 30s): how long a presence entry lives without a
    /// heartbeat, i.e. the longest a vanished instance's users stay "online".
    pub presence_ttl: Duration,
    /// `CORS_ALLOWED_ORIGINS` (default none): web origins besides the host itself whose pages
    /// may open sockets ([`marquee_common::http::origin`]).
    pub allowed_origins: Vec<String>,
}

impl ChatConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::defaults();
        let config = Self {
            instance_id: env
                .raw("CHAT_INSTANCE_ID")
                .map_or(defaults.instance_id, str::to_owned),
            redis_prefix: env
                .raw("CHAT_REDIS_PREFIX")
                .map_or(defaults.redis_prefix, str::to_owned),
            max_body_chars: in_range(
                "CHAT_MAX_BODY_CHARS",
                env.or("CHAT_MAX_BODY_CHARS", defaults.max_body_chars)?,
                1..=100_000,
            )?,
            max_frame_bytes: in_range(
                "CHAT_MAX_FRAME_BYTES",
                env.or("CHAT_MAX_FRAME_BYTES", defaults.max_frame_bytes)?,
                1024..=1_048_576,
            )?,
            send_queue: in_range(
                "CHAT_SEND_QUEUE",
                env.or("CHAT_SEND_QUEUE", defaults.send_queue)?,
                8..=65_536,
            )?,
            send_rate: in_range(
                "CHAT_SEND_RATE",
                env.or("CHAT_SEND_RATE", defaults.send_rate)?,
                0.1..=10_000.0,
            )?,
            send_burst: in_range(
                "CHAT_SEND_BURST",
                env.or("CHAT_SEND_BURST", defaults.send_burst)?,
                1..=10_000,
            )?,
            max_strikes: in_range(
                "CHAT_MAX_STRIKES",
                env.or("CHAT_MAX_STRIKES", defaults.max_strikes)?,
                1..=1000,
            )?,
            write_timeout: env.duration_or("CHAT_WRITE_TIMEOUT", defaults.write_timeout)?,
            heartbeat: env.duration_or("CHAT_HEARTBEAT", defaults.heartbeat)?,
            idle_timeout: env.duration_or("CHAT_IDLE_TIMEOUT", defaults.idle_timeout)?,
            presence_ttl: env.duration_or("CHAT_PRESENCE_TTL", defaults.presence_ttl)?,
            allowed_origins: marquee_common::http::origin::allowed_origins_from_env(env)?,
        };
        if config.heartbeat.is_zero() || config.heartbeat * 2 > config.presence_ttl {
            return Err(ConfigError::new(
                "CHAT_HEARTBEAT",
                "must be above zero and at most half of CHAT_PRESENCE_TTL",
            ));
        }
        if config.write_timeout.is_zero() {
            return Err(ConfigError::new("CHAT_WRITE_TIMEOUT", "must be above zero"));
        }
        if config.idle_timeout <= config.heartbeat {
            return Err(ConfigError::new(
                "CHAT_IDLE_TIMEOUT",
                "must be longer than CHAT_HEARTBEAT",
            ));
        }
        Ok(config)
    }

    /// Every default (tests adjust from here).
    pub fn defaults() -> Self {
        Self {
            instance_id: Uuid::now_v7().simple().to_string(),
            redis_prefix: "chat:".into(),
            max_body_chars: 4000,
            max_frame_bytes: 16 * 1024,
            send_queue: 256,
            write_timeout: Duration::from_secs(10),
            send_rate: 5.0,
            send_burst: 20,
            max_strikes: 10,
            heartbeat: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            presence_ttl: Duration::from_secs(30),
            allowed_origins: Vec::new(),
        }
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            database: DatabaseConfig::from_env(env)?,
            redis: RedisConfig::from_env(env)?,
            kafka: KafkaConfig::from_env(env, SERVICE)?,
            relay: RelayConfig::from_env(env)?,
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            verifier: VerifierConfig::from_env(env)?,
            consumer: ConsumerConfig::from_env(env, SERVICE, &[topics::USERS_V1])?,
            chat: ChatConfig::from_env(env)?,
            attachments: AttachmentConfig::from_env(env)?,
        })
    }
}
