use actix_web::{HttpRequest, HttpResponse, http::header, web};
use marquee_common::http::{
    Problem,
    problem::{DEFAULT_JSON_LIMIT, json_problem, payload_problem},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    cookies::{self, CookieMode},
    login::{TokensResponse, tokens_response},
};
use crate::{accounts::Accounts, error::ApiError};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    refresh_token: SecretString,
}

/// Trade a refresh token for a new pair; the old one stops working.
///
/// The token comes from the body or, with an empty (or `null`) body, from the `marquee_refresh` cookie
/// (then the new one is set as a cookie too). Presenting a token that was already rotated
/// revokes the whole session (401 `refresh_token_reused`), except within
/// `AUTH_REFRESH_GRACE` (10 s) of its rotation, when the same successor is returned again so
/// concurrent tabs both succeed.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    params(CookieMode),
    request_body(content = Option<RefreshRequest>, description = "Omit (or send `null`) to use the cookie"),
    responses(
        (status = 200, description = "New tokens", body = TokensResponse),
        (status = 401, description = "`invalid_refresh_token` or `refresh_token_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No token given, or a malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`sessions_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    request: HttpRequest,
    accounts: web::Data<Accounts>,
    mode: web::Query<CookieMode>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut mode = mode.into_inner();
    let body = match body.to_bytes_limited(DEFAULT_JSON_LIMIT).await {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => return Err(payload_problem(&error).into()),
        Err(_) => {
            return Err(Problem::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request body is too large",
            )
            .into());
        }
    };
    let token = if body.trim_ascii().is_empty() || body.trim_ascii() == b"null" {
        // A browser relying on its cookie: answer in kind.
        mode.cookie = true;
        cookies::refresh_token(&request).ok_or_else(|| {
            Problem::validation(Vec::new()).with_field_error(
                "refresh_token",
                "is required, in the body or the marquee_refresh cookie",
            )
        })?
    } else {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(Problem::new(
                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Request body must be application/json",
            )
            .into());
        }
        let parsed: RefreshRequest = serde_json::from_slice(&body).map_err(|e| json_problem(&e))?;
        parsed.refresh_token.expose_secret().to_owned()
    };
    let tokens = accounts.refresh(&token).await?;
    Ok(tokens_response(tokens, &mode, &accounts))
}
