//! Public catalogue reads: popular, search, details, genres.
//!
//! Every answer says where it came from: `Cache-Status` (RFC 9211) names our cache and whether
//! it was a hit, `Age` how old a cached copy is, and a copy served because TMDb failed also
//! carries `Warning: 110 - "Response is Stale"`. `Cache-Control` lets browsers and shared
//! caches keep an answer for what is left of its freshness.

use actix_web::{HttpResponse, http::header, web};
use marquee_common::{domain::Invalid, http::Problem};
use serde::{Deserialize, Serialize};

use crate::{
    catalogue::{Catalogue, GenreList, Movie, MoviePage, Origin, Served},
    domain::{Language, MovieId, PageNumber, SearchQuery},
    error::ApiError,
};

/// The `Cache-Status` name of our cache.
const CACHE_NAME: &str = "marquee-movies";
/// How long clients may keep answers of the offline catalogue, which only a deploy changes.
const OFFLINE_MAX_AGE: u64 = 3600;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Results page, 1 to 500 (default 1).
    #[param(minimum = 1, maximum = 500)]
    page: Option<i64>,
    /// ISO 639-1 language, optionally with a region: `en`, `en-US` (default `TMDB_LANGUAGE`).
    #[param(pattern = r"^\s*([A-Za-z]{2}(-[A-Za-z]{2})?)?\s*$")]
    language: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to search for in titles (1 to 200 characters, not only spaces, no control
    /// characters).
    #[param(
        required = true,
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    q: Option<String>,
    /// Results page, 1 to 500 (default 1).
    #[param(minimum = 1, maximum = 500)]
    page: Option<i64>,
    /// ISO 639-1 language, optionally with a region (default `TMDB_LANGUAGE`).
    #[param(pattern = r"^\s*([A-Za-z]{2}(-[A-Za-z]{2})?)?\s*$")]
    language: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LanguageParams {
    /// ISO 639-1 language, optionally with a region (default `TMDB_LANGUAGE`).
    #[param(pattern = r"^\s*([A-Za-z]{2}(-[A-Za-z]{2})?)?\s*$")]
    language: Option<String>,
}

/// Popular movies now.
#[utoipa::path(
    get,
    path = "/v1/movies/popular",
    tag = "catalogue",
    params(ListParams),
    responses(
        (status = 200, description = "A page of popular movies", body = MoviePage),
        (status = 400, description = "`invalid_query`: a repeated or ill-typed parameter (`page=two`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: page or language", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`catalogue_unavailable`: TMDb is down and nothing is cached", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn popular(
    catalogue: web::Data<Catalogue>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let (page, language) = both(
        one(PageNumber::parse("page", params.page)),
        one(language(params.language)),
    )?;
    Ok(respond(catalogue.popular(language, page).await?))
}

/// Movies whose title matches `q`.
#[utoipa::path(
    get,
    path = "/v1/movies/search",
    tag = "catalogue",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of matching movies (possibly empty)", body = MoviePage),
        (status = 400, description = "`invalid_query`: a repeated or ill-typed parameter (`page=two`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: empty `q`, page or language", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`catalogue_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search(
    catalogue: web::Data<Catalogue>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let query = one(SearchQuery::parse("q", params.q.as_deref()));
    let ((query, page), language) = both(
        both(query, one(PageNumber::parse("page", params.page))),
        one(language(params.language)),
    )?;
    Ok(respond(catalogue.search(&query, language, page).await?))
}

/// A movie's details.
#[utoipa::path(
    get,
    path = "/v1/movies/{id}",
    tag = "catalogue",
    params(("id" = i64, Path, minimum = 1, description = "Movie id"), LanguageParams),
    responses(
        (status = 200, description = "The movie", body = Movie),
        (status = 400, description = "`invalid_path` (not a number) or `invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`movie_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: id or language", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`catalogue_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn movie(
    catalogue: web::Data<Catalogue>,
    id: web::Path<i64>,
    params: web::Query<LanguageParams>,
) -> Result<HttpResponse, ApiError> {
    let (id, language) = both(
        one(MovieId::parse("id", id.into_inner())),
        one(language(params.into_inner().language)),
    )?;
    Ok(respond(catalogue.movie(id, language).await?))
}

/// Every genre, named in the requested language.
#[utoipa::path(
    get,
    path = "/v1/movies/genres",
    tag = "catalogue",
    params(LanguageParams),
    responses(
        (status = 200, description = "The genres", body = GenreList),
        (status = 400, description = "`invalid_query`: a repeated or ill-typed parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: language", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`catalogue_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn genres(
    catalogue: web::Data<Catalogue>,
    params: web::Query<LanguageParams>,
) -> Result<HttpResponse, ApiError> {
    let language = language(params.into_inner().language)?;
    Ok(respond(catalogue.genres(language).await?))
}

/// The requested language; blank (`?language=`) means the default, as absent does.
fn language(raw: Option<String>) -> Result<Option<Language>, Invalid> {
    raw.filter(|raw| !raw.trim().is_empty())
        .map(|raw| Language::parse("language", &raw))
        .transpose()
}

fn one<T>(parsed: Result<T, Invalid>) -> Result<T, Vec<Invalid>> {
    parsed.map_err(|invalid| vec![invalid])
}

/// Both values, or every field error of the two (a client learns all its mistakes at once).
fn both<A, B>(
    a: Result<A, Vec<Invalid>>,
    b: Result<B, Vec<Invalid>>,
) -> Result<(A, B), Vec<Invalid>> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => {
            let mut errors = a.err().unwrap_or_default();
            errors.extend(b.err().unwrap_or_default());
            Err(errors)
        }
    }
}

/// 200 with `served`, and the headers that say where it came from.
fn respond<T: Serialize>(served: Served<T>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    match served.origin {
        Origin::Hit { age, fresh_for } => {
            response
                .insert_header((
                    "Cache-Status",
                    format!("{CACHE_NAME}; hit; ttl={}", fresh_for.as_secs()),
                ))
                .insert_header((header::AGE, age.as_secs().to_string()))
                // max-age counts from when the answer was fetched, as Age does.
                .insert_header(cache_for((age + fresh_for).as_secs()));
        }
        Origin::Fetched { fresh_for } => {
            response
                .insert_header(("Cache-Status", format!("{CACHE_NAME}; fwd=miss; stored")))
                .insert_header(cache_for(fresh_for.as_secs()));
        }
        Origin::Stale { age, expired_for } => {
            response
                .insert_header((
                    "Cache-Status",
                    format!(
                        "{CACHE_NAME}; hit; ttl=-{}; detail=stale-upstream-unavailable",
                        expired_for.as_secs()
                    ),
                ))
                .insert_header((header::AGE, age.as_secs().to_string()))
                .insert_header((
                    header::WARNING,
                    r#"110 - "Response is Stale", 111 - "Revalidation Failed""#,
                ))
                .insert_header((header::CACHE_CONTROL, "no-cache"));
        }
        Origin::Local => {
            response.insert_header(cache_for(OFFLINE_MAX_AGE));
        }
    }
    response.json(served.value)
}

fn cache_for(seconds: u64) -> (header::HeaderName, String) {
    (header::CACHE_CONTROL, format!("public, max-age={seconds}"))
}
