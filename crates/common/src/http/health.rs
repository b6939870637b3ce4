//! Liveness and readiness.
//!
//! - `GET /health/live`: the process serves HTTP. Kubernetes restarts the pod when it fails.
//! - `GET /health/ready`: every dependency check passes (database, Redis, broker, …), each
//!   within [`CHECK_TIMEOUT`], run concurrently. 200 or 503 with the state of each check, so
//!   Kubernetes stops routing to a pod that cannot do its work and an operator sees why.
//! - [`probe_live`]: the other side, for `<service> healthcheck` — a container image without a
//!   shell or curl asks its own process whether it serves.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    sync::Arc,
    time::Duration,
};

use actix_web::{HttpResponse, web};
use futures::future::{BoxFuture, join_all};
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

/// One dependency whose health decides readiness.
pub trait ReadinessCheck: Send + Sync {
    /// Short stable name shown in the readiness body (`postgres`, `redis`, `kafka`).
    fn name(&self) -> &'static str;
    fn check(&self) -> CheckFuture<'_>;
}

/// The checks behind `/health/ready`.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.checks.iter().map(|c| c.name()))
            .finish()
    }
}

#[derive(Debug, Serialize)]
pub struct ReadinessReport {
    pub status: &'static str,
    pub checks: BTreeMap<&'static str, CheckReport>,
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Runs every check concurrently.
    pub async fn report(&self) -> ReadinessReport {
        let results = join_all(self.checks.iter().map(|check| async move {
            let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
                Ok(Ok(())) => CheckReport {
                    status: "up",
                    error: None,
                },
                Ok(Err(reason)) => CheckReport {
                    status: "down",
                    error: Some(reason),
                },
                Err(_) => CheckReport {
                    status: "down",
                    error: Some("timed out".into()),
                },
            };
            (check.name(), outcome)
        }))
        .await;
        let ready = results.iter().all(|(_, r)| r.error.is_none());
        ReadinessReport {
            status: if ready { "ready" } else { "unavailable" },
            checks: results.into_iter().collect(),
        }
    }
}

pub(super) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "live" }))
}

pub(super) async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let report = readiness.report().await;
    if report.status == "ready" {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}
