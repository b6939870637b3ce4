//! Attachment upload (multipart, streamed under a size limit) and download (members only).

use actix_multipart::Multipart;
use actix_web::{
    HttpResponse,
    http::header::{self, ContentDisposition, DispositionParam, DispositionType},
    web,
};
use bytes::BytesMut;
use futures::{StreamExt, TryStreamExt};
use marquee_common::{auth::AuthUser, http::Problem};
use uuid::Uuid;

use crate::{
    attachments::{Attachments, clean_file_name},
    error::ChatError,
    model::Attachment,
};

/// Uploads a file (multipart/form-data, field `file`) to a room. The type is recognised from
/// the content and must be on the allow-list.
/// The upload's form: the file in a part named `file` (its file name is kept, cleaned).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Documents the multipart body; the handler streams the parts itself.
pub struct UploadForm {
    /// Not empty.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
}

#[utoipa::path(
    post, path = "/v1/chat/rooms/{room_id}/attachments", tag = "attachments",
    params(("room_id" = Uuid, Path, description = "The room")),
    request_body(content = UploadForm, content_type = "multipart/form-data", description = "One part named `file`"),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Stored; reference its id in a message", body = Attachment),
        (status = 400, description = "`invalid_upload`: not multipart, or no `file` part", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_member`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`attachment_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`storage_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn upload(
    user: AuthUser,
    attachments: web::Data<Attachments>,
    path: web::Path<Uuid>,
    mut form: Multipart,
) -> Result<HttpResponse, ChatError> {
    let room = path.into_inner();
    // Refuse non-members before reading a byte of the body.
    attachments.check_uploader(user.id, room).await?;
    let invalid = |detail: &str| {
        ChatError::from(
            Problem::bad_request("invalid_upload", "Invalid upload").with_detail(detail),
        )
    };
    let max_bytes = attachments.max_bytes();
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|_| invalid("the body is not valid multipart/form-data"))?;
        if field.name() != Some("file") {
            // Drain and skip other parts.
            while field
                .try_next()
                .await
                .map_err(|_| invalid("a part could not be read"))?
                .is_some()
            {}
            continue;
        }
        let file_name = clean_file_name(field.content_disposition().and_then(|d| d.get_filename()));
        let mut content = BytesMut::new();
        while let Some(chunk) = field
            .try_next()
            .await
            .map_err(|_| invalid("the file could not be read"))?
        {
            if content.len() + chunk.len() > max_bytes {
                return Err(ChatError::TooLarge { max_bytes });
            }
            content.extend_from_slice(&chunk);
        }
        if content.is_empty() {
            return Err(invalid("the file is empty"));
        }
        let attachment = attachments
            .upload(user.id, room, &file_name, content.freeze())
            .await?;
        return Ok(HttpResponse::Created().json(attachment));
    }
    Err(invalid("no part named `file`"))
}

/// Downloads an attachment (members of its room only), with the recognised content type.
#[utoipa::path(
    get, path = "/v1/chat/rooms/{room_id}/attachments/{attachment_id}", tag = "attachments",
    params(("room_id" = Uuid, Path, description = "The room"), ("attachment_id" = Uuid, Path, description = "The attachment")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The file, as the type its content was recognised as at upload", content_type = "*/*"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_member`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found` or `attachment_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`storage_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn download(
    user: AuthUser,
    attachments: web::Data<Attachments>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ChatError> {
    let (room, id) = path.into_inner();
    let (attachment, content) = attachments.download(user.id, room, id).await?;
    let disposition = ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![DispositionParam::Filename(attachment.file_name.clone())],
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, attachment.content_type.clone()))
        .insert_header((header::CONTENT_LENGTH, attachment.size_bytes))
        .insert_header(disposition)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .streaming(content.map_err(|error| {
            tracing::error!(%error, "reading an attachment from the store failed");
            actix_web::error::ErrorServiceUnavailable("storage")
        })))
}
