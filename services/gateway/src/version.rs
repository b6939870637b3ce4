//! API version negotiation for paths without a version.
//!
//! Clients may call `/users/me` with `X-API-Version: 1` or
//! `Accept: application/vnd.marquee.v1+json` instead of `/v1/users/me`; the path is rewritten
//! before routing. A version this gateway does not serve is a 406 problem. Paths that already
//! carry a version, and the gateway's own (`/health`, `/metrics`, `/docs`, `/.well-known`),
//! are left alone.

use actix_web::{
    Error, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{StatusCode, Uri, header},
    middleware::Next,
};
use marquee_common::http::Problem;

/// The versions served.
const SUPPORTED: &[u32] = &[1];

const X_API_VERSION: &str = "x-api-version";

/// The version a request asks for by header, if any; `Err` for an unreadable one.
fn requested_version(req: &ServiceRequest) -> Result<Option<u32>, ()> {
    if let Some(value) = req.headers().get(X_API_VERSION) {
        let text = value.to_str().map_err(|_| ())?.trim();
        let digits = text.strip_prefix('v').unwrap_or(text);
        return digits.parse().map(Some).map_err(|_| ());
    }
    let accept = req
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|media| {
            media
                .trim()
                .split(';')
                .next()?
                .strip_prefix("application/vnd.marquee.v")?
                .strip_suffix("+json")
                .map(str::to_owned)
        });
    match accept {
        Some(version) => version.parse().map(Some).map_err(|_| ()),
        None => Ok(None),
    }
}

/// Whether `path` already names a version (`/v1/…`) or is one of the gateway's own.
fn is_versioned_or_own(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let versioned =
        first.len() > 1 && first.starts_with('v') && first[1..].bytes().all(|b| b.is_ascii_digit());
    versioned || matches!(first, "" | "health" | "metrics" | "docs" | ".well-known")
}

fn not_acceptable(detail: String) -> Problem {
    Problem::new(
        StatusCode::NOT_ACCEPTABLE,
        "unsupported_api_version",
        "Unsupported API version",
    )
    .with_detail(detail)
}

/// Middleware (`App::wrap(from_fn(version::middleware))`, innermost, before routing).
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if !is_versioned_or_own(req.path()) {
        let refuse = |req: ServiceRequest, problem: Problem| {
            let response = problem.error_response();
            Ok(req.into_response(response).map_into_right_body())
        };
        match requested_version(&req) {
            Err(()) => {
                return refuse(
                    req,
                    not_acceptable("the requested API version must be a number, e.g. 1".into()),
                );
            }
            Ok(Some(version)) if !SUPPORTED.contains(&version) => {
                return refuse(
                    req,
                    not_acceptable(format!("version {version} is not served; use 1")),
                );
            }
            Ok(Some(version)) => {
                let path_and_query = req
                    .uri()
                    .path_and_query()
                    .map_or("/", |pq| pq.as_str())
                    .to_owned();
                let mut parts = req.head().uri.clone().into_parts();
                parts.path_and_query = format!("/v{version}{path_and_query}").parse().ok();
                if let Ok(uri) = Uri::from_parts(parts) {
                    req.match_info_mut().get_mut().update(&uri);
                    req.head_mut().uri = uri;
                }
            }
            Ok(None) => {}
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpRequest, middleware::from_fn, test, web};

    use super::*;

    async fn echo(req: HttpRequest) -> String {
        req.path().to_owned()
    }

    #[actix_web::test]
    async fn unversioned_paths_follow_the_requested_version() {
        let app = test::init_service(
            App::new()
                .default_service(web::to(echo))
                .wrap(from_fn(middleware)),
        )
        .await;
        let cases = [
            ("/users/me", Some((X_API_VERSION, "1")), 200, "/v1/users/me"),
            (
                "/users/me?x=1",
                Some(("accept", "application/vnd.marquee.v1+json")),
                200,
                "/v1/users/me",
            ),
            (
                "/v1/users/me",
                Some((X_API_VERSION, "2")),
                200,
                "/v1/users/me",
            ),
            ("/users/me", None, 200, "/users/me"),
            (
                "/health/ready",
                Some((X_API_VERSION, "1")),
                200,
                "/health/ready",
            ),
            ("/users/me", Some((X_API_VERSION, "2")), 406, ""),
            ("/users/me", Some((X_API_VERSION, "one")), 406, ""),
        ];
        for (path, header, status, seen) in cases {
            let mut request = test::TestRequest::get().uri(path);
            if let Some(header) = header {
                request = request.insert_header(header);
            }
            let response = test::call_service(&app, request.to_request()).await;
            assert_eq!(response.status().as_u16(), status, "{path} {header:?}");
            if status == 200 {
                let body = test::read_body(response).await;
                assert_eq!(body, seen.as_bytes(), "{path} {header:?}");
            }
        }
    }
}
