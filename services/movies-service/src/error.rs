//! movies-service's errors and how clients see them (one place, stable codes).
//!
//! | code | status | when |
//! |---|---|---|
//! | `movie_not_found` | 404 | no such movie in the catalogue |
//! | `validation_failed` | 422 | a parameter is invalid (per-field `errors`) |
//! | `watchlist_full` | 409 | the watchlist holds `WATCHLIST_MAX_ITEMS` movies |
//! | `catalogue_unavailable` | 503 | TMDb failed and nothing usable was cached (`Retry-After`) |
//! | `database_unavailable` | 503 | PostgreSQL is unreachable (`Retry-After`) |
//!
//! Missing or invalid tokens are answered by the shared verifier (401 `unauthorized`).

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use marquee_common::{db::DbError, domain::Invalid, http::Problem};

use crate::catalogue::{CatalogueError, UpstreamError};

/// Everything a movies-service endpoint can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such movie")]
    MovieNotFound,
    #[error("invalid input: {0:?}")]
    Invalid(Vec<Invalid>),
    #[error("the watchlist is full ({max_items} movies)")]
    WatchlistFull { max_items: i64 },
    #[error("catalogue unavailable: {0}")]
    CatalogueUnavailable(UpstreamError),
    /// A problem built elsewhere (bad paging parameters).
    #[error("rejected: {}", .0.code())]
    Rejected(Box<Problem>),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::from(error))
    }
}

impl From<CatalogueError> for ApiError {
    fn from(error: CatalogueError) -> Self {
        match error {
            CatalogueError::NotFound => Self::MovieNotFound,
            CatalogueError::Unavailable(cause) => Self::CatalogueUnavailable(cause),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(vec![invalid])
    }
}

impl From<Vec<Invalid>> for ApiError {
    fn from(invalid: Vec<Invalid>) -> Self {
        Self::Invalid(invalid)
    }
}

impl ApiError {
    fn problem(&self) -> Problem {
        match self {
            Self::MovieNotFound => Problem::not_found("movie_not_found", "No such movie"),
            Self::Invalid(fields) => Invalid::problem(fields),
            Self::WatchlistFull { max_items } => {
                Problem::conflict("watchlist_full", "The watchlist is full")
                    .with_detail(format!("a watchlist holds at most {max_items} movies; remove some first"))
            }
            // The cause was logged where it happened (the TMDb client).
            Self::CatalogueUnavailable(cause) => {
                Problem::unavailable("catalogue_unavailable", cause.retry_after()).with_detail(
                    "the movie catalogue cannot be reached right now and this answer is not cached; try again shortly",
                )
            }
            Self::Rejected(problem) => (**problem).clone(),
            Self::Database(DbError::Unavailable(cause)) => {
                Problem::from(DbError::Unavailable(cause.clone()))
            }
            Self::Database(other) => Problem::internal(other),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem().status()
    }

    fn error_response(&self) -> HttpResponse {
        self.problem().error_response()
    }
}
