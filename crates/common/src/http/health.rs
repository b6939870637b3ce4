//! Liveness and readiness.
//!
//! - `GET /health/live`: the process serves HTTP. Kubernetes restarts the pod when it fails.
//! - `GET /health/ready`: every dependency check passes (database, Redis, broker, …), each
//!   within [`CHECK_TIMEOUT`], run concurrently. 200 or 503 with the state of each check, so
//!   Kubernetes stops routing to a pod that cannot do its work and an operator sees why.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use actix_web::{HttpResponse, web};
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

/// How long one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a check returns: `Err` carries a short reason, safe to show to operators.
pub type CheckFuture<'a> = BoxFuture<'a, Result<(), String>>;

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
