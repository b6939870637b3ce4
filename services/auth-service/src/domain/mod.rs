//! Account types that can only be built valid: past the HTTP edge, code never re-checks an
//! e-mail, a password or a display name. E-mail and display name are shared with user-service
//! and live in `marquee_common::domain`.

mod password;

pub use marquee_common::domain::{DisplayName, Email, Invalid};
pub use password::Password;
