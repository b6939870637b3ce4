//! A password as typed, held as a secret.

use secrecy::{ExposeSecret, SecretString};

use super::Invalid;

/// Shortest accepted password, in bytes.
pub const MIN_BYTES: usize = 8;
/// Longest accepted password: bcrypt ignores everything after 72 bytes, so a longer password
/// would be silently truncated. It is refused instead.
pub const MAX_BYTES: usize = 72;

/// A password between [`MIN_BYTES`] and [`MAX_BYTES`] bytes of UTF-8. Never logged.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn parse(field: &'static str, raw: SecretString) -> Result<Self, Invalid> {
        let length = raw.expose_secret().len();
        if length < MIN_BYTES {
            return Err(Invalid::new(
                field,
                format!("must be at least {MIN_BYTES} bytes"),
            ));
        }
        if length > MAX_BYTES {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_BYTES} bytes (UTF-8)"),
            ));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Password, Invalid> {
        Password::parse("password", SecretString::from(raw.to_owned()))
    }

    #[test]
    fn length_is_counted_in_bytes_from_8_to_72() {
        assert!(parse("1234567").is_err());
        assert!(parse("12345678").is_ok());
        assert!(parse(&"x".repeat(72)).is_ok());
        assert!(parse(&"x".repeat(73)).is_err());
        // 24 three-byte characters are 72 bytes; 25 are 75.
        assert!(parse(&"€".repeat(24)).is_ok());
        assert!(parse(&"€".repeat(25)).is_err());
    }

    #[test]
    fn the_value_does_not_appear_in_debug_output() {
        assert!(!format!("{:?}", parse("hunter2hunter2").unwrap()).contains("hunter2"));
    }
}
