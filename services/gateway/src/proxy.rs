//! Forwarding one request to an upstream instance and its answer back, streaming both
//! bodies (nothing is buffered).
//!
//! On the way up the request loses its hop-by-hop headers (RFC 9110 §7.6.1, plus any named
//! in `Connection`) and gains `X-Request-Id` (kept from the caller or made here),
//! `X-Forwarded-For` (the peer appended), `X-Forwarded-Proto`, `X-Forwarded-Host` and a
//! `traceparent` naming the gateway's span, so the upstream's spans join the caller's trace.
//! On the way down status, headers (every `Set-Cookie`) and body pass unchanged, minus
//! hop-by-hop headers.
//!
//! A request is sent again (to the next instance in rotation, at most three attempts) when
//! no answer came back and sending it again cannot do harm:
//! - the connection could not be made: any request, the upstream never saw it;
//! - the connection broke before the first response byte (an instance stopping, a reused
//!   connection it was closing): only idempotent methods and requests carrying an
//!   `Idempotency-Key`, which the services deduplicate.
//!
//! Bodies up to 64 KiB are read before forwarding so they can be sent again; larger ones
//! (uploads) are streamed, once. A timeout is never retried: the upstream may still be
//! working on the request.

use std::{
    cell::Cell,
    rc::Rc,
    time::{Duration, Instant},
};

use actix_web::{
    HttpMessage, HttpRequest, HttpResponse,
    body::SizedStream,
    error::{ParseError, PayloadError},
    http::{
        Method, StatusCode,
        header::{self, HeaderMap, HeaderName, HeaderValue},
    },
    web,
};
use awc::error::{ConnectError, SendRequestError};
use futures::StreamExt;
use marquee_common::{
    http::{Problem, RequestId},
    telemetry,
};

use crate::{
    Gateway,
    config::RouteConfig,
    upstream::{Instance, Pool},
};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const TRACE_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
];

/// Whether `name` must not cross the gateway: hop-by-hop, or named in `Connection`.
pub fn is_hop_by_hop(name: &HeaderName, headers: &HeaderMap) -> bool {
    HOP_BY_HOP.contains(name)
        || headers
            .get_all(header::CONNECTION)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case(name.as_str()))
}

/// The headers to send upstream for `req`; see the module docs. `Host` is left to the
/// client (the upstream's own authority); the caller's goes into `X-Forwarded-Host`.
pub fn upstream_headers(req: &HttpRequest, trust_forwarded: bool) -> HeaderMap {
    let incoming = req.headers();
    let mut headers = HeaderMap::new();
    for (name, value) in incoming {
        let replaced = name == header::HOST
            || name == X_FORWARDED_FOR
            || name == X_FORWARDED_PROTO
            || name == X_FORWARDED_HOST
            || TRACE_HEADERS.contains(name)
            || name == marquee_common::http::request_id::HEADER;
        if !replaced && !is_hop_by_hop(name, incoming) {
            headers.append(name.clone(), value.clone());
        }
    }

    if let Some(id) = req.extensions().get::<RequestId>()
        && let Ok(value) = HeaderValue::from_str(id.as_str())
    {
        headers.insert(marquee_common::http::request_id::HEADER.clone(), value);
    }

    // X-Forwarded-For: the chain so far (only from trusted proxies), then our peer.
    let mut chain: Vec<String> = Vec::new();
    if trust_forwarded {
        chain.extend(
            incoming
                .get_all(X_FORWARDED_FOR)
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned),
        );
    }
    if let Some(peer) = req.peer_addr() {
        chain.push(peer.ip().to_string());
    }
    if let Ok(value) = HeaderValue::from_str(&chain.join(", "))
        && !chain.is_empty()
    {
        headers.insert(X_FORWARDED_FOR, value);
    }
    let proto = incoming
        .get(X_FORWARDED_PROTO)
        .filter(|_| trust_forwarded)
        .cloned()
        .unwrap_or(HeaderValue::from_static("http"));
    headers.insert(X_FORWARDED_PROTO, proto);
    if let Some(host) = incoming.get(header::HOST) {
        headers.insert(X_FORWARDED_HOST, host.clone());
    }

    // The current span is the gateway's request span: the upstream continues from it.
    for (name, value) in telemetry::current_context_headers() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    headers
}

