//! A PATCH to a profile (JSON merge-patch semantics): a field that is absent stays as it is,
//! a field that is present is set, and `null` (or an empty text) clears an optional one.

use serde::{Deserialize, Deserializer};

use super::{AvatarUrl, Bio, DisplayName, Email, Invalid, Locale};

/// The body of `PATCH /v1/users/{id}` as sent. Unknown fields are refused (422).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChangesRequest {
    /// A new sign-in address; auth-service follows the change. Cannot be cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "ada@example.com")]
    pub email: Option<Option<String>>,
    /// 1–64 characters. Cannot be cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "Ada Lovelace")]
    pub display_name: Option<Option<String>>,
    /// Up to 500 characters; `null` or `""` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub bio: Option<Option<String>>,
    /// An absolute http(s) URL; `null` or `""` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, example = "https://cdn.example.com/ada.png")]
    pub avatar_url: Option<Option<String>>,
    /// A language tag (`en`, `en-US`, `zh-Hant-TW`); `null` or `""` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable, example = "en-GB")]
    pub locale: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Validated changes: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    pub email: Option<Email>,
    pub display_name: Option<DisplayName>,
    pub bio: Option<Option<Bio>>,
    pub avatar_url: Option<Option<AvatarUrl>>,
    pub locale: Option<Option<Locale>>,
}

impl ProfileChanges {
    /// Every field checked; all the refusals at once.
    pub fn parse(request: ProfileChangesRequest) -> Result<Self, Vec<Invalid>> {
        let mut errors = Vec::new();
        let changes = Self {
            email: required("email", request.email, Email::parse, &mut errors),
            display_name: required(
                "display_name",
                request.display_name,
                DisplayName::parse,
                &mut errors,
            ),
            bio: optional("bio", request.bio, Bio::parse, &mut errors),
            avatar_url: optional(
                "avatar_url",
                request.avatar_url,
                AvatarUrl::parse,
                &mut errors,
            ),
            locale: optional("locale", request.locale, Locale::parse, &mut errors),
        };
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }
}

/// A field that cannot be cleared: absent → leave, `null` → refused, text → parse.
fn required<T>(
    field: &'static str,
    value: Option<Option<String>>,
    parse: fn(&'static str, &str) -> Result<T, Invalid>,
    errors: &mut Vec<Invalid>,
) -> Option<T> {
    match value? {
        None => {
            errors.push(Invalid::new(field, "cannot be cleared"));
            None
        }
        Some(text) => parse(field, &text).map_err(|e| errors.push(e)).ok(),
    }
}

/// An optional field: absent → leave, `null` → clear, text → parse (empty text clears).
fn optional<T>(
    field: &'static str,
    value: Option<Option<String>>,
    parse: fn(&'static str, &str) -> Result<Option<T>, Invalid>,
    errors: &mut Vec<Invalid>,
) -> Option<Option<T>> {
    match value? {
        None => Some(None),
        Some(text) => parse(field, &text).map_err(|e| errors.push(e)).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> ProfileChangesRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn absent_null_and_values_mean_leave_clear_and_set() {
        let changes =
            ProfileChanges::parse(request(r#"{"bio": null, "locale": "en-gb"}"#)).unwrap();
        assert_eq!(changes.email, None);
        assert_eq!(changes.display_name, None);
        assert_eq!(changes.bio, Some(None));
        assert_eq!(changes.avatar_url, None);
        assert_eq!(
            changes.locale.flatten().map(|l| l.as_str().to_owned()),
            Some("en-GB".to_owned())
        );
    }

    #[test]
    fn every_refusal_is_reported_at_once() {
        let errors = ProfileChanges::parse(request(
            r#"{"email": "nope", "display_name": null, "avatar_url": "javascript:x", "locale": "english"}"#,
        ))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["email", "display_name", "avatar_url", "locale"]);
    }

    #[test]
    fn unknown_fields_are_not_ignored() {
        assert!(serde_json::from_str::<ProfileChangesRequest>(r#"{"role": "admin"}"#).is_err());
    }
}
