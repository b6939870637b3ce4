//! HTTP endpoints under `/v1/users`. Handlers parse input into domain types, call one
//! [`Profiles`](crate::profiles::Profiles) operation and shape the answer; [`ApiDoc`]
//! describes them all (served at `/v1/users/openapi.json`).

mod preconditions;
mod profiles;

use actix_web::{HttpResponse, middleware::from_fn, web};
use marquee_common::http::{FieldError, Problem, idempotency};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/users")
            // PATCH and DELETE honour `Idempotency-Key`; safe methods pass through.
            .wrap(from_fn(idempotency::middleware))
            .route("/openapi.json", web::get().to(openapi))
            .route("", web::get().to(profiles::list))
            .service(
                web::resource("/me")
                    .route(web::get().to(profiles::get_me))
                    .route(web::patch().to(profiles::update_me)),
            )
            .service(
                web::resource("/{id}")
                    .route(web::get().to(profiles::get))
                    .route(web::patch().to(profiles::update))
                    .route(web::delete().to(profiles::delete)),
            ),
    );
}

/// user-service's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Marquee user-service",
        description = "User profiles. Errors are RFC 9457 problems \
            (`application/problem+json`) with a stable `code`. Every endpoint needs an access \
            token from auth-service.",
    ),
    paths(
        profiles::get_me,
        profiles::update_me,
        profiles::get,
        profiles::update,
        profiles::delete,
        profiles::list,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&Security),
    security(("bearer" = []), ("cookie" = [])),
    tags((name = "users", description = "Profiles")),
)]
pub struct ApiDoc;

/// Declares the two ways to send an access token.
#[derive(Debug)]
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                marquee_common::auth::ACCESS_COOKIE,
            ))),
        );
    }
}

/// `GET /v1/users/openapi.json`.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