/// The upstream's response turned into ours, its body streamed through. A body that stalls
/// for `idle` (the route's timeout) between two chunks is cut off: the client sees the
/// response end early rather than wait for ever (awc's own timeout covers only the headers).
fn relay_response<S>(response: awc::ClientResponse<S>, idle: Duration) -> HttpResponse
where
    S: futures::Stream<Item = Result<bytes::Bytes, PayloadError>> + Unpin + 'static,
{
    let mut builder = HttpResponse::build(response.status());
    let headers = response.headers();
    for (name, value) in headers {
        if name != header::CONTENT_LENGTH && !is_hop_by_hop(name, headers) {
            builder.append_header((name.clone(), value.clone()));
        }
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = Box::pin(with_idle_timeout(response, idle));
    match length {
        Some(length) => builder.body(SizedStream::new(length, body)),
        None => builder.streaming(body),
    }
}

/// `body`, failing with a timeout when no chunk arrives for `idle`; it ends after the first
/// error.
fn with_idle_timeout<S>(
    body: S,
    idle: Duration,
) -> impl futures::Stream<Item = Result<bytes::Bytes, PayloadError>>
where
    S: futures::Stream<Item = Result<bytes::Bytes, PayloadError>> + Unpin,
{
    futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(body))),
            Ok(Some(Err(error))) => Some((Err(error), None)),
            Ok(None) => None,
            Err(_) => {
                tracing::warn!(?idle, "upstream response body stalled; cutting it off");
                let stalled = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the upstream stopped sending its body",
                );
                Some((Err(PayloadError::Io(stalled)), None))
            }
        }
    })
}

/// The declared body length, if any.
fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the request has a body to stream.
fn has_body(req: &HttpRequest) -> bool {
    content_length(req).is_some_and(|n| n > 0)
        || req.headers().contains_key(header::TRANSFER_ENCODING)
}

pub fn too_large(limit: u64) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Request body too large",
    )
    .with_detail(format!("the gateway accepts bodies up to {limit} bytes"))
}

/// 503: no instance of the service is in rotation.
pub fn no_instance(pool: &Pool) -> Problem {
    Problem::unavailable("upstream_unavailable", Duration::from_secs(1))
        .with_detail(format!("{} is unavailable; retry shortly", pool.name()))
}

/// 502: the instance could not be reached or answered with garbage.
pub fn bad_gateway(pool: &Pool) -> Problem {
    Problem::new(StatusCode::BAD_GATEWAY, "upstream_failed", "Bad gateway")
        .with_detail(format!("{} did not answer properly", pool.name()))
}

/// 504: the instance did not answer in time.
pub fn gateway_timeout(pool: &Pool) -> Problem {
    Problem::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
        "Gateway timeout",
    )
    .with_detail(format!("{} did not answer in time", pool.name()))
}

/// Bodies up to this size are read before forwarding, so that the request can be sent again
/// to another instance (see the module docs); larger ones are streamed and sent once.
const REPLAYABLE_BODY_BYTES: u64 = 64 * 1024;

/// What goes up as the request body.
enum Outgoing<S> {
    Empty,
    /// Read whole: can be sent again.
    Buffered(bytes::Bytes),
    /// Streamed: sent once (`None` after that).
    Streamed(Option<S>),
}

/// Forwards an HTTP request of `route`; see the module docs.
pub async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    route: &RouteConfig,
    pool: &Pool,
    gateway: &Gateway,
    client: &awc::Client,
) -> Result<HttpResponse, Problem> {
    let limit = gateway.max_body_bytes;
    if content_length(req).is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let candidates = pool.candidates();
    if candidates.is_empty() {
        gateway
            .metrics
            .upstream_error(pool.name(), "none", "no_instance");
        return Err(no_instance(pool));
    }
    let headers = upstream_headers(req, gateway.trusted_proxies.trusts_forwarded(req));
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());

    let overflowed = Rc::new(Cell::new(false));
    let mut body = if !has_body(req) {
        Outgoing::Empty
    } else if content_length(req).is_some_and(|n| n <= REPLAYABLE_BODY_BYTES) {
        Outgoing::Buffered(read_body(payload, pool.timeout).await?)
    } else {
        Outgoing::Streamed(Some(limited(payload, limit, overflowed.clone())))
    };
    // A request the upstream may already have acted on is sent again only when repeating it
    // is harmless: an idempotent method, or a POST the upstream deduplicates by its key.
    let repeatable = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE | Method::PUT
    ) || req
        .headers()
        .contains_key(marquee_common::http::idempotency::IDEMPOTENCY_KEY);
    // One instance may be a Kubernetes Service in front of many pods: a second connection
    // to it usually reaches another one.
    let attempts = candidates.len().clamp(2, 3);
    let mut last_failure = None;
    for instance in candidates.iter().cycle().take(attempts) {
        let mut request = client
            .request(req.method().clone(), instance.url(&path))
            .timeout(pool.timeout);
        for (name, value) in &headers {
            request = request.append_header((name.clone(), value.clone()));
        }
        let started = Instant::now();
        let sent = match &mut body {
            Outgoing::Empty => request.send().await,
            Outgoing::Buffered(bytes) => request.send_body(bytes.clone()).await,
            Outgoing::Streamed(stream) => match stream.take() {
                Some(stream) => request.send_stream(stream).await,
                None => break,
            },
        };
        match sent {
            Ok(response) => {
                pool.succeeded(instance);
                gateway.metrics.answered(
                    pool.name(),
                    instance.label(),
                    response.status().as_u16(),
                    started.elapsed(),
                );
                return Ok(relay_response(response, pool.timeout));
            }
            Err(error) => {
                let problem = failure(&error, instance, pool, gateway, &overflowed, route);
                last_failure = Some(problem);
                let again = match Unanswered::of(&error) {
                    Some(Unanswered::NotSent) => true,
                    Some(Unanswered::MaybeSeen) => repeatable,
                    None => false,
                };
                if !again {
                    break;
                }
            }
        }
    }
    Err(last_failure.unwrap_or_else(|| bad_gateway(pool)))
}

