//! The root span of every request: tracing-actix-web's standard fields plus our request id,
//! continuing the caller's W3C trace (`traceparent`) so one trace spans gateway and services.

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};

use super::RequestId;
use crate::telemetry;

/// Builds request root spans; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarqueeRootSpan;

impl RootSpanBuilder for MarqueeRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned())
            .unwrap_or_default();
        let span = tracing_actix_web::root_span!(request, request_id = %request_id);
        telemetry::set_remote_parent(&span, telemetry::extract_http(request.headers()));
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The request logger every app wraps (inside the request-id middleware).
pub fn logger() -> TracingLogger<MarqueeRootSpan> {
    TracingLogger::<MarqueeRootSpan>::new()
}
