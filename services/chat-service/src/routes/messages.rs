//! History (`GET`) and sending (`POST`) — the same send path as the WebSocket `send` frame.

use actix_web::{HttpResponse, web};
use marquee_common::{auth::AuthUser, domain::Invalid, http::Problem};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    config::ChatConfig,
    domain::Draft,
    error::ChatError,
    history::{History, Messages, PAGE_MAX},
    model::ChatMessage,
};

/// The largest `before_seq` (2^53 − 1): JSON clients read integers up to it exactly.
const MAX_SAFE_SEQ: u64 = (1 << 53) - 1;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Only messages with a smaller `seq` (the previous page's `next_before_seq`); newest
    /// first when absent. At most 2^53 − 1, the largest integer every JSON client reads
    /// exactly.
    #[param(minimum = 1, maximum = 9007199254740991_u64)]
    before_seq: Option<u64>,
    /// Messages per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// A message to send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// The sender's id for this message, 1 to 64 visible ASCII characters (a UUID is a good
    /// choice): a retry with the same id is stored once.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    client_msg_id: String,
    /// 1 to `CHAT_MAX_BODY_CHARS` characters (may be empty with attachments).
    #[serde(default)]
    body: String,
    /// Attachments the sender uploaded to this room and has not sent yet (at most 10).
    #[serde(default)]
    attachment_ids: Vec<Uuid>,
}

/// A page of the room's history, newest first (members only).
#[utoipa::path(
    get, path = "/v1/chat/rooms/{room_id}/messages", tag = "messages",
    params(("room_id" = Uuid, Path, description = "The room"), HistoryParams),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Messages, newest first", body = History),
        (status = 400, description = "Ill-typed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_member`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: limit or before_seq", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn history(
    user: AuthUser,
    messages: web::Data<Messages>,
    path: web::Path<Uuid>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ChatError> {
    let limit = params.limit.unwrap_or(50);
    let mut errors = Vec::new();
    if !(1..=PAGE_MAX).contains(&limit) {
        errors.push(Invalid::new(
            "limit",
            format!("must be between 1 and {PAGE_MAX}"),
        ));
    }
    if let Some(before) = params.before_seq
        && !(1..=MAX_SAFE_SEQ).contains(&before)
    {
        errors.push(Invalid::new(
            "before_seq",
            format!("must be between 1 and {MAX_SAFE_SEQ}"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let page = messages
        .history(user.id, path.into_inner(), params.before_seq, limit)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Sends a message: 201 with the stored message, or 200 with the original when
/// `client_msg_id` was sent before. Live delivery happens over the WebSocket.
#[utoipa::path(
    post, path = "/v1/chat/rooms/{room_id}/messages", tag = "messages",
    params(("room_id" = Uuid, Path, description = "The room")),
    request_body = NewMessage,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Stored", body = ChatMessage),
        (status = 200, description = "Already stored under this client_msg_id", body = ChatMessage),
        (status = 400, description = "Malformed JSON or unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_member`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn send(
    user: AuthUser,
    messages: web::Data<Messages>,
    config: web::Data<ChatConfig>,
    path: web::Path<Uuid>,
    body: web::Json<NewMessage>,
) -> Result<HttpResponse, ChatError> {
    let body = body.into_inner();
    let draft = Draft::parse(
        &body.client_msg_id,
        &body.body,
        &body.attachment_ids,
        config.max_body_chars,
    )?;
    let sent = messages.send(user.id, path.into_inner(), draft).await?;
    let mut response = if sent.duplicate {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(response.json(sent.message))
}
