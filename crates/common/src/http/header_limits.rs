//! Bounds on request headers: one header line (name and value) may take at most
//! [`MAX_HEADER_LINE_BYTES`], all of them together at most [`MAX_HEADERS_BYTES`]; a request
//! beyond either is answered 431 (RFC 6585) with a problem naming the limit.
//!
//! actix reads at most 128 KiB of request head, so memory was bounded already; these limits
//! are about what a request may carry: nginx (and most proxies and CDNs in front of a
//! service) refuse header lines above 8 KiB, so a client that gets a larger one through here
//! would break behind them — and a 60 KB "token" is never a token. Every service and the
//! gateway wrap this middleware, so a service reached directly holds on its own.

use actix_web::{
    Error, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    middleware::Next,
};

use super::Problem;

/// The largest header line, name and value (nginx's `large_client_header_buffers` default).
pub const MAX_HEADER_LINE_BYTES: usize = 8 * 1024;

/// The largest sum of all header lines.
pub const MAX_HEADERS_BYTES: usize = 32 * 1024;

/// The 431 for a request whose headers exceed a limit, or `None`.
fn excess(headers: &actix_web::http::header::HeaderMap) -> Option<Problem> {
    let mut total = 0;
    for (name, value) in headers {
        // "name: value\r\n"
        let line = name.as_str().len() + value.len() + 4;
        if line > MAX_HEADER_LINE_BYTES {
            return Some(too_large(format!(
                "the {name} header is {line} bytes; a header may take at most \
                 {MAX_HEADER_LINE_BYTES}"
            )));
        }
        total += line;
    }
    (total > MAX_HEADERS_BYTES).then(|| {
        too_large(format!(
            "the headers take {total} bytes; all together they may take at most \
             {MAX_HEADERS_BYTES}"
        ))
    })
}

fn too_large(detail: String) -> Problem {
    Problem::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
        "Request headers too large",
    )
    .with_detail(detail)
}

/// Middleware (`App::wrap(from_fn(header_limits::middleware))`) that answers 431 to requests
/// beyond the limits before any handler runs.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if let Some(problem) = excess(req.headers()) {
        let response = problem.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn headers(pairs: &[(&str, String)]) -> actix_web::http::header::HeaderMap {
        pairs
            .iter()
            .fold(TestRequest::default(), |request, (name, value)| {
                request.append_header((*name, value.as_str()))
            })
            .to_http_request()
            .headers()
            .clone()
    }

    #[test]
    fn one_long_line_or_many_lines_are_too_much() {
        let token = format!("Bearer {}", "a".repeat(MAX_HEADER_LINE_BYTES));
        let problem = excess(&headers(&[("authorization", token)])).expect("431");
        assert_eq!(
            problem.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );

        let line = "b".repeat(MAX_HEADER_LINE_BYTES - 100);
        let many: Vec<_> = (0..5)
            .map(|i| ("x-padding", format!("{i}{line}")))
            .collect();
        assert!(excess(&headers(&many)).is_some());
    }

    #[test]
    fn ordinary_requests_pass() {
        let jwt = format!("Bearer {}", "c".repeat(900));
        let cookie = format!(
            "marquee_access={}; marquee_refresh={}",
            "d".repeat(900),
            "e".repeat(64)
        );
        assert!(excess(&headers(&[("authorization", jwt), ("cookie", cookie)])).is_none());
        let largest = "f".repeat(MAX_HEADER_LINE_BYTES - "x-big".len() - 4);
        assert!(excess(&headers(&[("x-big", largest)])).is_none());
    }
}
