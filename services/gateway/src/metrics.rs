//! The gateway's own Prometheus metrics, beside the common `http_requests_total` /
//! `http_request_duration_seconds` (labelled by route pattern):
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `gateway_upstream_requests_total` | `service`, `instance`, `status` | requests answered by an upstream |
//! | `gateway_upstream_duration_seconds` | `service`, `instance` | until the upstream's response head (or upgrade) |
//! | `gateway_upstream_errors_total` | `service`, `instance`, `kind` | `connect`, `reset` (closed before answering), `timeout`, `response`, `no_instance` |
//! | `gateway_upstream_healthy` | `service`, `instance` | 1 while the instance is in rotation |
//! | `gateway_upstream_ejections_total` | `service`, `instance` | passive ejections after connect failures |
//! | `gateway_rate_limited_total` | `class`, `key` | requests refused with 429 (`key`: `ip` or `user`) |
//! | `gateway_websockets_open` | `service` | WebSocket connections being relayed |

use std::time::Duration;

use marquee_common::http::metrics::Metrics;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

/// Handles on the gateway's collectors; cheap to clone.
#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    requests: IntCounterVec,
    durations: HistogramVec,
    errors: IntCounterVec,
    healthy: IntGaugeVec,
    ejections: IntCounterVec,
    rate_limited: IntCounterVec,
    websockets: IntGaugeVec,
}

impl Default for GatewayMetrics {
    /// Unregistered collectors (unit tests).
    fn default() -> Self {
        Self::unregistered()
    }
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"))
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"))
}

impl GatewayMetrics {
    fn unregistered() -> Self {
        Self {
            requests: counter(
                "gateway_upstream_requests_total",
                "Requests answered by an upstream",
                &["service", "instance", "status"],
            ),
            durations: HistogramVec::new(
                HistogramOpts::new(
                    "gateway_upstream_duration_seconds",
                    "Time until the upstream's response head",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ]),
                &["service", "instance"],
            )
            .unwrap_or_else(|e| unreachable!("static metric definition: {e}")),
            errors: counter(
                "gateway_upstream_errors_total",
                "Upstream failures by kind",
                &["service", "instance", "kind"],
            ),
            healthy: gauge(
                "gateway_upstream_healthy",
                "1 while the instance is in rotation",
                &["service", "instance"],
            ),
            ejections: counter(
                "gateway_upstream_ejections_total",
                "Instances taken out of rotation after connect failures",
                &["service", "instance"],
            ),
            rate_limited: counter(
                "gateway_rate_limited_total",
                "Requests refused by a rate limit",
                &["class", "key"],
            ),
            websockets: gauge(
                "gateway_websockets_open",
                "WebSocket connections being relayed",
                &["service"],
            ),
        }
    }

    /// The collectors, registered in the process's registry.
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self::unregistered();
        metrics.register(this.requests.clone());
        metrics.register(this.durations.clone());
        metrics.register(this.errors.clone());
        metrics.register(this.healthy.clone());
        metrics.register(this.ejections.clone());
        metrics.register(this.rate_limited.clone());
        metrics.register(this.websockets.clone());
        this
    }

    pub fn answered(&self, service: &str, instance: &str, status: u16, took: Duration) {
        self.requests
            .with_label_values(&[service, instance, &status.to_string()])
            .inc();
        self.durations
            .with_label_values(&[service, instance])
            .observe(took.as_secs_f64());
    }

    pub fn upstream_error(&self, service: &str, instance: &str, kind: &str) {
        self.errors
            .with_label_values(&[service, instance, kind])
            .inc();
    }

    pub fn set_healthy(&self, service: &str, instance: &str, healthy: bool) {
        self.healthy
            .with_label_values(&[service, instance])
            .set(i64::from(healthy));
    }

    pub fn ejected(&self, service: &str, instance: &str) {
        self.ejections.with_label_values(&[service, instance]).inc();
        self.set_healthy(service, instance, false);
    }

    pub fn rate_limited(&self, class: &str, key: &str) {
        self.rate_limited.with_label_values(&[class, key]).inc();
    }

    /// Counts an open WebSocket until the returned guard is dropped.
    pub fn websocket_opened(&self, service: &str) -> WebSocketGuard {
        let gauge = self.websockets.with_label_values(&[service]);
        gauge.inc();
        WebSocketGuard(gauge)
    }
}

/// Decrements `gateway_websockets_open` when the relay ends.
#[derive(Debug)]
pub struct WebSocketGuard(prometheus::IntGauge);

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}
