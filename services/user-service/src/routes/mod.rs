//! HTTP endpoints under `/v1/users`. Handlers parse input into domain types, call one
//! [`Profiles`](crate::profiles::Profiles) operation and shape the answer; [`ApiDoc`]
//! describes them all (served at `/v1/users/openapi.json`).

mod preconditions;
mod profiles;

use actix_web::{HttpResponse, middleware::from_fn, web};
use marquee_common::http::{
    FieldError, Problem, idempotency,
    openapi::{Conventions, TokenSecurity},
};
use utoipa::OpenApi;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/users")
            .service(web::resource("/openapi.json").get(openapi))
            .service(web::resource("").get(profiles::list))
            .service(
                web::resource("/me")
                    .route(web::get().to(profiles::get_me))
                    .route(keyed(web::patch().to(profiles::update_me))),
            )
            .service(
                web::resource("/{id}")
                    .route(web::get().to(profiles::get))
                    .route(keyed(web::patch().to(profiles::update)))
                    .route(keyed(web::delete().to(profiles::delete))),
            ),
    );
}

/// PATCH and DELETE honour `Idempotency-Key`: the middleware sits on those routes, so
/// another method gets its 405 before any key is looked at.
fn keyed(route: actix_web::Route) -> actix_web::Route {
    route.wrap(from_fn(idempotency::middleware))
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
    modifiers(&TokenSecurity, &Conventions),
    security(("bearer" = []), ("cookie" = [])),
    tags((name = "users", description = "Profiles")),
)]
pub struct ApiDoc;

/// `GET /v1/users/openapi.json`.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
