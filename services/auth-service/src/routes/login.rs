use actix_web::{HttpRequest, HttpResponse, http::header, web};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::{
    accounts::Accounts,
    domain::{Email, Password},
    error::ApiError,
    sessions::Origin,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: SecretString,
}

/// `POST /v1/auth/login` → tokens for a new session. A malformed e-mail or a password of
/// impossible length is just as wrong as a mismatching one: same 401, nothing revealed.
pub async fn login(
    request: HttpRequest,
    accounts: web::Data<Accounts>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
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
        ip: request
            .connection_info()
            .realip_remote_addr()
            .map(str::to_owned),
    };
    let tokens = accounts.login(email, password, origin).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "token_type": "Bearer",
            "expires_in": tokens.expires_in,
            "session_id": tokens.session_id,
        })))
}
