//! Marquee's shared kernel: what every service and the gateway need, in one place.
//!
//! | module | concern |
//! |---|---|
//! | [`cache`] | cache-aside in Redis with tag-based invalidation |
//! | [`config`] | environment variables with defaults, validated at boot |
//! | [`telemetry`] | JSON logs with trace ids, OTLP export, W3C propagation |
//! | [`http`] | problem+json errors, request ids, health, metrics, request tracing |
//! | [`db`] | diesel-async pool, embedded migrations, transactions, read replicas |
//! | [`dead_peer`] | how connections notice a server that vanished (keepalive, user timeout) |
//! | [`domain`] | validated values shared by services (e-mail, display name) |
//! | [`redis`] | self-healing Redis connection with bounded, retried commands |
//! | [`rate_limit`] | token-bucket rate limits shared through Redis |
//! | [`kafka`] | CloudEvents envelope, transactional outbox + relay, idempotent consumer |
//! | [`shutdown`] | cancellation on SIGTERM/Ctrl-C |
//! | [`service`] | a service's start-up errors and background loops |
//! | [`retry`] | exponential backoff with jitter |
//!
//! Services depend on this crate and on `marquee-proto-events` (the event contracts); they
//! never talk to rdkafka, diesel's pool or the OpenTelemetry SDK directly for these concerns.

pub mod auth;
pub mod cache;
pub mod config;
pub mod db;
pub mod dead_peer;
pub mod domain;
pub mod encoding;
pub mod http;
pub mod kafka;
pub mod rate_limit;
pub mod redis;
pub mod retry;
pub mod schema;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use config::{ConfigError, Env};

/// Every Marquee process allocates with mimalloc rather than glibc's malloc: per request the
/// gateway spent 13 % of its CPU in glibc's allocator (docs/benchmarks.md), and glibc keeps
/// freed memory in per-thread arenas where a chat instance whose sockets closed never gives
/// it back; mimalloc returns freed pages to the OS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
