//! gateway: the one origin the frontend talks to (DESIGN §1, §4).
//!
//! A request's way through:
//! 1. `request_id` → request span (continuing the caller's `traceparent`) → common metrics →
//!    CORS → security headers → [`version`] (unversioned paths rewritten to `/v1/…`);
//! 2. the route table ([`routes`], from [`config`]) picks the upstream service; unknown
//!    paths are a 404 problem;
//! 3. [`limits`]: per-IP and per-user buckets of the route's class in Redis (429 with
//!    `Retry-After`, or a short hold for a leaky bucket);
//! 4. [`upstream`] picks an instance (round-robin over the healthy, not ejected ones);
//! 5. [`proxy`] streams the request there and the answer back — or [`websocket`] relays an
//!    upgrade frame by frame.
//!
//! Beside the proxy: `/health/live`, `/health/ready` (every service has an instance in
//! rotation), `/metrics` ([`metrics`]) and `/docs` ([`docs`]). The gateway owns no database
//! and no topic; Redis holds its rate-limit buckets only.
//!
//! [`Application::build`] wires the pieces and binds the listener (port 0 in tests);
//! [`Application::run_until_stopped`] serves until the shutdown token is cancelled.

pub mod config;
mod docs;
mod limits;
mod metrics;
mod proxy;
mod routes;
mod upstream;
mod version;
mod websocket;

use std::time::Duration;

use actix_cors::Cors;
use actix_web::{
    App, HttpServer,
    dev::Server,
    http::header,
    middleware::{DefaultHeaders, from_fn},
    web,
};
use marquee_common::{
    auth::TokenVerifier,
    config::{ConfigError, Env},
    db::EmbeddedMigrations,
    http::{self, TrustedProxies, health::Readiness, metrics::Metrics},
    rate_limit::FailMode,
    redis::{self as redis_conn, RedisCheck},
    service::{Background, Service},
    shutdown::{CancellationToken, Drain},
    telemetry::TelemetryConfig,
};

pub use marquee_common::service::StartupError;

/// How long an idle upstream connection is kept for reuse: well under the services'
/// `HTTP_KEEP_ALIVE` (75 s by default), so an upstream never closes a connection just as the
/// gateway sends a request on it (which, for a POST, could not be retried).
const UPSTREAM_IDLE_REUSE: Duration = Duration::from_secs(30);

use crate::{
    config::{Config, CorsConfig, RouteConfig},
    limits::Limits,
    metrics::GatewayMetrics,
    upstream::{Pools, UpstreamsCheck},
};

/// What every request handler shares (behind `web::Data`).
#[derive(Debug)]
pub struct Gateway {
    routes: Vec<RouteConfig>,
    pools: Pools,
    limits: Limits,
    metrics: GatewayMetrics,
    max_body_bytes: u64,
    max_ws_frame_bytes: usize,
    /// The proxies in front of the gateway, whose `X-Forwarded-*` are extended rather than
    /// replaced.
    trusted_proxies: TrustedProxies,
    /// Origins allowed to open WebSockets besides the gateway's own.
    allowed_origins: Vec<String>,
    /// Cancelled when the gateway stops: relayed WebSockets close with 1001.
    shutdown: CancellationToken,
}

/// A built, not yet running, gateway.
pub struct Application {
    port: u16,
    server: Server,
    background: Background,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Response headers every answer carries unless the upstream set its own.
fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ));
    if hsts {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// CORS for the allowed origins. Requests from other origins are not refused here (the
/// browser refuses to show them their answers); they just get no CORS headers.
fn cors(config: &CorsConfig) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("x-api-version"),
            header::HeaderName::from_static("traceparent"),
            header::HeaderName::from_static("tracestate"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::LOCATION,
            header::ETAG,
            header::CONTENT_DISPOSITION,
            header::HeaderName::from_static("idempotent-replayed"),
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
        ])
        .supports_credentials()
        .max_age(usize::try_from(config.max_age.as_secs()).ok())
        .block_on_origin_mismatch(false);
    for origin in &config.allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

impl Service for Application {
    const NAME: &'static str = config::SERVICE;
    const DEFAULT_PORT: u16 = config::DEFAULT_PORT;
    const MIGRATIONS: Option<EmbeddedMigrations> = None;
    type Config = Config;

