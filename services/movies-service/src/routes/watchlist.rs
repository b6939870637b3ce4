//! The caller's watchlist: list, add (PUT), remove (DELETE). Both changes are idempotent.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use marquee_common::{
    auth::AuthUser,
    http::{Problem, pagination::PageRequest},
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::MovieId,
    error::ApiError,
    store::watchlist::{Position, WatchlistItem},
    watchlist::{Added, Watchlists},
};

/// A movie on the watchlist, with the catalogue facts it was added with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WatchlistEntry {
    movie_id: i64,
    title: String,
    release_date: Option<NaiveDate>,
    poster_url: Option<String>,
    added_at: DateTime<Utc>,
}

impl From<WatchlistItem> for WatchlistEntry {
    fn from(item: WatchlistItem) -> Self {
        Self {
            movie_id: item.movie_id,
            title: item.title,
            release_date: item.release_date,
            poster_url: item.poster_url,
            added_at: item.added_at,
        }
    }
}

/// One page of a watchlist, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WatchlistPage {
    items: Vec<WatchlistEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The caller's watchlist, newest first.
#[utoipa::path(
    get,
    path = "/v1/movies/watchlist",
    tag = "watchlist",
    params(PageParams),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of the watchlist", body = WatchlistPage),
        (status = 400, description = "`invalid_query`: a repeated or ill-typed parameter (`limit=ten`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`, `invalid_token` or `session_ended`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    user: AuthUser,
    watchlists: web::Data<Watchlists>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let page = PageRequest::<Position>::parse(params.limit, params.cursor.as_deref())
        .map_err(|errors| ApiError::Rejected(Box::new(Problem::validation(errors))))?;
    let page = watchlists.list(user.id, page).await?;
    let page = page.map(WatchlistEntry::from);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "private, no-cache"))
        .json(WatchlistPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }))
}

/// Puts a movie on the caller's watchlist: 201 when added, 200 when it was already there.
#[utoipa::path(
    put,
    path = "/v1/movies/watchlist/{movie_id}",
    tag = "watchlist",
    params(("movie_id" = i64, Path, minimum = 1, description = "Movie id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 201, description = "Added; `WatchlistChanged` (ADDED) is published", body = WatchlistEntry),
        (status = 200, description = "Already on the watchlist; nothing changed", body = WatchlistEntry),
        (status = 400, description = "`invalid_path`: `movie_id` is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`, `invalid_token` or `session_ended`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`movie_not_found`: not in the catalogue", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`watchlist_full`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: movie id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`catalogue_unavailable`: the movie could not be checked", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn add(
    user: AuthUser,
    watchlists: web::Data<Watchlists>,
    movie_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let movie = MovieId::parse("movie_id", movie_id.into_inner())?;
    let (item, added) = watchlists.add(user.id, movie).await?;
    let mut response = match added {
        Added::New => HttpResponse::Created(),
        Added::AlreadyThere => HttpResponse::Ok(),
    };
    Ok(response.json(WatchlistEntry::from(item)))
}

/// Takes a movie off the caller's watchlist (204 whether or not it was there).
#[utoipa::path(
    delete,
    path = "/v1/movies/watchlist/{movie_id}",
    tag = "watchlist",
    params(("movie_id" = i64, Path, minimum = 1, description = "Movie id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 204, description = "Not on the watchlist (any more); a removal publishes `WatchlistChanged` (REMOVED)"),
        (status = 400, description = "`invalid_path`: `movie_id` is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`unauthenticated`, `invalid_token` or `session_ended`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: movie id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove(
    user: AuthUser,
    watchlists: web::Data<Watchlists>,
    movie_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let movie = MovieId::parse("movie_id", movie_id.into_inner())?;
    watchlists.remove(user.id, movie).await?;
    Ok(HttpResponse::NoContent().finish())
}
