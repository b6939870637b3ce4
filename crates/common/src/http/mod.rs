//! HTTP conventions shared by every service (DESIGN §4).
//!
//! - [`problem`]: RFC 9457 `application/problem+json` errors with stable codes, and the
//!   extractor configs that turn bad JSON, paths and queries into them;
//! - [`request_id`]: `X-Request-Id` kept or generated, echoed, logged and put in error bodies;
//! - [`tracing`]: the request's root span, continuing an incoming W3C trace;
//! - [`health`]: `/health/live` and `/health/ready` with pluggable checks;
//! - [`metrics`]: Prometheus `/metrics` and per-route request metrics;
//! - [`client_ip`]: the client's address behind trusted proxies;
//! - [`idempotency`]: `Idempotency-Key` replays for retried POSTs.
//!
//! [`configure`] mounts the operational routes, and [`App`](actix_web::App)s wrap
//! [`request_id::middleware`], [`tracing::logger`] and [`metrics::middleware`].

pub mod client_ip;
pub mod health;
pub mod idempotency;
pub mod metrics;
pub mod problem;
pub mod request_id;
pub mod tracing;

use std::time::Duration;

use actix_web::web;

pub use client_ip::{ClientIp, TrustedProxyHops};
pub use problem::{FieldError, Problem};
pub use request_id::RequestId;

use crate::config::{ConfigError, Env, in_range};

/// Where and how a service listens.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `HTTP_HOST` (default `0.0.0.0`).
    pub host: String,
    /// `PORT` (default: the service's own, see README).
    pub port: u16,
    /// `HTTP_WORKERS` (default: one per CPU core).
    pub workers: Option<usize>,
    /// `HTTP_SHUTDOWN_TIMEOUT` (default 30s): how long in-flight requests may finish after
    /// SIGTERM.
    pub shutdown_timeout: Duration,
    /// `HTTP_TRUSTED_PROXY_HOPS` (default 0): proxies in front of the service whose
    /// `X-Forwarded-For` entries are believed (see [`client_ip`]).
    pub trusted_proxy_hops: usize,
}

impl HttpConfig {
    pub fn from_env(env: &Env, default_port: u16) -> Result<Self, ConfigError> {
        let workers = env
            .optional::<usize>("HTTP_WORKERS")?
            .map(|w| in_range("HTTP_WORKERS", w, 1..=512))
            .transpose()?;
        Ok(Self {
            host: env.raw("HTTP_HOST").unwrap_or("0.0.0.0").to_owned(),
            port: env.or("PORT", default_port)?,
            workers,
            shutdown_timeout: env.duration_or("HTTP_SHUTDOWN_TIMEOUT", Duration::from_secs(30))?,
            trusted_proxy_hops: in_range(
                "HTTP_TRUSTED_PROXY_HOPS",
                env.or("HTTP_TRUSTED_PROXY_HOPS", 0)?,
                0..=16,
            )?,
        })
    }
}

/// Mounts `/health/live`, `/health/ready` and `/metrics`, registers the extractor configs that
/// answer bad input with problem+json, and answers unknown routes with a 404 problem.
pub fn configure(
    readiness: health::Readiness,
    metrics: metrics::Metrics,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(problem::json_config())
            .app_data(problem::path_config())
            .app_data(problem::query_config())
            .app_data(web::Data::new(readiness))
            .app_data(web::Data::new(metrics))
            .route("/health/live", web::get().to(health::live))
            .route("/health/ready", web::get().to(health::ready))
            .route("/metrics", web::get().to(metrics::render));
    }
}

/// The default service of every app: unknown routes are a 404 problem.
pub async fn not_found() -> Problem {
    Problem::not_found("route_not_found", "No such route")
}
