use actix_web::{HttpResponse, web};
use marquee_common::{
    auth::AuthUser,
    http::{ClientIp, Problem},
    rate_limit::RateLimiter,
};
use secrecy::SecretString;
use serde::Deserialize;

use crate::{accounts::Accounts, domain::Password, error::ApiError};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    /// 8 to 72 bytes of UTF-8.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    new_password: SecretString,
}

/// Change the caller's password; every other session of theirs ends.
#[utoipa::path(
    post,
    path = "/v1/auth/password",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; other sessions revoked"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`wrong_password`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` for `new_password`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts` or `rate_limited`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change(
    user: AuthUser,
    accounts: web::Data<Accounts>,
    limiter: web::Data<RateLimiter>,
    ip: ClientIp,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    limiter.enforce(&ip.key()).await?;
    let body = body.into_inner();
    let new = Password::parse("new_password", body.new_password)?;
    // A current password of impossible length is just a wrong one.
    let current = Password::parse("current_password", body.current_password)
        .map_err(|_| ApiError::WrongPassword)?;
    accounts.change_password(&user, current, new).await?;
    Ok(HttpResponse::NoContent().finish())
}
