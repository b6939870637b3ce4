//! Logs and traces.
//!
//! [`init`] installs one global `tracing` subscriber per process:
//! - JSON log lines on stdout (or human-readable ones with `LOG_FORMAT=pretty`), filtered by
//!   `RUST_LOG`, each carrying the OpenTelemetry `traceId`/`spanId` of the span it was
//!   written in, so a log line leads to its trace in Jaeger;
//! - an OpenTelemetry layer, always: spans get real trace ids even when nothing is exported,
//!   so ids propagate across services regardless. Spans are exported over OTLP/HTTP only when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set (e.g. `http://jaeger:4318`).
//!
//! Propagation uses W3C Trace Context (`traceparent`, `tracestate`) everywhere: on HTTP
//! requests ([`extract_http`]) and on Kafka records (via the outbox, which captures
//! [`current_context_headers`] at enqueue time, and the consumer, which continues the trace
//! with [`extract`]).

use std::collections::HashMap;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Registry, layer::SubscriberExt};

use crate::config::{ConfigError, Env};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for machines (the default).
    Json,
    /// Coloured multi-field lines, for people at a terminal.
    Pretty,
}

/// Telemetry settings.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`; defaults to the binary's own name.
    pub service_name: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: base URL of an OTLP/HTTP collector; unset = no export.
    pub otlp_endpoint: Option<String>,
    /// `LOG_FORMAT`: `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// `RUST_LOG`: an `EnvFilter` directive; default `info`.
    pub log_filter: String,
}

impl TelemetryConfig {
    /// JSON logs at `info`, no export: for tests.
    pub fn for_tests(service_name: &str) -> Self {
        Self {
            service_name: service_name.to_owned(),
            otlp_endpoint: None,
            log_format: LogFormat::Json,
            log_filter: "info".into(),
        }
    }

    pub fn from_env(env: &Env, default_service_name: &str) -> Result<Self, ConfigError> {
        let log_format = match env
            .raw("LOG_FORMAT")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("unknown format {other:?}; use json or pretty"),
                ));
            }
        };
        let log_filter = env.raw("RUST_LOG").unwrap_or("info").to_owned();
        EnvFilter::try_new(&log_filter)
            .map_err(|e| ConfigError::new("RUST_LOG", format!("invalid filter: {e}")))?;
        let otlp_endpoint = env.raw("OTEL_EXPORTER_OTLP_ENDPOINT").map(str::to_owned);
        if let Some(endpoint) = &otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "must be an http:// or https:// URL of an OTLP/HTTP collector (port 4318)",
            ));
        }
        Ok(Self {
            service_name: env
                .raw("OTEL_SERVICE_NAME")
                .unwrap_or(default_service_name)
                .to_owned(),
            otlp_endpoint,
            log_format,
            log_filter,
        })
    }
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid RUST_LOG filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Keeps the tracer provider alive; dropping it flushes the spans still buffered.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            // The subscriber may be gone already; stderr is the only place left.
            eprintln!("telemetry: flushing spans failed: {error}");
        }
    }
}

/// A subscriber configured from `config`, not yet installed. [`init`] installs it globally;
/// tests install it for a scope with `tracing::subscriber::set_default`.
pub fn subscriber(
    config: &TelemetryConfig,
) -> Result<
    (
        impl tracing::Subscriber + Send + Sync + 'static,
        TelemetryGuard,
    ),
    TelemetryError,
> {
    subscriber_writing_to(config, std::io::stdout)
}

/// Like [`subscriber`], with log lines going to `writer` instead of stdout.
pub fn subscriber_writing_to<W>(
    config: &TelemetryConfig,
    writer: W,
) -> Result<
    (
        impl tracing::Subscriber + Send + Sync + 'static,
        TelemetryGuard,
    ),
    TelemetryError,
