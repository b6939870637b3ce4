//! The free text a user writes about themselves.

use super::Invalid;

/// Longest bio, in characters.
pub const MAX_CHARS: usize = 500;

/// A bio: trimmed, at most 500 characters, line breaks and tabs allowed but no other control
/// characters. An empty bio is no bio (the field is cleared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    /// `None` for an empty (or all-blank) text, which clears the bio.
    pub fn parse(field: &'static str, raw: &str) -> Result<Option<Self>, Invalid> {
        // Browsers send line breaks from a textarea as CRLF.
        let bio = raw.replace("\r\n", "\n").replace('\r', "\n");
        let bio = bio.trim();
        if bio.is_empty() {
            return Ok(None);
        }
        if bio.chars().count() > MAX_CHARS {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_CHARS} characters"),
            ));
        }
        if bio
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            return Err(Invalid::new(
                field,
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(Some(Self(bio.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bios_are_trimmed_bounded_and_clean() {
        let bio = Bio::parse("bio", "  Likes films.\nAnd chess.  ").unwrap();
        assert_eq!(bio.unwrap().as_str(), "Likes films.\nAnd chess.");
        assert_eq!(Bio::parse("bio", "   ").unwrap(), None);
        assert!(Bio::parse("bio", &"é".repeat(MAX_CHARS)).is_ok());
        assert!(Bio::parse("bio", &"é".repeat(MAX_CHARS + 1)).is_err());
        assert!(Bio::parse("bio", "escape \u{1b}[2J").is_err());
        assert!(Bio::parse("bio", "nul \0").is_err());
        let crlf = Bio::parse("bio", "one\r\ntwo\rthree").unwrap().unwrap();
        assert_eq!(crlf.as_str(), "one\ntwo\nthree");
    }
}
