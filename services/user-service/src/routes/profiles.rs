use actix_web::{HttpRequest, HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use marquee_common::{
    auth::AuthUser,
    http::{
        FieldError, Problem,
        pagination::{Page, PageRequest},
    },
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::preconditions::{etag, if_match, not_modified};
use crate::{
    domain::{ProfileChanges, ProfileChangesRequest},
    error::ApiError,
    profiles::{ListRequest, Profiles},
    store::profiles::Profile,
};

/// Longest `q` accepted by the listing.
const MAX_QUERY_CHARS: usize = 100;

/// A profile as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileView {
    id: Uuid,
    /// Shown to the profile's owner and to admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    display_name: String,
    bio: Option<String>,
    avatar_url: Option<String>,
    locale: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Bumped by every change; also the ETag (`"<version>"`) to send in `If-Match`.
    version: i64,
}

impl ProfileView {
    fn new(profile: Profile, caller: &AuthUser) -> Self {
        Self {
            email: caller.may_act_for(profile.id).then_some(profile.email),
            id: profile.id,
            display_name: profile.display_name,
            bio: profile.bio,
            avatar_url: profile.avatar_url,
            locale: profile.locale,
            created_at: profile.created_at,
            updated_at: profile.updated_at,
            version: profile.version,
        }
    }
}

/// One page of profiles.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfilePage {
    items: Vec<ProfileView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// 200 with the profile and its ETag; for a read, 304 when the client's copy is current. The
/// answer depends on who asks (the e-mail), hence `Vary` and `private`.
fn respond(req: &HttpRequest, profile: Profile, caller: &AuthUser, read: bool) -> HttpResponse {
    let tag = etag(profile.version, caller.may_act_for(profile.id));
    let fresh = read && not_modified(req, &tag);
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(header::ETag(tag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((header::VARY, "Authorization, Cookie"));
    if fresh {
        response.finish()
    } else {
        response.json(ProfileView::new(profile, caller))
    }
}

fn parse_changes(body: web::Json<ProfileChangesRequest>) -> Result<ProfileChanges, ApiError> {
    ProfileChanges::parse(body.into_inner()).map_err(ApiError::Invalid)
}

/// The caller's own profile.
///
/// 404 `profile_not_found` for a moment after registration, until the profile has been built
/// from the `UserCreated` event.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    tag = "users",
    params(("If-None-Match" = Option<String>, Header, description = "A known ETag: 304 when still current")),
    responses(
        (status = 200, description = "The profile; `ETag` holds its version", body = ProfileView),
        (status = 304, description = "Not modified"),
        (status = 401, description = "`unauthenticated`, `invalid_token` or `session_ended`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`profile_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_me(
    req: HttpRequest,
    user: AuthUser,
    profiles: web::Data<Profiles>,
) -> Result<HttpResponse, ApiError> {
    let profile = profiles.get(&user, user.id).await?;
    Ok(respond(&req, profile, &user, true))
}

/// Any user's profile (the e-mail only for its owner and admins).
#[utoipa::path(
    get,
    path = "/v1/users/{id}",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-None-Match" = Option<String>, Header, description = "A known ETag: 304 when still current"),
    ),
    responses(
        (status = 200, description = "The profile; `ETag` holds its version", body = ProfileView),
        (status = 304, description = "Not modified"),
        (status = 400, description = "`invalid_path`: not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`, `invalid_token` or `session_ended`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`profile_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    req: HttpRequest,
    user: AuthUser,
    profiles: web::Data<Profiles>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let profile = profiles.get(&user, id.into_inner()).await?;
    Ok(respond(&req, profile, &user, true))
}

/// Change the caller's own profile (see `PATCH /v1/users/{id}`).
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    tag = "users",
    request_body = ProfileChangesRequest,
    params(
        ("If-Match" = Option<String>, Header, description = "The ETag read; 412 if the profile changed since"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (24 h)"),
    ),
    responses(
        (status = 200, description = "The changed profile; `ETag` holds its new version", body = ProfileView),
        (status = 404, description = "`profile_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken` or `idempotency_in_flight`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (per-field `errors`), `invalid_body` or `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_me(
    req: HttpRequest,
    user: AuthUser,
    profiles: web::Data<Profiles>,
    body: web::Json<ProfileChangesRequest>,
) -> Result<HttpResponse, ApiError> {
    let changes = parse_changes(body)?;
    let profile = profiles
        .update(&user, user.id, changes, if_match(&req))
        .await?;
    Ok(respond(&req, profile, &user, false))
}

/// Change a profile (its owner or an admin).
///
/// JSON merge-patch: absent fields stay, `null` or `""` clears `bio`, `avatar_url` and
/// `locale`. A change publishes `UserUpdated` with the changed fields and the new version; a
/// request that changes nothing publishes nothing and keeps the version.
#[utoipa::path(
    patch,
    path = "/v1/users/{id}",
    tag = "users",
    request_body = ProfileChangesRequest,
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "The ETag read; 412 if the profile changed since"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (24 h)"),
    ),
    responses(
        (status = 200, description = "The changed profile; `ETag` holds its new version", body = ProfileView),
        (status = 403, description = "`forbidden`: neither the owner nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`profile_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken` or `idempotency_in_flight`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (per-field `errors`), `invalid_body` or `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    req: HttpRequest,
    user: AuthUser,
    profiles: web::Data<Profiles>,
    id: web::Path<Uuid>,
    body: web::Json<ProfileChangesRequest>,
) -> Result<HttpResponse, ApiError> {
    let changes = parse_changes(body)?;
    let profile = profiles
        .update(&user, id.into_inner(), changes, if_match(&req))
        .await?;
    Ok(respond(&req, profile, &user, false))
}

/// Delete a profile and its account (its owner or an admin).
///
/// Publishes `UserDeleted`: auth-service disables the account and ends its sessions, other
/// services purge what they hold for the user.
#[utoipa::path(
    delete,
    path = "/v1/users/{id}",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "The ETag read; 412 if the profile changed since"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (24 h)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`profile_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`version_mismatch`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    req: HttpRequest,
    user: AuthUser,
    profiles: web::Data<Profiles>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    profiles
        .delete(&user, id.into_inner(), if_match(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1–100 (default 20).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Case-insensitive prefix of the e-mail or the display name (at most 100 characters).
    q: Option<String>,
}

/// Every profile, in registration order, or those whose e-mail or display name starts with
/// `q`, ordered by the matching text (admins only).
///
/// Keyset pagination: each page costs the same however deep it is.
#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "users",
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = ProfilePage),
        (status = 403, description = "`forbidden`: not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `limit`, `cursor` or `q`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    user: AuthUser,
    profiles: web::Data<Profiles>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let ListQuery { limit, cursor, q } = query.into_inner();
    let prefix = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    let too_long = prefix
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS || q.chars().any(char::is_control))
        .then(|| FieldError {
            field: "q".into(),
            message: format!(
                "must be at most {MAX_QUERY_CHARS} characters, without control characters"
            ),
        });
    let page = match (PageRequest::parse(limit, cursor.as_deref()), too_long) {
        (Ok(page), None) => page,
        (page, too_long) => {
            let errors = page.err().into_iter().flatten().chain(too_long).collect();
            return Err(Problem::validation(errors).into());
        }
    };
    let page: Page<Profile> = profiles.list(&user, ListRequest { page, prefix }).await?;
    let page = page.map(|profile| ProfileView::new(profile, &user));
    Ok(HttpResponse::Ok().json(ProfilePage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