    fn config_from_env(env: &Env) -> Result<Config, ConfigError> {
        Config::from_env(env)
    }

    fn telemetry(config: &Config) -> &TelemetryConfig {
        &config.telemetry
    }

    /// Connects Redis (lazily), prepares the pools and binds the listener. Instances join
    /// rotation after their first passing health check, which runs as soon as it serves.
    async fn build(config: Config) -> Result<Self, StartupError> {
        let metrics = Metrics::new();
        let gateway_metrics = GatewayMetrics::register(&metrics);
        let pools = Pools::new(&config.upstreams, &config.health, &gateway_metrics);
        let redis = redis_conn::connect(&config.redis)?;
        let verifier = TokenVerifier::new(config.verifier.clone(), redis.clone());
        let limits = Limits::new(
            redis.clone(),
            &config.limits,
            verifier,
            config.http.trusted_proxies.clone(),
            gateway_metrics.clone(),
        );

        // With no instance in rotation the gateway still tries them (fail open): degraded.
        let mut readiness = Readiness::new(&metrics).reporting(UpstreamsCheck(pools.clone()));
        if config.limits.enabled && config.limits.fail_mode == FailMode::Closed {
            // Without Redis every request would be refused: not ready.
            readiness = readiness.with(RedisCheck::new(redis));
        }
        let relays_shutdown = CancellationToken::new();
        let background = Background::new(Drain::new(readiness.clone(), config.http.drain_delay))
            .with_task("upstream health checks", {
                let pools = pools.clone();
                move |shutdown| pools.check_loop(shutdown)
            })
            .with_task("WebSocket relays' shutdown", {
                let relays = relays_shutdown.clone();
                move |shutdown| async move {
                    shutdown.cancelled().await;
                    relays.cancel();
                }
            });

        let gateway = web::Data::new(Gateway {
            routes: config.routes.clone(),
            pools,
            limits,
            metrics: gateway_metrics,
            max_body_bytes: config.max_body_bytes,
            max_ws_frame_bytes: config.max_ws_frame_bytes,
            trusted_proxies: config.http.trusted_proxies.clone(),
            allowed_origins: config.cors.allowed_origins.clone(),
            shutdown: relays_shutdown,
        });
        let (listener, port) = http::listen(&config.http)?;
        let trusted_proxies = config.http.trusted_proxies.clone();
        let connect_timeout = config.connect_timeout;
        let table = routes::configure(config.routes.clone());
        let cors_config = config.cors.clone();
        let hsts = config.hsts;
        let mut server = HttpServer::new(move || {
            // awc clients are per worker thread; each keeps its own pool of keep-alive
            // connections to the upstreams.
            let client = awc::Client::builder()
                .connector(
                    awc::Connector::new()
                        .timeout(connect_timeout)
                        .limit(0)
                        .conn_keep_alive(UPSTREAM_IDLE_REUSE),
                )
                .disable_redirects()
                .no_default_headers()
                .finish();
            App::new()
                .app_data(trusted_proxies.clone())
                .app_data(gateway.clone())
                .app_data(web::Data::new(client))
                .configure(http::configure(readiness.clone(), metrics.clone()))
                .service(web::resource("/docs").get(docs::docs))
                .configure(table.clone())
                .default_service(web::to(http::not_found))
                .wrap(from_fn(http::method_not_allowed_problem))
                .wrap(from_fn(http::header_limits::middleware))
                .wrap(from_fn(version::middleware))
                .wrap(security_headers(hsts))
                .wrap(cors(&cors_config))
                .wrap(from_fn(http::metrics::middleware))
                .wrap(http::tracing::logger())
                .wrap(from_fn(http::request_id::middleware))
        })
        .listen(listener)
        .map_err(|source| http::ListenError {
            address: format!("{}:{port}", config.http.host),
            source,
        })?
        .disable_signals()
        .keep_alive(config.http.keep_alive)
        .shutdown_timeout(config.http.shutdown_timeout.as_secs());
        if let Some(workers) = config.http.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            background,
        })
    }

    /// The port the listener is bound to.
    fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled: relayed WebSockets are closed with 1001, in-flight
    /// requests drain, and the health checks stop.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        self.background.serve(self.server, shutdown).await
    }
}
