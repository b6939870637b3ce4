//! Liveness and readiness.
//!
//! - `GET /health/live`: the process serves HTTP. Kubernetes restarts the pod when it fails.
//! - `GET /health/ready`: whether this instance should get traffic now. 200 unless it is
//!   draining (SIGTERM received) or a dependency it cannot serve without is down; a
//!   dependency the service only degrades without is reported (`degraded`, still 200) but
//!   never takes the instance out of rotation. Checks run concurrently, each within
//!   [`CHECK_TIMEOUT`]; the body names every check, its role and why it failed. The policy
//!   per service and dependency is in docs/operations.md ("Readiness").
//! - [`probe_live`]: the other side, for `<service> healthcheck` — a container image without a
//!   shell or curl asks its own process whether it serves.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use actix_web::{HttpResponse, web};
use futures::future::{BoxFuture, join_all};
use prometheus::{IntGaugeVec, Opts};
use serde::Serialize;

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a check returns: `Err` carries a short reason, safe to show to operators.
pub type CheckFuture<'a> = BoxFuture<'a, Result<(), String>>;

/// Asks the service listening as `config` says for `GET /health/live` and succeeds on a 200
/// within `timeout`. A wildcard `HTTP_HOST` (`0.0.0.0`, `::`) is probed on loopback. Blocking
/// and dependency-free on purpose: it runs as a container's health check command.
pub fn probe_live(config: &super::HttpConfig, timeout: Duration) -> std::io::Result<()> {
    let host = match config.host.as_str() {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        host => host,
    };
    let address = (host, config.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host} resolves to no address")))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    // The status line is all we need: "HTTP/1.1 200 OK".
    let mut head = [0u8; 32];
    let mut read = 0;
    while read < 12 {
        match stream.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    let status_line = String::from_utf8_lossy(&head[..read]);
    match status_line.split(' ').nth(1) {
        Some("200") => Ok(()),
        Some(status) => Err(std::io::Error::other(format!(
            "/health/live answered {status}"
        ))),
        None => Err(std::io::Error::other(
            "/health/live answered no HTTP status",
        )),
    }
}

/// One dependency whose health `/health/ready` reports.
pub trait ReadinessCheck: Send + Sync {
    /// Short stable name shown in the readiness body (`postgres`, `redis`, `kafka`).
    fn name(&self) -> &'static str;
    fn check(&self) -> CheckFuture<'_>;
}

/// Whether a failing check takes the instance out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Without it this instance can serve nothing useful: `/health/ready` answers 503, so
    /// the gateway and Kubernetes send the traffic to an instance that has it.
    Required,
    /// The service degrades without it (the outbox holds events while the broker is away; a
    /// cache miss goes to the database): reported, measured and alerted on, never a reason to
    /// refuse traffic.
    Degrades,
}

/// The checks behind `/health/ready`, each [`Role::Required`] or [`Role::Degrades`], and the
/// instance's draining state (SIGTERM received: [`Readiness::drain`]).
///
/// Every report also sets `dependency_up{dependency}` (1 or 0), so a dependency that only
/// degrades the service is still visible to alerts.
#[derive(Clone)]
pub struct Readiness {
    checks: Vec<(Role, Arc<dyn ReadinessCheck>)>,
    draining: Arc<AtomicBool>,
    up: IntGaugeVec,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.checks.iter().map(|(role, c)| (c.name(), role)))
            .finish()
    }
}

/// The body of `/health/ready`.
#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    /// `ready` (every check up), `degraded` (a [`Role::Degrades`] check down: still 200),
    /// `unavailable` (a required check down: 503) or `draining` (stopping: 503).
    pub status: &'static str,
    pub checks: BTreeMap<&'static str, CheckReport>,
}

impl ReadinessReport {
    /// Whether the instance takes traffic (200).
    pub fn is_ready(&self) -> bool {
        matches!(self.status, "ready" | "degraded")
    }
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// `up` or `down`.
    pub status: &'static str,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    /// No checks yet; `dependency_up` is registered with `metrics`.
    pub fn new(metrics: &super::metrics::Metrics) -> Self {
        let up = IntGaugeVec::new(
            Opts::new(
                "dependency_up",
                "Whether the dependency answered the last readiness check (1) or not (0)",
            ),
            &["dependency", "role"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        metrics.register(up.clone());
        Self {
            checks: Vec::new(),
            draining: Arc::default(),
            up,
        }
    }

    /// Adds a check the instance cannot serve without ([`Role::Required`]).
    pub fn with(self, check: impl ReadinessCheck + 'static) -> Self {
        self.with_role(Role::Required, check)
    }

    /// Adds a check the service degrades without ([`Role::Degrades`]).
    pub fn reporting(self, check: impl ReadinessCheck + 'static) -> Self {
        self.with_role(Role::Degrades, check)
    }

    fn with_role(mut self, role: Role, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push((role, Arc::new(check)));
        self
    }

    /// The instance is stopping: from now on `/health/ready` answers 503 `draining`, so the
    /// gateway and Kubernetes take it out of rotation while it still serves.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Runs every check concurrently.
    pub async fn report(&self) -> ReadinessReport {
        let results = join_all(self.checks.iter().map(|(role, check)| async move {
            let error = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some(reason),
                Err(_) => Some("timed out".into()),
            };
            let role_label = match role {
                Role::Required => "required",
                Role::Degrades => "degrades",
            };
            self.up
                .with_label_values(&[check.name(), role_label])
                .set(i64::from(error.is_none()));
            let report = CheckReport {
                status: if error.is_none() { "up" } else { "down" },
                role: *role,
                error,
            };
            (check.name(), report)
        }))
        .await;
        let down = |wanted: Role| {
            results
                .iter()
                .any(|(_, r)| r.role == wanted && r.error.is_some())
        };
        let status = if self.draining.load(Ordering::Relaxed) {
            "draining"
        } else if down(Role::Required) {
            "unavailable"
        } else if down(Role::Degrades) {
            "degraded"
        } else {
            "ready"
        };
        ReadinessReport {
            status,
            checks: results.into_iter().collect(),
        }
    }
}

pub(super) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "live" }))
}

pub(super) async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let report = readiness.report().await;
    if report.is_ready() {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}
