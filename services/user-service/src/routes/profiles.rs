use actix_web::{HttpResponse, http::header, web};
use chrono::{DateTime, Utc};
use marquee_common::{
    auth::AuthUser,
    db::{self, PgPool},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    error::ApiError,
    store::profiles::{self, Profile},
};

/// A profile as the API shows it. The e-mail is shown to its owner and to admins only.
#[derive(Debug, Serialize)]
pub struct ProfileView {
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    display_name: String,
    bio: Option<String>,
    avatar_url: Option<String>,
    locale: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

fn view(profile: Profile, caller: &AuthUser) -> HttpResponse {
    let etag = format!("\"{}\"", profile.version);
    let body = ProfileView {
        email: caller.may_act_for(profile.id).then_some(profile.email),
        id: profile.id,
        display_name: profile.display_name,
        bio: profile.bio,
        avatar_url: profile.avatar_url,
        locale: profile.locale,
        created_at: profile.created_at,
        updated_at: profile.updated_at,
        version: profile.version,
    };
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .json(body)
}

async fn load(pool: &PgPool, id: Uuid) -> Result<Profile, ApiError> {
    let mut conn = db::connection(pool).await?;
    profiles::find(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /v1/users/me`: the caller's profile (404 until `UserCreated` has been applied).
pub async fn me(user: AuthUser, pool: web::Data<PgPool>) -> Result<HttpResponse, ApiError> {
    let profile = load(&pool, user.id).await?;
    Ok(view(profile, &user))
}

/// `GET /v1/users/{id}`: any signed-in user may read a profile.
pub async fn by_id(
    user: AuthUser,
    pool: web::Data<PgPool>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let profile = load(&pool, id.into_inner()).await?;
    Ok(view(profile, &user))
}