/// A failed send after which the upstream has certainly not answered.
enum Unanswered {
    /// No connection was made: the upstream never saw the request.
    NotSent,
    /// The connection broke before the first byte of the response (a reused connection the
    /// instance was closing, a process that stopped): the upstream may have acted on it.
    MaybeSeen,
}

impl Unanswered {
    fn of(error: &SendRequestError) -> Option<Self> {
        match error {
            SendRequestError::Connect(ConnectError::Disconnected) => Some(Self::MaybeSeen),
            SendRequestError::Connect(_) => Some(Self::NotSent),
            SendRequestError::Send(_)
            | SendRequestError::Response(ParseError::Io(_) | ParseError::Incomplete) => {
                Some(Self::MaybeSeen)
            }
            _ => None,
        }
    }
}

/// Reads a small request body whole (its length was checked), within `timeout`.
async fn read_body(mut payload: web::Payload, timeout: Duration) -> Result<bytes::Bytes, Problem> {
    let read = async {
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            body.extend_from_slice(&chunk?);
        }
        Ok::<_, PayloadError>(body.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(error)) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "The request body could not be read",
        )
        .with_detail(error.to_string())),
        Err(_) => Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "The request body did not arrive in time",
        )),
    }
}

/// What a failed send means for the client, recorded in metrics and the log.
fn failure(
    error: &SendRequestError,
    instance: &Instance,
    pool: &Pool,
    gateway: &Gateway,
    overflowed: &Cell<bool>,
    route: &RouteConfig,
) -> Problem {
    if overflowed.get() {
        return too_large(gateway.max_body_bytes);
    }
    match error {
        SendRequestError::Connect(ConnectError::Disconnected) => {
            gateway
                .metrics
                .upstream_error(pool.name(), instance.label(), "reset");
            tracing::warn!(service = pool.name(), instance = instance.label(), route = %route.prefix, "upstream closed the connection before answering");
            bad_gateway(pool)
        }
        SendRequestError::Connect(cause) => {
            pool.connect_failed(instance);
            tracing::warn!(service = pool.name(), instance = instance.label(), route = %route.prefix, error = %cause, "cannot connect to upstream");
            bad_gateway(pool)
        }
        SendRequestError::Timeout => {
            gateway
                .metrics
                .upstream_error(pool.name(), instance.label(), "timeout");
            tracing::warn!(service = pool.name(), instance = instance.label(), route = %route.prefix, "upstream timed out");
            gateway_timeout(pool)
        }
        other => {
            gateway
                .metrics
                .upstream_error(pool.name(), instance.label(), "response");
            tracing::warn!(service = pool.name(), instance = instance.label(), route = %route.prefix, error = %other, "upstream failed");
            bad_gateway(pool)
        }
    }
}

/// The request body, cut off with an error once it exceeds `limit` (a chunked body has no
/// length to check up front).
fn limited(
    payload: web::Payload,
    limit: u64,
    overflowed: Rc<Cell<bool>>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, PayloadError>> + 'static {
    let mut seen: u64 = 0;
    payload.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            overflowed.set(true);
            return Err(PayloadError::Overflow);
        }
        Ok(chunk)
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let req = TestRequest::default()
            .insert_header((header::CONNECTION, "keep-alive, x-secret-hop"))
            .insert_header(("x-secret-hop", "1"))
            .insert_header(("keep-alive", "timeout=5"))
            .insert_header((header::TE, "trailers"))
            .insert_header((header::AUTHORIZATION, "Bearer t"))
            .insert_header((header::HOST, "api.example.com"))
            .insert_header(("x-forwarded-for", "6.6.6.6"))
            .peer_addr("10.1.2.3:5555".parse().unwrap())
            .to_http_request();
        let headers = upstream_headers(&req, false);
        for gone in ["connection", "x-secret-hop", "keep-alive", "te", "host"] {
            assert!(!headers.contains_key(gone), "{gone} was forwarded");
        }
        assert_eq!(headers.get("authorization").unwrap(), "Bearer t");
        // An untrusted client's X-Forwarded-For is replaced, not extended.
        assert_eq!(headers.get("x-forwarded-for").unwrap(), "10.1.2.3");
        assert_eq!(headers.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(headers.get("x-forwarded-host").unwrap(), "api.example.com");
    }

    #[test]
    fn a_trusted_chain_is_extended() {
        let req = TestRequest::default()
            .insert_header(("x-forwarded-for", "203.0.113.9"))
            .insert_header(("x-forwarded-proto", "https"))
            .peer_addr("10.0.0.2:1".parse().unwrap())
            .to_http_request();
        let headers = upstream_headers(&req, true);
        assert_eq!(
            headers.get("x-forwarded-for").unwrap(),
            "203.0.113.9, 10.0.0.2"
        );
        assert_eq!(headers.get("x-forwarded-proto").unwrap(), "https");
    }
}
