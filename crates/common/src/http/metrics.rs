//! Prometheus metrics.
//!
//! Each service process has one [`Metrics`]: a registry that every component registers its
//! collectors in (the outbox relay's `outbox_pending`, the consumers' counters, …) and the
//! HTTP RED metrics recorded by [`middleware`]: `http_requests_total{method,route,status}` and
//! `http_request_duration_seconds{method,route}`. `route` is the route *pattern*
//! (`/v1/users/{id}`), never the raw path, so label cardinality stays bounded.

use std::time::Instant;

use actix_web::{
    Error, HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
    proto::MetricType,
};

/// A process's metrics registry plus the HTTP request metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests served"),
            &["method", "route", "status"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let durations = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ],
            ),
            &["method", "route"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let metrics = Self {
            registry,
            requests,
            durations,
        };
        metrics.register(metrics.requests.clone());
        metrics.register(metrics.durations.clone());
        metrics
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a collector. Registering the same metric name twice is a programming error
    /// that the first test catches, so it is logged rather than propagated.
    pub fn register<C: prometheus::core::Collector + 'static>(&self, collector: C) {
        if let Err(error) = self.registry.register(Box::new(collector)) {
            tracing::error!(%error, "metric registered twice");
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// The current value of a gauge or counter by name and labels, for tests and diagnostics
    /// (the first series that carries all the given labels).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.values(name, labels).into_iter().next()
    }

    /// The values of every gauge or counter series of `name` carrying all the given labels.
    pub fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let families = self.registry.gather();
        let Some(family) = families.iter().find(|family| family.name() == name) else {
            return Vec::new();
        };
        let kind = family.get_field_type();
        family
            .get_metric()
            .iter()
            .filter(|metric| {
                labels.iter().all(|(k, v)| {
                    metric
                        .get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                })
            })
            .filter_map(|metric| match kind {
                MetricType::GAUGE => Some(metric.get_gauge().get_value()),
                MetricType::COUNTER => Some(metric.get_counter().get_value()),
                _ => None,
            })
            .collect()
    }
}

pub(super) async fn render(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// Records the RED metrics of every request (`App::wrap(from_fn(metrics::middleware))`).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16().to_string();
        metrics
            .requests
            .with_label_values(&[&method, &route, &status])
            .inc();
        metrics
            .durations
            .with_label_values(&[&method, &route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}
