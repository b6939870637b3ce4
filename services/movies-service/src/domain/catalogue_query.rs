//! What a catalogue request may ask for: a movie id, a results page, a language, a search.

use std::fmt;

use marquee_common::domain::Invalid;

/// A catalogue movie id: a positive integer (TMDb's ids, or the offline catalogue's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MovieId(i64);

impl MovieId {
    pub fn parse(field: &'static str, raw: i64) -> Result<Self, Invalid> {
        if raw > 0 {
            Ok(Self(raw))
        } else {
            Err(Invalid::new(field, "must be a positive integer"))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for MovieId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A page of a provider's result list, 1 to 500 (TMDb serves no page beyond 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageNumber(u16);

impl PageNumber {
    pub const FIRST: Self = Self(1);
    pub const MAX: u16 = 500;

    pub fn parse(field: &'static str, raw: Option<i64>) -> Result<Self, Invalid> {
        match raw {
            None => Ok(Self::FIRST),
            Some(page) => u16::try_from(page)
                .ok()
                .filter(|p| (1..=Self::MAX).contains(p))
                .map(Self)
                .ok_or_else(|| Invalid::new(field, format!("must be between 1 and {}", Self::MAX))),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// A language for titles and overviews: an ISO 639-1 code with an optional ISO 3166-1 region,
/// the form TMDb takes (`en`, `en-US`, `pt-BR`). Case is normalised (`EN-us` → `en-US`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Language(String);

impl Language {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, Invalid> {
        let invalid = || {
            Invalid::new(
                field,
                "must be a language code like en or en-US (ISO 639-1, optional region)",
            )
        };
        let raw = raw.trim();
        let (language, region) = match raw.split_once('-') {
            Some((language, region)) => (language, Some(region)),
            None => (raw, None),
        };
        let letters =
            |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_alphabetic());
        if !letters(language, 2) || region.is_some_and(|r| !letters(r, 2)) {
            return Err(invalid());
        }
        let mut canonical = language.to_ascii_lowercase();
        if let Some(region) = region {
            canonical.push('-');
            canonical.push_str(&region.to_ascii_uppercase());
        }
        Ok(Self(canonical))
    }

    /// American English, the default.
    pub fn en_us() -> Self {
        Self("en-US".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A search text: 1 to 200 characters after trimming, inner whitespace collapsed, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(String);

impl SearchQuery {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(field: &'static str, raw: Option<&str>) -> Result<Self, Invalid> {
        let raw = raw.unwrap_or_default();
        if raw.chars().any(char::is_control) {
            return Err(Invalid::new(field, "must not contain control characters"));
        }
        let query = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if query.is_empty() {
            return Err(Invalid::new(field, "is required: what to search for"));
        }
        if query.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(query))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movie_ids_are_positive() {
        assert_eq!(MovieId::parse("id", 603).unwrap().get(), 603);
        assert!(MovieId::parse("id", 0).is_err());
        assert!(MovieId::parse("id", -1).is_err());
    }

    #[test]
    fn pages_default_to_one_and_stop_at_500() {
        assert_eq!(PageNumber::parse("page", None).unwrap().get(), 1);
        assert_eq!(PageNumber::parse("page", Some(500)).unwrap().get(), 500);
        for bad in [0, -3, 501, i64::MAX] {
            assert!(PageNumber::parse("page", Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn languages_are_canonical_iso_codes() {
        assert_eq!(Language::parse("l", "en").unwrap().as_str(), "en");
        assert_eq!(Language::parse("l", "EN-us").unwrap().as_str(), "en-US");
        assert_eq!(Language::parse("l", " pt-BR ").unwrap().as_str(), "pt-BR");
        for bad in [
            "",
            "e",
            "eng",
            "en-",
            "en-USA",
            "en_US",
            "e1",
            "en-U1",
            "zh-Hant-TW",
            "é",
        ] {
            assert!(Language::parse("l", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn search_queries_are_tidied_and_bounded() {
        assert_eq!(
            SearchQuery::parse("q", Some("  the   gold rush "))
                .unwrap()
                .as_str(),
            "the gold rush"
        );
        assert!(SearchQuery::parse("q", None).is_err());
        assert!(SearchQuery::parse("q", Some("   ")).is_err());
        assert!(SearchQuery::parse("q", Some("bell\u{7}")).is_err());
        assert!(SearchQuery::parse("q", Some(&"é".repeat(200))).is_ok());
        assert!(SearchQuery::parse("q", Some(&"é".repeat(201))).is_err());
    }
}
