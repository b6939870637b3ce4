use actix_web::{HttpRequest, HttpResponse, http::header, web};
use marquee_common::{
    http::{ClientIp, Problem},
    rate_limit::RateLimiter,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cookies::{self, CookieMode};
use crate::{
    accounts::{Accounts, Tokens},
    domain::{Email, Password},
    error::ApiError,
    store::sessions::Origin,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// A session's tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokensResponse {
    /// EdDSA JWT for `Authorization: Bearer …`.
    access_token: String,
    /// Opaque; trade it at `/v1/auth/refresh`. Absent in cookie mode (it is in the
    /// `marquee_refresh` cookie).
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    session_id: Uuid,
}

/// 200 with the tokens (and, in cookie mode, the cookies); never cached.
pub(super) fn tokens_response(
    tokens: Tokens,
    mode: &CookieMode,
    accounts: &Accounts,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if mode.cookie {
        for cookie in cookies::set(&tokens, &accounts.tokens) {
            response.cookie(cookie);
        }
    }
    response.json(TokensResponse {
        access_token: tokens.access_token,
        refresh_token: (!mode.cookie).then_some(tokens.refresh_token),
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        session_id: tokens.session_id,
    })
}

/// Sign in: a new session and its tokens.
///
/// An unknown address and a wrong password get the same 401 after the same work (a bcrypt
/// check); a malformed e-mail or a password of impossible length get that same 401 at once,
/// which tells nothing about any account. After repeated failures the address is paused
/// (429 `too_many_attempts`), whether or not an account has it.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    params(CookieMode),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokensResponse),
        (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts` or `rate_limited`; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`busy` or `sessions_unavailable`; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    request: HttpRequest,
    accounts: web::Data<Accounts>,
    limiter: web::Data<RateLimiter>,
    ip: ClientIp,
    mode: web::Query<CookieMode>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    limiter.enforce(&ip.key()).await?;
    let body = body.into_inner();
    let email = Email::parse("email", &body.email).map_err(|_| ApiError::InvalidCredentials)?;
    let password =
        Password::parse("password", body.password).map_err(|_| ApiError::InvalidCredentials)?;
    let origin = Origin {
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect()),
        ip: ip.0.map(|ip| ip.to_string()),
    };
    let tokens = accounts.login(email, password, origin).await?;
    Ok(tokens_response(tokens, &mode, &accounts))
}
