//! user-service's errors and how clients see them (one place, stable codes).
//!
//! | code | status | when |
//! |---|---|---|
//! | `profile_not_found` | 404 | no such profile (or not yet: it appears shortly after registration) |
//! | `forbidden` | 403 | another user's profile, or an admin-only listing |
//! | `validation_failed` | 422 | a field is invalid (per-field `errors`) |
//! | `version_mismatch` | 412 | `If-Match` names another version than the current one |
//! | `email_taken` | 409 | another profile has that e-mail address |
//! | `database_unavailable` | 503 | PostgreSQL is unreachable (`Retry-After`) |

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use marquee_common::{db::DbError, domain::Invalid, http::Problem};

/// Everything a user-service endpoint can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such profile (or not yet: profiles appear shortly after registration).
    #[error("no such profile")]
    NotFound,
    /// The caller may not read or change this.
    #[error("forbidden")]
    Forbidden,
    #[error("invalid input: {0:?}")]
    Invalid(Vec<Invalid>),
    /// `If-Match` did not name the current version.
    #[error("version mismatch (current {current})")]
    VersionMismatch { current: i64 },
    #[error("e-mail address taken")]
    EmailTaken,
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

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self::Rejected(Box::new(problem))
    }
}

impl ApiError {
    fn problem(&self) -> Problem {
        match self {
            Self::NotFound => Problem::not_found("profile_not_found", "No such profile"),
            Self::Forbidden => {
                Problem::forbidden("forbidden", "You may not read or change this resource")
            }
            Self::Invalid(fields) => Invalid::problem(fields),
            Self::VersionMismatch { current } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "version_mismatch",
                "The profile changed since you read it",
            )
            .with_detail(format!(
                "the current version is {current} (ETag \"{current}\"); read it again and retry"
            )),
            Self::EmailTaken => Problem::conflict(
                "email_taken",
                "This e-mail address belongs to another account",
            ),
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
