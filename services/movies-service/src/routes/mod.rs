//! HTTP endpoints under `/v1/movies`. Handlers parse input into domain types, call the
//! [`Catalogue`](crate::catalogue::Catalogue) or [`Watchlists`](crate::watchlist::Watchlists)
//! and shape the answer; [`ApiDoc`] describes them all (served at `/v1/movies/openapi.json`).

mod catalogue;
mod watchlist;

use actix_web::{HttpResponse, web};
use marquee_common::http::{
    FieldError, Problem,
    openapi::{Conventions, TokenSecurity},
};
use utoipa::OpenApi;

/// Mounts every route. The fixed paths come before `/{id}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1/movies")
            .service(web::resource("/openapi.json").get(openapi))
            .service(web::resource("/popular").get(catalogue::popular))
            .service(web::resource("/search").get(catalogue::search))
            .service(web::resource("/genres").get(catalogue::genres))
            .service(web::resource("/watchlist").get(watchlist::list))
            .service(
                web::resource("/watchlist/{movie_id}")
                    .route(web::put().to(watchlist::add))
                    .route(web::delete().to(watchlist::remove)),
            )
            .service(web::resource("/{id}").get(catalogue::movie)),
    );
}

/// movies-service's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Marquee movies-service",
        description = "The movie catalogue (TMDb, or a bundled offline catalogue) and \
            watchlists. Errors are RFC 9457 problems (`application/problem+json`) with a \
            stable `code`. Catalogue reads are public; watchlists need an access token from \
            auth-service. Catalogue answers carry `Cache-Status` (RFC 9211); a copy served \
            while TMDb is down also carries `Warning: 110`.",
    ),
    paths(
        catalogue::popular,
        catalogue::search,
        catalogue::genres,
        catalogue::movie,
        watchlist::list,
        watchlist::add,
        watchlist::remove,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&TokenSecurity, &Conventions),
    tags(
        (name = "catalogue", description = "Movies, search and genres"),
        (name = "watchlist", description = "The caller's watchlist"),
    ),
)]
pub struct ApiDoc;

/// `GET /v1/movies/openapi.json`.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
