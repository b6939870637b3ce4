//! Where a user's picture lives.

use super::Invalid;

/// Longest accepted URL, in bytes (what browsers and CDNs handle without trouble).
pub const MAX_LEN: usize = 2048;

/// An absolute `https://` (or `http://`) URL with a host and no credentials: a browser can
/// load it and it cannot smuggle `javascript:` or `data:` into a page. Stored normalised (as
/// the `url` crate serialises it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarUrl(String);

impl AvatarUrl {
    /// `None` for an empty text, which clears the avatar.
    pub fn parse(field: &'static str, raw: &str) -> Result<Option<Self>, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.len() > MAX_LEN {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_LEN} characters"),
            ));
        }
        let url =
            url::Url::parse(raw).map_err(|_| Invalid::new(field, "is not an absolute URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Invalid::new(field, "must be an https:// or http:// URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Invalid::new(field, "must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new(field, "must not carry credentials"));
        }
        let url = String::from(url);
        if url.len() > MAX_LEN {
            return Err(Invalid::new(
                field,
                format!("must be at most {MAX_LEN} characters"),
            ));
        }
        Ok(Some(Self(url)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_urls_with_a_host_are_avatars() {
        let url = AvatarUrl::parse("a", " https://CDN.example.com/a b.png ").unwrap();
        assert_eq!(url.unwrap().as_str(), "https://cdn.example.com/a%20b.png");
        assert_eq!(AvatarUrl::parse("a", "").unwrap(), None);
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://example.com/a.png",
            "/relative/a.png",
            "https://user:secret@example.com/a.png",
            "not a url",
        ] {
            assert!(AvatarUrl::parse("a", bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_LEN));
        assert!(AvatarUrl::parse("a", &long).is_err());
    }
}
