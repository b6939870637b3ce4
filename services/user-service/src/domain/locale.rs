//! The language (and region) a user reads.

use super::Invalid;

/// A BCP 47-style language tag, `language[-Script][-REGION][-variant…]`: a 2–3 letter
/// language, an optional 4-letter script, an optional 2-letter or 3-digit region and optional
/// variants (5–8 letters or digits, or a digit and 3 more). Private-use and extension subtags
/// are not accepted. Normalised to the canonical case (`zh-Hant-TW`, `en-US`, `es-419`);
/// `_` is read as `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale(String);

/// Longest accepted tag.
const MAX_LEN: usize = 35;

impl Locale {
    /// `None` for an empty text, which clears the locale.
    pub fn parse(field: &'static str, raw: &str) -> Result<Option<Self>, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let invalid = || {
            Invalid::new(
                field,
                "is not a language tag such as en, en-US or zh-Hant-TW",
            )
        };
        if raw.len() > MAX_LEN || !raw.is_ascii() {
            return Err(invalid());
        }
        let mut subtags = raw.split(['-', '_']).peekable();
        let language = subtags.next().ok_or_else(invalid)?;
        if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err(invalid());
        }
        let mut tag = language.to_ascii_lowercase();
        if let Some(script) =
            subtags.next_if(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            tag.push('-');
            tag.push_str(&script[..1].to_ascii_uppercase());
            tag.push_str(&script[1..].to_ascii_lowercase());
        }
        if let Some(region) = subtags.next_if(|s| {
            (s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()))
                || (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        }) {
            tag.push('-');
            tag.push_str(&region.to_ascii_uppercase());
        }
        for variant in subtags {
            let alphanumeric = variant.bytes().all(|b| b.is_ascii_alphanumeric());
            let long = (5..=8).contains(&variant.len());
            let digit_led = variant.len() == 4 && variant.as_bytes()[0].is_ascii_digit();
            if !alphanumeric || !(long || digit_led) {
                return Err(invalid());
            }
            tag.push('-');
            tag.push_str(&variant.to_ascii_lowercase());
        }
        Ok(Some(Self(tag)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> String {
        Locale::parse("locale", raw)
            .unwrap()
            .unwrap()
            .as_str()
            .to_owned()
    }

    #[test]
    fn tags_are_normalised_to_canonical_case() {
        assert_eq!(parsed("en"), "en");
        assert_eq!(parsed("EN-us"), "en-US");
        assert_eq!(parsed("pt_br"), "pt-BR");
        assert_eq!(parsed("zh-hant-tw"), "zh-Hant-TW");
        assert_eq!(parsed("es-419"), "es-419");
        assert_eq!(parsed("de-CH-1996"), "de-CH-1996");
        assert_eq!(parsed("sl-rozaj"), "sl-rozaj");
        assert_eq!(Locale::parse("locale", " ").unwrap(), None);
    }

    #[test]
    fn other_shapes_are_refused() {
        for bad in [
            "e",
            "english",
            "en-",
            "-en",
            "en--US",
            "en-U",
            "en-USA1",
            "en-US-x",
            "x-private",
            "en-US-u-co-phonebk",
            "fr-ça",
            "en US",
            "12",
            "en-12",
        ] {
            assert!(Locale::parse("locale", bad).is_err(), "{bad}");
        }
    }
}
