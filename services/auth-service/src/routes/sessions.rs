use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use marquee_common::{auth::AuthUser, http::Problem};
use serde::Serialize;
use uuid::Uuid;

use super::cookies;
use crate::{accounts::Accounts, error::ApiError};

/// One of the caller's sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    id: Uuid,
    created_at: DateTime<Utc>,
    /// The last sign-in or refresh.
    last_used_at: DateTime<Utc>,
    user_agent: Option<String>,
    ip: Option<String>,
    /// Whether the request was made with this session's token.
    current: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    /// Newest first.
    sessions: Vec<SessionView>,
}

/// 204 that also clears the token cookies.
fn signed_out(accounts: &Accounts) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    for cookie in cookies::clear(&accounts.tokens) {
        response.cookie(cookie);
    }
    response.finish()
}

/// End the current session; its tokens stop working everywhere.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Signed out (cookies cleared)"),
        (status = 401, description = "`missing_token`, `invalid_token` or `session_ended`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    user: AuthUser,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    accounts.logout(&user).await?;
    Ok(signed_out(&accounts))
}

/// End every session of the caller, this one included.
#[utoipa::path(
    post,
    path = "/v1/auth/logout-all",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Every session ended (cookies cleared)"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout_all(
    user: AuthUser,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    accounts.logout_all(&user).await?;
    Ok(signed_out(&accounts))
}

/// The caller's sessions.
#[utoipa::path(
    get,
    path = "/v1/auth/sessions",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Sessions, newest first", body = SessionList),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(user: AuthUser, accounts: web::Data<Accounts>) -> Result<HttpResponse, ApiError> {
    let sessions = accounts
        .list_sessions(&user)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.id == user.session_id,
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionList { sessions }))
}

/// End one of the caller's sessions (sign out another device).
#[utoipa::path(
    delete,
    path = "/v1/auth/sessions/{id}",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Session ended"),
        (status = 400, description = "`invalid_path`: not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`session_not_found`: not one of the caller's", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    user: AuthUser,
    accounts: web::Data<Accounts>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    accounts.delete_session(&user, id).await?;
    if id == user.session_id {
        return Ok(signed_out(&accounts));
    }
    Ok(HttpResponse::NoContent().finish())
}
