//! chat-service's errors and how clients see them, over HTTP (problem+json) and over the
//! WebSocket (`error` frames carry the same `code`). One place, stable codes.
//!
//! | code | status | when |
//! |---|---|---|
//! | `room_not_found` | 404 | no such room, or a private room the caller is not in |
//! | `not_a_member` | 403 | the caller must join the room first |
//! | `not_room_owner` | 403 | only the room's owner may do this |
//! | `attachment_not_found` | 404 | no such attachment in this room |
//! | `validation_failed` | 422 | an input is invalid (per-field `errors`) |
//! | `attachment_too_large` | 413 | the upload exceeds `ATTACHMENTS_MAX_BYTES` |
//! | `unsupported_media_type` | 415 | the file's content (sniffed) is not on the allow-list |
//! | `storage_unavailable` | 503 | the attachment store cannot be reached |
//! | `presence_unavailable` | 503 | Redis cannot be reached for presence |
//! | `database_unavailable` | 503 | PostgreSQL is unreachable |
//!
//! Missing or invalid tokens are answered by the shared verifier (401 `missing_token`,
//! `invalid_token` or `session_ended`; 503 `auth_unavailable`).

use std::time::Duration;

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use marquee_common::{db::DbError, domain::Invalid, http::Problem};

/// Everything a chat operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("no such room")]
    RoomNotFound,
    #[error("not a member of the room")]
    NotAMember,
    #[error("not the room's owner")]
    NotOwner,
    #[error("no such attachment")]
    AttachmentNotFound,
    #[error("invalid input: {0:?}")]
    Invalid(Vec<Invalid>),
    #[error("attachment larger than {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    #[error("content type {0} is not allowed")]
    UnsupportedType(String),
    #[error("attachment store: {0}")]
    Storage(#[from] object_store::Error),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A problem built elsewhere (bad paging parameters, a malformed upload).
    #[error("rejected: {}", .0.code())]
    Rejected(Box<Problem>),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for ChatError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::from(error))
    }
}

impl From<Invalid> for ChatError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(vec![invalid])
    }
}

impl From<Vec<Invalid>> for ChatError {
    fn from(invalid: Vec<Invalid>) -> Self {
        Self::Invalid(invalid)
    }
}

impl From<Problem> for ChatError {
    fn from(problem: Problem) -> Self {
        Self::Rejected(Box::new(problem))
    }
}

impl ChatError {
    /// What the client is told. Causes of 5xx answers are logged here, never shown.
    pub fn problem(&self) -> Problem {
        match self {
            Self::RoomNotFound => Problem::not_found("room_not_found", "No such room"),
            Self::NotAMember => Problem::forbidden("not_a_member", "Join the room first"),
            Self::NotOwner => {
                Problem::forbidden("not_room_owner", "Only the room's owner may do this")
            }
            Self::AttachmentNotFound => {
                Problem::not_found("attachment_not_found", "No such attachment")
            }
            Self::Invalid(fields) => Invalid::problem(fields),
            Self::TooLarge { max_bytes } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "attachment_too_large",
                "The attachment is too large",
            )
            .with_detail(format!("attachments may be at most {max_bytes} bytes")),
            Self::UnsupportedType(found) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "This kind of file is not accepted",
            )
            .with_detail(format!(
                "the file's content was recognised as {found}, which is not on the allow-list"
            )),
            Self::Storage(cause) => {
                tracing::error!(%cause, "attachment store failed");
                Problem::unavailable("storage_unavailable", Duration::from_secs(5))
            }
            Self::Redis(cause) => {
                tracing::warn!(%cause, "Redis failed");
                Problem::unavailable("presence_unavailable", Duration::from_secs(1))
            }
            Self::Rejected(problem) => (**problem).clone(),
            Self::Database(DbError::Unavailable(cause)) => {
                Problem::from(DbError::Unavailable(cause.clone()))
            }
            Self::Database(other) => Problem::internal(other),
        }
    }
}

impl ResponseError for ChatError {
    fn status_code(&self) -> StatusCode {
        self.problem().status()
    }

    fn error_response(&self) -> HttpResponse {
        self.problem().error_response()
    }
}
