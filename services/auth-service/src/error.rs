//! auth-service's errors and how clients see them (one place, stable codes).

use std::time::Duration;

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use marquee_common::{
    db::DbError,
    http::{FieldError, Problem},
};

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
    #[error("the password hashing pool is saturated")]
    Busy,
    /// Redis is unreachable: sessions can be neither created nor checked.
    #[error("sessions unavailable: {0}")]
    SessionsUnavailable(String),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::Query(error))
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

impl ApiError {
    fn problem(&self) -> Problem {
        match self {
            Self::Invalid(fields) => Problem::validation(
                fields
                    .iter()
                    .map(|f| FieldError {
                        field: f.field.to_owned(),
                        message: f.message.clone(),
                    })
                    .collect(),
            ),
            Self::EmailTaken => {
                Problem::conflict("email_taken", "This e-mail address is already registered")
            }
            Self::InvalidCredentials => {
                Problem::unauthorized("invalid_credentials", "Wrong e-mail address or password")
            }
            Self::Busy => Problem::unavailable("busy", Duration::from_secs(1))
                .with_detail("too many sign-ins at once; retry shortly"),
            Self::SessionsUnavailable(cause) => {
                tracing::warn!(%cause, "session store unavailable");
                Problem::unavailable("sessions_unavailable", Duration::from_secs(2))
                    .with_detail("sessions cannot be created right now; retry shortly")
            }
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
            Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Busy | Self::SessionsUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(DbError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.problem().error_response()
    }
}
