//! Account types that can only be built valid: past the HTTP edge, code never re-checks an
//! e-mail, a password or a display name.

mod display_name;
mod email;
mod password;

pub use display_name::DisplayName;
pub use email::Email;
pub use password::Password;

/// Why an input was refused, for a 422 with per-field errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
