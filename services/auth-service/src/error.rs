//! auth-service's errors and how clients see them (one place, stable codes).
//!
//! | code | status | when |
//! |---|---|---|
//! | `validation_failed` | 422 | a field is invalid (per-field `errors`) |
//! | `email_taken` | 409 | registering an address that is taken |
//! | `invalid_credentials` | 401 | wrong e-mail or password (one answer for both) |
//! | `too_many_attempts` | 429 | the address is locked after failed sign-ins (`Retry-After`) |
//! | `rate_limited` | 429 | too many requests from this client IP (`Retry-After`, `RateLimit-*`) |
//! | `wrong_password` | 403 | the current password given to `POST /password` is wrong |
//! | `invalid_refresh_token` | 401 | unknown, malformed or expired refresh token |
//! | `refresh_token_reused` | 401 | an already-rotated refresh token: the session is now revoked |
//! | `session_not_found` | 404 | no such session among the caller's |
//! | `busy` | 503 | the password hashing pool is saturated (`Retry-After`) |
//! | `sessions_unavailable` | 503 | Redis is unreachable (`Retry-After`) |
//! | `database_unavailable` | 503 | PostgreSQL is unreachable (`Retry-After`) |

use std::time::Duration;

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use marquee_common::{db::DbError, http::Problem};

use crate::{domain::Invalid, hashing::HashError};

/// Everything an auth-service endpoint can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid input")]
    Invalid(Vec<Invalid>),
    #[error("the e-mail address is already registered")]
    EmailTaken,
    /// Unknown e-mail or wrong password: deliberately one answer for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed sign-ins for this address; locked for the given time.
    #[error("locked for {0:?} after failed sign-ins")]
    Locked(Duration),
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("refresh token reused; session revoked")]
    RefreshTokenReused,
    #[error("no such session")]
    SessionNotFound,
    #[error("the password hashing pool is saturated")]
    Busy,
    /// Redis is unreachable: sessions can be neither created nor checked.
    #[error("sessions unavailable: {0}")]
    SessionsUnavailable(String),
    /// A problem decided elsewhere (the rate limiter).
    #[error("{0}")]
    Rejected(Box<Problem>),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn sessions_unavailable(cause: impl std::fmt::Display) -> Self {
        Self::SessionsUnavailable(cause.to_string())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::from(error))
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => Self::Busy,
            HashError::Failed(cause) => Self::Internal(cause),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(vec![invalid])
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
            Self::Invalid(fields) => Invalid::problem(fields),
            Self::EmailTaken => {
                Problem::conflict("email_taken", "This e-mail address is already registered")
            }
            Self::InvalidCredentials => {
                Problem::unauthorized("invalid_credentials", "Wrong e-mail address or password")
            }
            Self::Locked(wait) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many failed sign-ins",
            )
            .with_detail("sign-in for this address is paused; retry after the delay")
            .with_retry_after(*wait),
            Self::WrongPassword => {
                Problem::forbidden("wrong_password", "The current password is wrong")
            }
            Self::InvalidRefreshToken => Problem::unauthorized(
                "invalid_refresh_token",
                "Invalid or expired refresh token; sign in again",
            ),
            Self::RefreshTokenReused => Problem::unauthorized(
                "refresh_token_reused",
                "This refresh token was already used; the session has been ended",
            ),
            Self::SessionNotFound => Problem::not_found("session_not_found", "No such session"),
            Self::Busy => Problem::unavailable("busy", Duration::from_secs(1))
                .with_detail("too many sign-ins at once; retry shortly"),
            Self::SessionsUnavailable(cause) => {
                tracing::warn!(%cause, "session store unavailable");
                Problem::unavailable("sessions_unavailable", Duration::from_secs(2))
                    .with_detail("sessions cannot be created or changed right now; retry shortly")
            }
            Self::Rejected(problem) => (**problem).clone(),
            Self::Database(error) => match error {
                DbError::Unavailable(cause) => Problem::from(DbError::Unavailable(cause.clone())),
                other => Problem::internal(other),
            },
            Self::Internal(cause) => Problem::internal(cause),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::InvalidCredentials | Self::InvalidRefreshToken | Self::RefreshTokenReused => {
                StatusCode::UNAUTHORIZED
            }
            Self::Locked(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::WrongPassword => StatusCode::FORBIDDEN,
            Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::Busy | Self::SessionsUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Rejected(problem) => problem.status(),
            Self::Database(DbError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.problem().error_response()
    }
}
