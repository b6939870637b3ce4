//! RFC 9457 problem details: the one error body every Marquee endpoint returns.
//!
//! ```json
//! {"type": "urn:marquee:problem:validation_failed", "title": "Invalid request body",
//!  "status": 422, "code": "validation_failed", "detail": "…",
//!  "request_id": "0190…", "errors": [{"field": "email", "message": "…"}]}
//! ```
//!
//! `code` is stable: clients branch on it, never on `title` or `detail`. Services map their
//! own error enums to a [`Problem`] in one place; the internal cause of a 5xx goes to the log
//! ([`Problem::internal`]), never to the body. The extractor configs here make malformed
//! JSON, unknown fields, bad path segments and query strings, wrong content types and
//! oversized bodies a clear 4xx instead of actix's plain-text defaults.

use std::{borrow::Cow, fmt, time::Duration};

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    body::BoxBody,
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::{
        StatusCode,
        header::{self, HeaderName, HeaderValue},
    },
    web,
};
use serde::Serialize;

/// The media type of problem bodies.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// The default limit on JSON request bodies (64 KiB); services raise it per route if needed.
pub const DEFAULT_JSON_LIMIT: usize = 64 * 1024;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the client sent it (`snake_case`, dotted for nesting).
    pub field: String,
    /// What is wrong with it, for people.
    pub message: String,
}

/// An RFC 9457 problem, ready to be returned from a handler.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:marquee:problem:validation_failed", "title": "Invalid request", "status": 422,
    "code": "validation_failed", "request_id": "0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
    "errors": [{"field": "email", "message": "is not an e-mail address"}]
}))]
pub struct Problem {
    /// `urn:marquee:problem:<code>`.
    #[serde(rename = "type")]
    type_uri: String,
    #[schema(value_type = String)]
    title: Cow<'static, str>,
    status: u16,
    /// Stable; clients branch on it.
    #[schema(value_type = String)]
    code: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`, …).
    #[serde(skip)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with `status`, a stable `code` and a short human `title`.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        title: impl Into<Cow<'static, str>>,
    ) -> Self {
        let code = code.into();
        Self {
            type_uri: format!("urn:marquee:problem:{code}"),
            title: title.into(),
            status: status.as_u16(),
            code,
            detail: None,
            request_id: None,
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(code: &'static str, title: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, title)
    }

    pub fn unauthorized(code: &'static str, title: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, title)
    }

    pub fn forbidden(code: &'static str, title: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, title)
    }

    pub fn not_found(code: &'static str, title: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, title)
    }

    pub fn conflict(code: &'static str, title: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, code, title)
    }

    /// 422 with per-field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Invalid request",
        )
        .with_errors(errors)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(retry_after: Duration) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
        )
        .with_retry_after(retry_after)
    }

    /// 503 with `Retry-After`: a dependency is down or the service sheds load.
    pub fn unavailable(code: &'static str, retry_after: Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            "Service temporarily unavailable",
        )
        .with_retry_after(retry_after)
    }

    /// 500 for an unexpected failure. `cause` is logged with the request's span and never
    /// reaches the client.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        ::tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
        )
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn with_field_error(
        mut self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn with_retry_after(self, after: Duration) -> Self {
        // Whole seconds, rounded up: "0" would invite an immediate retry.
        let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        self.with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)))
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Per-field errors of a 422.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut body = self.clone();
        body.request_id = body.request_id.or_else(super::request_id::current);
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, CONTENT_TYPE));
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.json(body)
    }
}

impl actix_web::Responder for Problem {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse<Self::Body> {
        self.error_response()
    }
}

/// JSON bodies: at most [`DEFAULT_JSON_LIMIT`] bytes, `application/json` only, and every
/// failure a problem (415, 413, 400 for malformed JSON, 422 for well-formed JSON of the wrong
/// shape, such as unknown fields or missing ones).
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(DEFAULT_JSON_LIMIT)
        .error_handler(|error, _req| {
            let problem = match &error {
                JsonPayloadError::ContentType => Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Request body must be application/json",
                ),
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Request body is too large",
                )
                .with_detail(format!("the limit is {limit} bytes")),
                JsonPayloadError::Deserialize(e) => json_problem(e),
                _ => Problem::bad_request("unreadable_body", "Request body could not be read"),
            };
            problem.into()
        })
}

/// The problem for a body that is not the JSON expected: 422 when it is JSON of the wrong
/// shape (unknown or missing fields), 400 when it is not JSON at all. For handlers that parse
/// bodies themselves.
pub fn json_problem(error: &serde_json::Error) -> Problem {
    if error.is_data() {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            "Request body has the wrong shape",
        )
        .with_detail(error.to_string())
    } else {
        Problem::bad_request("malformed_json", "Request body is not valid JSON")
            .with_detail(error.to_string())
    }
}

/// The problem for a request body that could not be read: 413 over the size limit, 400
/// otherwise. For code that reads bodies itself (`web::Bytes`, middleware).
pub fn payload_problem(error: &actix_web::Error) -> Problem {
    match error.as_error::<actix_web::error::PayloadError>() {
        Some(actix_web::error::PayloadError::Overflow) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Request body is too large",
        ),
        _ => Problem::bad_request("unreadable_body", "Request body could not be read"),
    }
}

/// Path segments that do not parse (a malformed UUID, say) are a 400, not a 404 or 500.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error: PathError, _req| {
        let PathError::Deserialize(e) = &error else {
            return Problem::bad_request("invalid_path", "Invalid path parameter").into();
        };
        Problem::bad_request("invalid_path", "Invalid path parameter")
            .with_detail(e.to_string())
            .into()
    })
}

/// Query strings that do not parse are a 400 naming the problem.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error: QueryPayloadError, _req| {
        let QueryPayloadError::Deserialize(e) = &error else {
            return Problem::bad_request("invalid_query", "Invalid query string").into();
        };
        Problem::bad_request("invalid_query", "Invalid query string")
            .with_detail(e.to_string())
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn problems_render_as_problem_json_with_code_and_field_errors() {
        let response = Problem::validation(vec![FieldError {
            field: "email".into(),
            message: "is not an e-mail address".into(),
        }])
        .error_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            CONTENT_TYPE
        );
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap();
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["type"], "urn:marquee:problem:validation_failed");
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][0]["field"], "email");
    }

    #[actix_web::test]
    async fn internal_problems_hide_their_cause() {
        let response = Problem::internal(&"connection refused to 10.0.0.7:5432").error_response();
        let body = to_bytes(response.into_body()).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("10.0.0.7"), "{text}");
        assert!(text.contains("internal_error"), "{text}");
    }

    #[actix_web::test]
    async fn an_unreachable_database_is_a_503_with_retry_after_and_no_detail() {
        let problem = Problem::from(crate::db::DbError::Unavailable(
            "connection refused to db.internal:5432".into(),
        ));
        let response = problem.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let body = to_bytes(response.into_body()).await.unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("database_unavailable") && !text.contains("db.internal"),
            "{text}"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let problem = Problem::too_many_requests(Duration::from_millis(1200));
        let (_, value) = problem
            .headers
            .iter()
            .find(|(n, _)| n == header::RETRY_AFTER)
            .unwrap();
        assert_eq!(value, "2");
    }
}
