//! WebSocket relaying: the upgrade is forwarded first, and only when the upstream accepts it
//! is the client's connection upgraded too — so a refused token gets the upstream's status
//! (401) instead of a socket that closes at once. Then frames are relayed one by one in both
//! directions (text, binary, fragments, ping/pong, close with its code), each awaited before
//! the next is read, so a slow side slows its own connection only.
//!
//! A handshake whose `Origin` is neither the gateway's own host nor in
//! `CORS_ALLOWED_ORIGINS` is refused ([`origin`]): browsers send cookies with cross-site
//! WebSocket handshakes, and CORS does not cover them.
//!
//! When the gateway shuts down, every relayed socket is closed with 1001 (going away) on
//! both sides; a vanished upstream closes the client with 1014 (bad gateway).

use std::time::{Duration, Instant};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, HeaderMap},
    },
    web,
};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use awc::{
    error::{SendRequestError, WsClientError, WsProtocolError},
    ws::Frame,
};
use bytestring::ByteString;
use futures::{SinkExt, StreamExt};
use marquee_common::{
    http::{Problem, origin},
    shutdown::CancellationToken,
};

use crate::{
    Gateway,
    metrics::WebSocketGuard,
    proxy::{bad_gateway, gateway_timeout, is_hop_by_hop, no_instance, upstream_headers},
    upstream::Pool,
};

/// Headers the upstream handshake makes for itself, never copied from the client's.
const HANDSHAKE_OWN_HEADERS: [header::HeaderName; 4] = [
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
    header::CONTENT_LENGTH,
];

