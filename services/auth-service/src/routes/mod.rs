//! HTTP endpoints under `/v1/auth`, plus the JWKS. Handlers parse input into domain types,
//! call one `Accounts` operation and shape the answer; [`ApiDoc`] describes them all
//! (served at `/v1/auth/openapi.json`).

mod cookies;
mod jwks;
mod login;
mod password;
mod refresh;
mod register;
mod sessions;

use actix_web::{HttpResponse, middleware::from_fn, web};
use marquee_common::http::{FieldError, Problem, idempotency, openapi::TokenSecurity};
use utoipa::OpenApi;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(jwks::jwks))
        .service(
            web::scope("/v1/auth")
                .route("/.well-known/jwks.json", web::get().to(jwks::jwks))
                .route("/openapi.json", web::get().to(openapi))
                .service(
                    web::resource("/register")
                        .wrap(from_fn(idempotency::middleware))
                        .route(web::post().to(register::register)),
                )
                .route("/login", web::post().to(login::login))
                .route("/refresh", web::post().to(refresh::refresh))
                .route("/logout", web::post().to(sessions::logout))
                .route("/logout-all", web::post().to(sessions::logout_all))
                .route("/sessions", web::get().to(sessions::list))
                .route("/sessions/{id}", web::delete().to(sessions::delete))
                .route("/password", web::post().to(password::change)),
        );
}

/// auth-service's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Marquee auth-service",
        description = "Accounts, sessions and access tokens. Errors are RFC 9457 problems \
            (`application/problem+json`) with a stable `code`.",
    ),
    paths(
        register::register,
        login::login,
        refresh::refresh,
        sessions::logout,
        sessions::logout_all,
        sessions::list,
        sessions::delete,
        password::change,
        jwks::jwks,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&TokenSecurity),
    tags((name = "auth", description = "Accounts and sessions")),
)]
pub struct ApiDoc;

/// `GET /v1/auth/openapi.json`.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