>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let mut provider = SdkTracerProvider::builder().with_resource(
        Resource::builder()
            .with_service_name(config.service_name.clone())
            .build(),
    );
    if let Some(endpoint) = &config.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    let tracer = provider.tracer(config.service_name.clone());

    let filter = EnvFilter::try_new(&config.log_filter)?;
    // A span is entered and left on every poll of an instrumented future (a WebSocket's
    // response body is polled within its request span for each frame): its busy and idle
    // times are not worth two clock reads each time. (The activated context stays: the JSON
    // log lines take their trace and span ids from it.)
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false);
    let (json, pretty) = match config.log_format {
        LogFormat::Json => {
            let layer = json_subscriber::layer()
                .with_current_span(false)
                .with_span_list(false)
                .with_opentelemetry_ids(true)
                .with_writer(writer);
            (Some(layer), None)
        }
        LogFormat::Pretty => (
            None,
            Some(tracing_subscriber::fmt::layer().with_writer(writer)),
        ),
    };
    let subscriber = Registry::default()
        .with(filter)
        .with(otel)
        .with(json)
        .with(pretty);
    Ok((subscriber, TelemetryGuard { provider }))
}

/// Installs the process-wide subscriber and the W3C propagator. Call once, first thing in
/// `main`; keep the guard until the process ends.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let (subscriber, guard) = subscriber(config)?;
    tracing::subscriber::set_global_default(subscriber)?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(guard.provider.clone());
    Ok(guard)
}

/// The W3C headers (`traceparent`, and `tracestate` when set) of a context.
pub fn inject(cx: &Context) -> HashMap<String, String> {
    let mut headers = HashMap::new();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(cx, &mut MapInjector(&mut headers));
    }
    headers
}

/// The W3C headers of the current `tracing` span; empty outside any traced span.
pub fn current_context_headers() -> HashMap<String, String> {
    inject(&tracing::Span::current().context())
}

/// The context carried by W3C headers given as `(name, value)` pairs (names compared
/// case-insensitively). Unknown or malformed headers give an empty context.
pub fn extract<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Context {
    let map: HashMap<String, String> = headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    TraceContextPropagator::new().extract(&MapExtractor(&map))
}

/// The context carried by an HTTP request's headers.
pub fn extract_http(headers: &actix_web::http::header::HeaderMap) -> Context {
    extract(
        headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    )
}

/// Makes `span` a child of the remote context in `cx` (no-op for an empty context).
pub fn set_remote_parent(span: &tracing::Span, cx: Context) {
    if cx.span().span_context().is_valid() {
        // Fails only when the span is disabled, in which case there is nothing to link.
        let _ = span.set_parent(cx);
    }
}

/// The trace id of the current span as 32 lower-case hex digits, when there is one.
pub fn current_trace_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span_context = cx.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

struct MapInjector<'a>(&'a mut HashMap<String, String>);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct MapExtractor<'a>(&'a HashMap<String, String>);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn w3c_headers_round_trip() {
        let cx = extract([("TraceParent", TRACEPARENT)]);
        assert!(cx.span().span_context().is_remote());
        assert_eq!(
            inject(&cx).get("traceparent").map(String::as_str),
            Some(TRACEPARENT)
        );
    }

    #[test]
    fn malformed_headers_give_an_empty_context() {
        let cx = extract([("traceparent", "not-a-trace")]);
        assert!(!cx.span().span_context().is_valid());
        assert!(inject(&cx).is_empty());
    }

    #[test]
    fn config_rejects_unknown_log_formats_and_bad_endpoints() {
        let env = Env::from_pairs([("LOG_FORMAT", "xml")]);
        assert_eq!(
            TelemetryConfig::from_env(&env, "svc").unwrap_err().variable,
            "LOG_FORMAT"
        );
        let env = Env::from_pairs([("OTEL_EXPORTER_OTLP_ENDPOINT", "jaeger:4318")]);
        assert_eq!(
            TelemetryConfig::from_env(&env, "svc").unwrap_err().variable,
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        );
        let env = Env::from_pairs([("RUST_LOG", "info,[[[")]);
        assert_eq!(
            TelemetryConfig::from_env(&env, "svc").unwrap_err().variable,
            "RUST_LOG"
        );
    }
}
