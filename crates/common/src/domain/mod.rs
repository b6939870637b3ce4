//! Values more than one service accepts from clients, each buildable only valid: past the HTTP
//! edge, code never re-checks an e-mail address or a display name (auth-service takes them at
//! registration, user-service when a profile changes).

mod display_name;
mod email;

pub use display_name::DisplayName;
pub use email::Email;

use crate::http::{FieldError, Problem};

/// Why an input was refused, for a 422 with per-field errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    /// The 422 `validation_failed` problem listing every refused field.
    pub fn problem(fields: &[Invalid]) -> Problem {
        Problem::validation(fields.iter().map(FieldError::from).collect())
    }
}

impl From<&Invalid> for FieldError {
    fn from(invalid: &Invalid) -> Self {
        Self {
            field: invalid.field.to_owned(),
            message: invalid.message.clone(),
        }
    }
}
