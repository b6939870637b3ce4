//! Conditional requests: the profile's version is its (strong) ETag, `"<version>"`.
//! `If-Match` guards changes (412 on mismatch); `If-None-Match` on reads answers 304.

use actix_web::{
    HttpRequest,
    http::header::{self, EntityTag, Header, IfMatch, IfNoneMatch},
};

use crate::profiles::Precondition;

/// The ETag of a profile at `version`: `"3"` for the full view (owner, admins), `"3-public"`
/// for the view without the e-mail, so a cache never revalidates one view with the other.
pub fn etag(version: i64, full: bool) -> EntityTag {
    if full {
        EntityTag::new_strong(version.to_string())
    } else {
        EntityTag::new_strong(format!("{version}-public"))
    }
}

/// `If-Match` of `req`. Weak tags never match (RFC 9110 §13.1.1 compares strongly), and
/// neither do tags that are not versions nor a header that is not a list of tags; all end in
/// 412.
pub fn if_match(req: &HttpRequest) -> Precondition {
    if !req.headers().contains_key(header::IF_MATCH) {
        return Precondition::None;
    }
    match IfMatch::parse(req) {
        Ok(IfMatch::Any) => Precondition::Exists,
        Ok(IfMatch::Items(tags)) => Precondition::Version(
            tags.iter()
                .filter(|tag| !tag.weak)
                .filter_map(|tag| tag.tag().parse().ok())
                .collect(),
        ),
        Err(_) => Precondition::Version(Vec::new()),
    }
}

/// Whether `If-None-Match` of `req` names `etag` (or `*`): the client's copy is current.
/// It compares weakly; a header that is not a list of tags names nothing.
pub fn not_modified(req: &HttpRequest, etag: &EntityTag) -> bool {
    if !req.headers().contains_key(header::IF_NONE_MATCH) {
        return false;
    }
    match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(etag)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn if_match_reads_strong_version_tags() {
        let req = |value: &str| {
            TestRequest::default()
                .insert_header((header::IF_MATCH, value))
                .to_http_request()
        };
        assert_eq!(
            if_match(&TestRequest::default().to_http_request()),
            Precondition::None
        );
        assert_eq!(if_match(&req("\"3\"")), Precondition::Version(vec![3]));
        assert_eq!(
            if_match(&req("\"3\", \"5\"")),
            Precondition::Version(vec![3, 5])
        );
        assert_eq!(if_match(&req("*")), Precondition::Exists);
        assert_eq!(if_match(&req("W/\"3\"")), Precondition::Version(vec![]));
        assert_eq!(if_match(&req("3")), Precondition::Version(vec![]));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let req = |value: &str| {
            TestRequest::default()
                .insert_header((header::IF_NONE_MATCH, value))
                .to_http_request()
        };
        let current = etag(3, true);
        assert!(not_modified(&req("\"3\""), &current));
        assert!(not_modified(&req("W/\"3\""), &current));
        assert!(not_modified(&req("*"), &current));
        assert!(!not_modified(&req("\"2\""), &current));
        assert!(!not_modified(&req("\"3-public\""), &current));
        assert!(not_modified(&req("\"3-public\""), &etag(3, false)));
        assert!(!not_modified(
            &TestRequest::default().to_http_request(),
            &current
        ));
    }
}
