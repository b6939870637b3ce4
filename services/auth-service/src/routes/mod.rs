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
use marquee_common::http::{
    FieldError, Problem, idempotency,
    openapi::{Conventions, TokenSecurity},
};
use utoipa::OpenApi;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/.well-known/jwks.json").get(jwks::jwks))
        .service(
            web::scope("/v1/auth")
                .service(web::resource("/.well-known/jwks.json").get(jwks::jwks))
                .service(web::resource("/openapi.json").get(openapi))
                .service(
                    // On the route, not the resource: another method gets its 405 first.
                    web::resource("/register").route(
                        web::post()
                            .to(register::register)
                            .wrap(from_fn(idempotency::middleware)),
                    ),
                )
                .service(web::resource("/login").post(login::login))
                .service(web::resource("/refresh").post(refresh::refresh))
                .service(web::resource("/logout").post(sessions::logout))
                .service(web::resource("/logout-all").post(sessions::logout_all))
                .service(web::resource("/sessions").get(sessions::list))
                .service(web::resource("/sessions/{id}").delete(sessions::delete))
                .service(web::resource("/password").post(password::change)),
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
    modifiers(&TokenSecurity, &Conventions),
    tags((name = "auth", description = "Accounts and sessions")),
)]
pub struct ApiDoc;

/// `GET /v1/auth/openapi.json`.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
