//! HTTP endpoints under `/v1/chat`, and the WebSocket upgrade at `/v1/chat/ws`. Handlers
//! parse input into domain types, call [`Rooms`](crate::rooms::Rooms),
//! [`Messages`](crate::history::Messages) or [`Attachments`](crate::attachments::Attachments)
//! and shape the answer; [`ApiDoc`] describes them (served at `/v1/chat/openapi.json`).

mod attachments;
mod messages;
mod rooms;
pub mod ws;

use actix_web::{HttpResponse, web};
use marquee_common::http::{
    FieldError, Problem,
    openapi::{Conventions, TokenSecurity},
};
use utoipa::OpenApi;

/// Mounts every route. Fixed paths come before parameterised ones.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/chat")
            .service(web::resource("/openapi.json").get(openapi))
            .service(web::resource("/ws").get(ws::upgrade))
            .service(web::resource("/me/rooms").get(rooms::mine))
            .service(
                web::resource("/rooms")
                    .route(web::post().to(rooms::create))
                    .route(web::get().to(rooms::search)),
            )
            .service(web::resource("/rooms/{room_id}").get(rooms::get))
            .service(web::resource("/rooms/{room_id}/join").post(rooms::join))
            .service(web::resource("/rooms/{room_id}/leave").post(rooms::leave))
            .service(web::resource("/rooms/{room_id}/members").get(rooms::members))
            .service(web::resource("/rooms/{room_id}/members/{user_id}").put(rooms::add_member))
            .service(web::resource("/rooms/{room_id}/presence").get(rooms::presence))
            .service(
                web::resource("/rooms/{room_id}/messages")
                    .route(web::get().to(messages::history))
                    .route(web::post().to(messages::send)),
            )
            .service(web::resource("/rooms/{room_id}/attachments").post(attachments::upload))
            .service(
                web::resource("/rooms/{room_id}/attachments/{attachment_id}")
                    .get(attachments::download),
            ),
    );
}

/// chat-service's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Marquee chat-service",
        description = "Chat rooms, history and attachments. Live messages, presence and \
            typing travel over the WebSocket at `/v1/chat/ws` (protocol: docs/chat.md). \
            Every endpoint needs an access token from auth-service. Errors are RFC 9457 \
            problems (`application/problem+json`) with a stable `code`.",
    ),
    paths(
        rooms::create,
        rooms::search,
        rooms::get,
        rooms::join,
        rooms::leave,
        rooms::mine,
        rooms::members,
        rooms::add_member,
        rooms::presence,
        messages::history,
        messages::send,
        attachments::upload,
        attachments::download,
        ws::upgrade,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&TokenSecurity, &Conventions),
    tags(
        (name = "rooms", description = "Rooms and members"),
        (name = "messages", description = "History and sending"),
        (name = "attachments", description = "Files attached to messages"),
        (name = "websocket", description = "The live protocol"),
    ),
)]
pub struct ApiDoc;

/// `GET /v1/chat/openapi.json`.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
