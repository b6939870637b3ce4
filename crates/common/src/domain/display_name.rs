//! The name other users see.

use super::Invalid;

/// Longest display name, in characters.
pub const MAX_CHARS: usize = 64;

/// A display name: 1 to 64 characters after trimming, no control characters, inner
/// whitespace collapsed to single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err(Invalid::new(field, "is required"));
        }
        if name.chars().count() > MAX_CHARS {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid::new(field, "must not contain control characters"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_tidied_and_limits_hold() {
        assert_eq!(
            DisplayName::parse("n", "  Ada   Lovelace ")
                .unwrap()
                .as_str(),
            "Ada Lovelace"
        );
        assert!(DisplayName::parse("n", "   ").is_err());
        assert!(DisplayName::parse("n", &"é".repeat(64)).is_ok());
        assert!(DisplayName::parse("n", &"é".repeat(65)).is_err());
        assert!(DisplayName::parse("n", "bell\u{7}").is_err());
    }
}
