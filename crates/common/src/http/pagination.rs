//! Keyset pagination (DESIGN §4): `?limit=&cursor=` in, `{items, next_cursor}` out.
//!
//! A cursor is the sort key of the last item of a page, serialised to JSON and base64url-
//! encoded: opaque to clients, stable across inserts (a page never repeats or skips a row that
//! existed when the listing started), and the next page's query is a range scan on an index
//! (`WHERE key > cursor ORDER BY key LIMIT n`), so its cost does not depend on the depth.
//!
//! ```ignore
//! let page = PageRequest::<Uuid>::parse(query.limit, query.cursor.as_deref())
//!     .map_err(Problem::validation)?;
//! let rows = store::list(&mut conn, page.after.as_ref(), page.limit + 1).await?;
//! Ok(Page::from_rows(rows, page.limit, |row| row.id))
//! ```

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use super::FieldError;

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: i64 = 20;
/// The most items one page may hold.
pub const MAX_LIMIT: i64 = 100;

/// A validated page request: how many items, after which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<K> {
    pub limit: i64,
    /// The sort key of the previous page's last item; `None` for the first page.
    pub after: Option<K>,
}

impl<K: DeserializeOwned> PageRequest<K> {
    /// Parses `limit` (1..=[`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and `cursor` (from a
    /// previous [`Page::next_cursor`]). Bad values come back as field errors, for a 422
    /// ([`Problem::validation`]).
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError {
                field: "limit".into(),
                message: format!("must be between 1 and {MAX_LIMIT}"),
            });
        }
        let after = match cursor.filter(|c| !c.is_empty()).map(decode) {
            None => None,
            Some(Some(key)) => Some(key),
            Some(None) => {
                errors.push(FieldError {
                    field: "cursor".into(),
                    message: "is not a cursor this listing returned".into(),
                });
                None
            }
        };
        if errors.is_empty() {
            Ok(Self { limit, after })
        } else {
            Err(errors)
        }
    }

    /// How many rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page for `rows` fetched with [`PageRequest::fetch`]: at most `limit` items, and a
    /// cursor (made of `key` of the last item) when there were more rows.
    pub fn from_rows<K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|last| encode(&key(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with every item converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

fn encode<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

fn decode<K: DeserializeOwned>(cursor: &str) -> Option<K> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Problem;

    #[test]
    fn a_cursor_round_trips_and_marks_more_rows() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        let cursor = page.next_cursor.expect("a third row exists");
        let next = PageRequest::<i32>::parse(Some(2), Some(&cursor)).expect("valid");
        assert_eq!(next.after, Some(2));

        let last = Page::from_rows(vec![3], 2, |n| *n);
        assert_eq!(last.next_cursor, None);
    }

    #[test]
    fn bad_limits_and_cursors_are_validation_problems() {
        for (limit, cursor) in [
            (Some(0), None),
            (Some(MAX_LIMIT + 1), None),
            (None, Some("not base64!")),
            (None, Some("bm90IGpzb24")),
        ] {
            let errors = PageRequest::<i32>::parse(limit, cursor).expect_err("refused");
            assert_eq!(errors.len(), 1);
            assert_eq!(Problem::validation(errors).code(), "validation_failed");
        }
        let default = PageRequest::<i32>::parse(None, Some("")).expect("empty cursor = first");
        assert_eq!(default.limit, DEFAULT_LIMIT);
        assert_eq!(default.after, None);
    }
}
