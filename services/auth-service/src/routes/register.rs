use actix_web::{HttpResponse, web};
use marquee_common::{
    http::{ClientIp, Problem},
    rate_limit::RateLimiter,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    accounts::Accounts,
    domain::{DisplayName, Email, Password},
    error::ApiError,
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Compared case-insensitively; stored trimmed and lower-cased.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    email: String,
    /// 8 to 72 bytes of UTF-8.
    #[schema(value_type = String, format = Password, min_length = 8, max_length = 72)]
    password: SecretString,
    /// 1 to 64 characters (whitespace runs count as one space), some of them visible; no
    /// control characters.
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F]*\S[^\u0000-\u0008\u000E-\u001F\u007F-\u0084\u0086-\u009F]*$"
    )]
    display_name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegisterResponse {
    user_id: Uuid,
}

/// Create an account (role `user`); `UserCreated` is published for it.
///
/// Send an `Idempotency-Key` to make retries safe: the same key and body replay the first
/// answer for 24 h.
#[utoipa::path(
    post,
    path = "/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (24 h)")),
    responses(
        (status = 201, description = "Registered", body = RegisterResponse),
        (status = 409, description = "`email_taken`, or `idempotency_in_flight`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (per-field `errors`), `invalid_body` or `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`busy`; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    accounts: web::Data<Accounts>,
    limiter: web::Data<RateLimiter>,
    ip: ClientIp,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    limiter.enforce(&ip.key()).await?;
    let body = body.into_inner();
    let (email, password, display_name) = (
        Email::parse("email", &body.email),
        Password::parse("password", body.password),
        DisplayName::parse("display_name", &body.display_name),
    );
    let (email, password, display_name) = match (email, password, display_name) {
        (Ok(e), Ok(p), Ok(d)) => (e, p, d),
        (e, p, d) => {
            let errors = [e.err(), p.err(), d.err()].into_iter().flatten().collect();
            return Err(ApiError::Invalid(errors));
        }
    };
    let user_id = accounts.register(email, password, display_name).await?;
    Ok(HttpResponse::Created().json(RegisterResponse { user_id }))
}
