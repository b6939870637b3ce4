//! Rooms: create, search, get, join, leave, my rooms, members, invite, presence.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use marquee_common::{
    auth::AuthUser,
    domain::Invalid,
    http::{
        Problem,
        pagination::{Page, PageRequest},
    },
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    domain::{NamePrefix, RoomName, RoomTopic, Visibility},
    error::ChatError,
    model::{Member, MyRoom, OnlineUser, Room},
    rooms::Rooms,
};

/// A new room.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    /// 1 to 80 characters (whitespace runs count as one space), some of them visible; no
    /// control characters.
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F]*\S[^\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F]*$"
    )]
    name: String,
    /// Up to 500 characters.
    #[serde(default)]
    topic: String,
    /// `public` (default: listed, anyone may join) or `private` (members added by the owner).
    #[serde(default)]
    visibility: Option<Visibility>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Name prefix, case-insensitive: 1 to 80 characters, some of them visible; no control
    /// characters.
    #[param(
        min_length = 1,
        max_length = 80,
        pattern = r"^[^\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F]*\S[^\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F]*$"
    )]
    q: String,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn page<K: serde::de::DeserializeOwned>(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<PageRequest<K>, ChatError> {
    PageRequest::parse(limit, cursor).map_err(|errors| Problem::validation(errors).into())
}

/// Creates a room; the caller becomes its owner.
#[utoipa::path(
    post, path = "/v1/chat/rooms", tag = "rooms", request_body = NewRoom,
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Created", body = Room),
        (status = 400, description = "Malformed JSON or unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    body: web::Json<NewRoom>,
) -> Result<HttpResponse, ChatError> {
    let body = body.into_inner();
    let (name, topic) = (RoomName::parse(&body.name), RoomTopic::parse(&body.topic));
    let (name, topic) = match (name, topic) {
        (Ok(name), Ok(topic)) => (name, topic),
        (name, topic) => {
            let errors: Vec<Invalid> = [name.err(), topic.err()].into_iter().flatten().collect();
            return Err(errors.into());
        }
    };
    let visibility = body.visibility.unwrap_or(Visibility::Public);
    let room = rooms.create(user.id, name, topic, visibility).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/chat/rooms/{}", room.id)))
        .json(room))
}

/// Rooms whose name starts with `q`: public ones and the caller's private ones.
#[utoipa::path(
    get, path = "/v1/chat/rooms", tag = "rooms", params(SearchParams),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of rooms, by name", body = inline(Page<Room>)),
        (status = 400, description = "Ill-typed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: q, limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ChatError> {
    let params = params.into_inner();
    let prefix = NamePrefix::parse(&params.q);
    let request = page::<(String, Uuid)>(params.limit, params.cursor.as_deref());
    let prefix = match (prefix, request) {
        (Ok(prefix), Ok(request)) => {
            return Ok(HttpResponse::Ok().json(rooms.search(user.id, &prefix, &request).await?));
        }
        (Err(invalid), _) => invalid,
        (Ok(_), Err(error)) => return Err(error),
    };
    Err(prefix.into())
}

/// A room (a private one only for its members).
#[utoipa::path(
    get, path = "/v1/chat/rooms/{room_id}", tag = "rooms",
    params(("room_id" = Uuid, Path, description = "The room")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The room", body = Room),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ChatError> {
    Ok(HttpResponse::Ok().json(rooms.get(user.id, path.into_inner()).await?))
}

/// Joins a public room (idempotent).
#[utoipa::path(
    post, path = "/v1/chat/rooms/{room_id}/join", tag = "rooms",
    params(("room_id" = Uuid, Path, description = "The room")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Member (already, or now)", body = Room),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found` (also for private rooms: they are joined when the owner adds you)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn join(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ChatError> {
    let (room, _) = rooms.join(user.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(room))
}

/// Leaves a room (idempotent).
#[utoipa::path(
    post, path = "/v1/chat/rooms/{room_id}/leave", tag = "rooms",
    params(("room_id" = Uuid, Path, description = "The room")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Not a member (any more)"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn leave(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ChatError> {
    rooms.leave(user.id, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's rooms with unread counts.
#[utoipa::path(
    get, path = "/v1/chat/me/rooms", tag = "rooms", params(PageParams),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of the caller's rooms", body = inline(Page<MyRoom>)),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn mine(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ChatError> {
    let request = page::<Uuid>(params.limit, params.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(rooms.mine(user.id, &request).await?))
}

/// A room's members, in the order they joined.
#[utoipa::path(
    get, path = "/v1/chat/rooms/{room_id}/members", tag = "rooms",
    params(("room_id" = Uuid, Path, description = "The room"), PageParams),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of members", body = inline(Page<Member>)),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn members(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    path: web::Path<Uuid>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ChatError> {
    let request = page::<(DateTime<Utc>, Uuid)>(params.limit, params.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(rooms.members(user.id, path.into_inner(), &request).await?))
}

/// The owner adds a member (how people get into private rooms).
#[utoipa::path(
    put, path = "/v1/chat/rooms/{room_id}/members/{user_id}", tag = "rooms",
    params(("room_id" = Uuid, Path, description = "The room"), ("user_id" = Uuid, Path, description = "Who to add")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Added"),
        (status = 204, description = "Already a member"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_room_owner` or `not_a_member`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add_member(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ChatError> {
    let (room, member) = path.into_inner();
    if rooms.add_member(user.id, room, member).await? {
        Ok(HttpResponse::Created().finish())
    } else {
        Ok(HttpResponse::NoContent().finish())
    }
}

/// Who has the room open right now (members only).
#[utoipa::path(
    get, path = "/v1/chat/rooms/{room_id}/presence", tag = "rooms",
    params(("room_id" = Uuid, Path, description = "The room")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Online users", body = Vec<OnlineUser>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`not_a_member`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`room_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`presence_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn presence(
    user: AuthUser,
    rooms: web::Data<Rooms>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ChatError> {
    Ok(HttpResponse::Ok().json(rooms.online(user.id, path.into_inner()).await?))
}