/// Whether `req` asks to switch to WebSocket.
pub fn is_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Relays a WebSocket upgrade to an instance of `pool`; see the module docs.
pub async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    pool: &Pool,
    gateway: &Gateway,
    client: &awc::Client,
) -> Result<HttpResponse, Problem> {
    if !origin::websocket_origin_allowed(req, &gateway.allowed_origins, &gateway.trusted_proxies) {
        return Err(origin::origin_refused());
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

    // A handshake has no body and changes nothing until accepted: the next instance may be
    // tried when one cannot be reached.
    for instance in candidates.iter().take(3) {
        let mut handshake = client
            .ws(instance.url(&path))
            .max_frame_size(gateway.max_ws_frame_bytes);
        for (name, value) in &headers {
            if !HANDSHAKE_OWN_HEADERS.contains(name) {
                handshake = handshake.header(name.clone(), value.clone());
            }
        }
        let started = Instant::now();
        let connected = tokio::time::timeout(pool.timeout, handshake.connect()).await;
        let (response, upstream) = match connected {
            Err(_) => {
                gateway
                    .metrics
                    .upstream_error(pool.name(), instance.label(), "timeout");
                return Err(gateway_timeout(pool));
            }
            Ok(Err(WsClientError::SendRequest(SendRequestError::Connect(error)))) => {
                tracing::warn!(service = pool.name(), instance = instance.label(), %error, "cannot connect to upstream");
                pool.connect_failed(instance);
                continue;
            }
            Ok(Err(WsClientError::InvalidResponseStatus(status))) => {
                pool.succeeded(instance);
                gateway.metrics.answered(
                    pool.name(),
                    instance.label(),
                    status.as_u16(),
                    started.elapsed(),
                );
                return Err(refused(status, pool));
            }
            Ok(Err(error)) => {
                gateway
                    .metrics
                    .upstream_error(pool.name(), instance.label(), "response");
                tracing::warn!(service = pool.name(), instance = instance.label(), %error, "upstream WebSocket handshake failed");
                return Err(bad_gateway(pool));
            }
            Ok(Ok(accepted)) => accepted,
        };
        pool.succeeded(instance);
        gateway
            .metrics
            .answered(pool.name(), instance.label(), 101, started.elapsed());

        // Accept the client with the subprotocol the upstream chose, if any.
        let protocol = response
            .headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let accepted = match &protocol {
            Some(protocol) => actix_ws::handle_with_protocols(req, payload, &[protocol.as_str()]),
            None => actix_ws::handle(req, payload),
        };
        let (mut reply, session, stream) = accepted.map_err(|_| {
            Problem::bad_request("not_a_websocket", "Expected a WebSocket handshake")
        })?;
        copy_upstream_headers(response.headers(), reply.headers_mut());
        let stream = stream.max_frame_size(gateway.max_ws_frame_bytes);
        let guard = gateway.metrics.websocket_opened(pool.name());
        let shutdown = gateway.shutdown.clone();
        actix_web::rt::spawn(relay(session, stream, upstream, shutdown, guard));
        return Ok(reply);
    }
    Err(bad_gateway(pool))
}

/// Headers of the upstream's 101 worth passing on (cookies, request id), not the handshake's
/// own.
fn copy_upstream_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let handshake = name == header::SEC_WEBSOCKET_ACCEPT
            || name == header::SEC_WEBSOCKET_PROTOCOL
            || name == header::SEC_WEBSOCKET_EXTENSIONS
            || name == header::CONTENT_LENGTH;
        if !handshake && !is_hop_by_hop(name, from) && !to.contains_key(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// The problem for an upgrade the upstream answered with `status` instead of 101.
fn refused(status: StatusCode, pool: &Pool) -> Problem {
    match status {
        StatusCode::UNAUTHORIZED => {
            Problem::unauthorized("unauthenticated", "A valid access token is required")
                .with_header(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                )
        }
        StatusCode::FORBIDDEN => Problem::forbidden("forbidden", "Not allowed"),
        StatusCode::NOT_FOUND => Problem::not_found("route_not_found", "No such route"),
        StatusCode::TOO_MANY_REQUESTS => {
            Problem::too_many_requests(std::time::Duration::from_secs(1))
        }
        status if status.is_client_error() => {
            Problem::bad_request("upgrade_refused", "The WebSocket handshake was refused")
        }
        _ => bad_gateway(pool),
    }
}

/// How a relay ended, and what each side is told.
/// How long one frame may take to be handed to a side: a peer that stops reading is
/// disconnected after this rather than stalling the relay (and its other direction) for good.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each side's close handshake may take when the relay ends.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// `Ok` when `send` completed in time and succeeded.
async fn within<T, E>(limit: Duration, send: impl Future<Output = Result<T, E>>) -> Result<T, ()> {
    match tokio::time::timeout(limit, send).await {
        Ok(Ok(value)) => Ok(value),
        _ => Err(()),
    }
}

enum End {
    /// The client closed (or could not be written to).
    Client(Option<CloseReason>),
    /// The upstream closed (or could not be written to).
    Upstream(Option<CloseReason>),
    /// Shutdown or a protocol error: both sides get this close.
    Both(CloseReason),
}

fn reason(code: CloseCode, description: &str) -> CloseReason {
    CloseReason {
        code,
        description: Some(description.to_owned()),
    }
}

/// Relays frames until either side closes; see the module docs.
async fn relay<U>(
    mut client: Session,
    mut from_client: MessageStream,
    upstream: U,
    shutdown: CancellationToken,
    _open: WebSocketGuard,
) where
    U: futures::Sink<Message> + futures::Stream<Item = Result<Frame, WsProtocolError>> + Unpin,
{
    let (mut to_upstream, mut from_upstream) = upstream.split();
    let end = loop {
        tokio::select! {
            () = shutdown.cancelled() => break End::Both(reason(CloseCode::Away, "gateway shutting down")),
            message = from_client.recv() => {
                let outgoing = match message {
                    Some(Ok(Message::Close(close))) => break End::Client(close),
                    Some(Ok(Message::Nop)) => continue,
                    Some(Ok(message)) => message,
                    Some(Err(error)) => {
                        tracing::debug!(%error, "client WebSocket protocol error");
                        break End::Both(reason(CloseCode::Protocol, "protocol error"));
                    }
                    None => break End::Client(Some(reason(CloseCode::Away, "client went away"))),
                };
                if within(SEND_TIMEOUT, to_upstream.send(outgoing)).await.is_err() {
                    break End::Both(reason(CloseCode::Other(1014), "upstream too slow or gone"));
                }
            }
            frame = from_upstream.next() => {
                let sent = match frame {
                    Some(Ok(Frame::Text(text))) => match ByteString::try_from(text) {
                        Ok(text) => within(SEND_TIMEOUT, client.text(text)).await,
                        Err(_) => break End::Both(reason(CloseCode::Invalid, "invalid UTF-8 from upstream")),
                    },
                    Some(Ok(Frame::Binary(bytes))) => within(SEND_TIMEOUT, client.binary(bytes)).await,
                    Some(Ok(Frame::Continuation(item))) => {
                        within(SEND_TIMEOUT, client.continuation(item)).await
                    }
                    Some(Ok(Frame::Ping(bytes))) => within(SEND_TIMEOUT, client.ping(&bytes)).await,
                    Some(Ok(Frame::Pong(bytes))) => within(SEND_TIMEOUT, client.pong(&bytes)).await,
                    Some(Ok(Frame::Close(close))) => break End::Upstream(close),
                    Some(Err(error)) => {
                        tracing::warn!(%error, "upstream WebSocket protocol error");
                        break End::Both(reason(CloseCode::Other(1014), "bad gateway"));
                    }
                    None => break End::Both(reason(CloseCode::Other(1014), "upstream went away")),
                };
                if sent.is_err() {
                    break End::Client(None);
                }
            }
        }
    };
    let (client_close, upstream_close) = match end {
        // The side that closed gets its close echoed; the other side gets it forwarded.
        End::Client(close) | End::Upstream(close) => (close.clone(), close),
        End::Both(close) => (Some(close.clone()), Some(close)),
    };
    let _ = within(
        CLOSE_TIMEOUT,
        to_upstream.send(Message::Close(upstream_close)),
    )
    .await;
    let _ = within(CLOSE_TIMEOUT, to_upstream.close()).await;
    let _ = within(CLOSE_TIMEOUT, client.close(client_close)).await;
}
