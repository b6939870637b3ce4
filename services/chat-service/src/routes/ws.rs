//! `GET /v1/chat/ws`: authenticates, then upgrades to the chat protocol.
//!
//! The token may come from `Authorization: Bearer …`, the access cookie, or — because
//! browsers cannot set headers on a WebSocket — `Sec-WebSocket-Protocol: marquee.chat.v1,
//! bearer.<token>`; the server then selects `marquee.chat.v1` (never the token). A missing
//! or invalid token is refused with a 401 problem before any upgrade, and so is a browser
//! page from another site (403, [`origin`]), even when the gateway is bypassed.

use actix_web::{HttpRequest, HttpResponse, web};
use marquee_common::{
    auth::{AuthError, TokenVerifier, token_from_request, token_from_subprotocols},
    http::{TrustedProxies, origin},
};

use crate::{
    protocol::SUBPROTOCOL,
    ws::connection::{self, SocketContext},
};

/// Opens a chat WebSocket (see docs/chat.md for the frames).
#[utoipa::path(
    get, path = "/v1/chat/ws", tag = "websocket",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 101, description = "Switching to the chat protocol"),
        (status = 400, description = "Not a WebSocket handshake", body = marquee_common::http::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = marquee_common::http::Problem, content_type = "application/problem+json"),
        (status = 403, description = "A page from another site", body = marquee_common::http::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    verifier: web::Data<TokenVerifier>,
    context: web::Data<SocketContext>,
) -> Result<HttpResponse, actix_web::Error> {
    let trusted = req
        .app_data::<TrustedProxies>()
        .cloned()
        .unwrap_or_default();
    if !origin::websocket_origin_allowed(&req, &context.config.allowed_origins, &trusted) {
        return Err(origin::origin_refused().into());
    }
    let token = token_from_request(&req)
        .or_else(|| token_from_subprotocols(&req))
        .ok_or(AuthError::MissingToken)?;
    let user = verifier.verify(&token).await?;
    let (response, session, stream) = actix_ws::handle_with_protocols(&req, body, &[SUBPROTOCOL])
        .map_err(|_| {
        marquee_common::http::Problem::bad_request(
            "not_a_websocket",
            "Expected a WebSocket handshake",
        )
    })?;
    let limit = context.config.max_frame_bytes * 4;
    let stream = stream
        .max_frame_size(limit)
        .aggregate_continuations()
        .max_continuation_size(limit);
    let context = context.get_ref().clone();
    actix_web::rt::spawn(connection::serve(context, user, session, stream));
    Ok(response)
}
