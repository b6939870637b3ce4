//! HTTP conventions shared by every service (DESIGN §4).
//!
//! - [`problem`]: RFC 9457 `application/problem+json` errors with stable codes, and the
//!   extractor configs that turn bad JSON, paths and queries into them;
//! - [`request_id`]: `X-Request-Id` kept or generated, echoed, logged and put in error bodies;
//! - [`tracing`]: the request's root span, continuing an incoming W3C trace;
//! - [`health`]: `/health/live` and `/health/ready` with pluggable checks;
//! - [`metrics`]: Prometheus `/metrics` and per-route request metrics;
//! - [`client_ip`]: the client's address behind trusted proxies;
//! - [`header_limits`]: 431 for oversized request headers;
//! - [`origin`]: which web origins may open a WebSocket;
//! - [`idempotency`]: `Idempotency-Key` replays for retried POSTs;
//! - [`pagination`]: keyset pages, `?limit=&cursor=` → `{items, next_cursor}`;
//! - [`openapi`]: what every service's OpenAPI document shares (token security schemes).
//!
//! [`configure`] mounts the operational routes, and [`App`](actix_web::App)s wrap
//! [`request_id::middleware`], [`tracing::logger`] and [`metrics::middleware`].

pub mod client_ip;
pub mod header_limits;
pub mod health;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod origin;
pub mod pagination;
pub mod problem;
pub mod request_id;
pub mod tracing;

use std::{net::TcpListener, time::Duration};

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};

pub use client_ip::{ClientIp, TrustedProxies};
pub use problem::{FieldError, Problem};
pub use request_id::RequestId;

use crate::config::{ConfigError, Env, in_range};

/// `HTTP_KEEP_ALIVE`'s default (nginx's `keepalive_timeout` is the same).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(75);

/// Where and how a service listens.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `HTTP_HOST` (default `0.0.0.0`).
    pub host: String,
    /// `PORT` (default: the service's own, see README).
    pub port: u16,
    /// `HTTP_WORKERS` (default: one per CPU core).
    pub workers: Option<usize>,
    /// `HTTP_DRAIN_DELAY` (default 5s): after SIGTERM, how long the instance keeps serving
    /// with its readiness failing, so the gateway (checks every 2 s) and Kubernetes take it
    /// out of rotation before it stops accepting connections.
    pub drain_delay: Duration,
    /// `HTTP_SHUTDOWN_TIMEOUT` (default 30s): how long in-flight requests may finish once the
    /// drain delay is over.
    pub shutdown_timeout: Duration,
    /// `HTTP_KEEP_ALIVE` (default 75s): how long an idle client connection is kept open.
    /// Longer than any client in front of the service keeps idle connections for reuse (the
    /// gateway: 30 s), so the server never closes a connection at the moment a client sends
    /// on it again — a request lost that way cannot be retried when it is a POST.
    pub keep_alive: Duration,
    /// `HTTP_TRUSTED_PROXY_HOPS` (default 0) and `HTTP_TRUSTED_PROXIES`: the proxies in front
    /// of the service whose `X-Forwarded-For` entries are believed (see [`client_ip`]).
    pub trusted_proxies: TrustedProxies,
}

