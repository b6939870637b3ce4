//! user-service's errors and how clients see them (one place, stable codes).

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use marquee_common::{db::DbError, http::Problem};

/// Everything a user-service endpoint can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such profile (or not yet: profiles appear shortly after registration).
    #[error("no such profile")]
    NotFound,
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::Query(error))
    }
}

impl ApiError {
    fn problem(&self) -> Problem {
        match self {
            Self::NotFound => Problem::not_found("profile_not_found", "No such profile"),
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