impl HttpConfig {
    /// 127.0.0.1 on a free port, two workers, no drain delay and a one-second shutdown: for
    /// tests.
    pub fn ephemeral() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            workers: Some(2),
            drain_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(1),
            keep_alive: DEFAULT_KEEP_ALIVE,
            trusted_proxies: TrustedProxies::default(),
        }
    }

    pub fn from_env(env: &Env, default_port: u16) -> Result<Self, ConfigError> {
        let workers = env
            .optional::<usize>("HTTP_WORKERS")?
            .map(|w| in_range("HTTP_WORKERS", w, 1..=512))
            .transpose()?;
        Ok(Self {
            host: env.raw("HTTP_HOST").unwrap_or("0.0.0.0").to_owned(),
            port: env.or("PORT", default_port)?,
            workers,
            drain_delay: env.duration_or("HTTP_DRAIN_DELAY", Duration::from_secs(5))?,
            shutdown_timeout: env.duration_or("HTTP_SHUTDOWN_TIMEOUT", Duration::from_secs(30))?,
            keep_alive: env.duration_or("HTTP_KEEP_ALIVE", DEFAULT_KEEP_ALIVE)?,
            trusted_proxies: TrustedProxies::from_env(env)?,
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
            .service(web::resource("/health/live").get(health::live))
            .service(web::resource("/health/ready").get(health::ready))
            .service(web::resource("/metrics").get(metrics::render));
    }
}

/// The default service of every app: an unknown path is a 404 problem.
///
/// A known path asked with a method it does not serve never gets here: its resource answers
/// 405 with `Allow` ([`method_not_allowed_problem`]). That holds only for routes registered
/// as `web::resource(path).get(…)`; `App::route(path, …)` puts the method guard on the
/// resource itself, and a wrong method would fall through to this 404.
pub async fn not_found() -> Problem {
    Problem::not_found("route_not_found", "No such route")
}

/// Middleware (`App::wrap(from_fn(http::method_not_allowed_problem))`): actix answers a
/// method a resource does not serve with an empty 405 whose `Allow` header lists the ones
/// it does (RFC 9110 §15.5.6); this makes that answer the `method_not_allowed` problem,
/// keeping `Allow`.
pub async fn method_not_allowed_problem(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use actix_web::{ResponseError, http::header};
    let response = next.call(req).await?;
    if response.status() != actix_web::http::StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return Ok(response.map_into_left_body());
    }
    let mut problem = Problem::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This route does not serve that method",
    );
    if let Some(allow) = response.headers().get(header::ALLOW) {
        problem = problem.with_header(header::ALLOW, allow.clone());
    }
    Ok(response
        .into_response(problem.error_response())
        .map_into_right_body())
}

/// The listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct ListenError {
    pub address: String,
    pub source: std::io::Error,
}

/// A bound, not yet awaited, HTTP server.
pub struct Bound {
    /// The port actually bound (`PORT=0` picks a free one).
    pub port: u16,
    pub server: Server,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Binds `config`'s address; returns the listener and the port actually bound.
pub fn listen(config: &HttpConfig) -> Result<(TcpListener, u16), ListenError> {
    let address = format!("{}:{}", config.host, config.port);
    let failed = |source| ListenError {
        address: address.clone(),
        source,
    };
    let listener = TcpListener::bind(&address).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    Ok((listener, port))
}

/// Binds `config`'s address and builds every service's app the same way: the operational
/// routes ([`configure`]), the service's own (`routes`, which also registers its app data),
/// the 404 problem for unknown routes, and the middleware stack (request id outermost, then
/// the request span, then metrics, then the header limits, then 405s as problems). Signals are left to the caller's shutdown token.
pub fn serve_app<F>(
    config: &HttpConfig,
    readiness: health::Readiness,
    metrics: metrics::Metrics,
    routes: F,
) -> Result<Bound, ListenError>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let (listener, port) = listen(config)?;
    let failed = |source| ListenError {
        address: format!("{}:{port}", config.host),
        source,
    };
    let trusted_proxies = config.trusted_proxies.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(trusted_proxies.clone())
            .configure(configure(readiness.clone(), metrics.clone()))
            .configure(routes.clone())
            .default_service(web::to(not_found))
            .wrap(from_fn(method_not_allowed_problem))
            .wrap(from_fn(header_limits::middleware))
            .wrap(from_fn(self::metrics::middleware))
            .wrap(self::tracing::logger())
            .wrap(from_fn(request_id::middleware))
    })
    .listen(listener)
    .map_err(failed)?
    .disable_signals()
    .keep_alive(config.keep_alive)
    .shutdown_timeout(config.shutdown_timeout.as_secs());
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    Ok(Bound {
        port,
        server: server.run(),
    })
}
