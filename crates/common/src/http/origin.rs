//! Which web origins may open a WebSocket.
//!
//! Browsers send the user's cookies with a cross-site WebSocket handshake, and CORS does not
//! cover WebSockets, so a page on any site could open a socket in the user's name
//! (cross-site WebSocket hijacking). A handshake is accepted when it carries no `Origin` (not
//! a browser), when its origin is the host the browser asked for (the same site), or when the
//! origin is one of `CORS_ALLOWED_ORIGINS`. Both the gateway and chat-service check it, so an
//! instance reached without the gateway holds on its own.

use actix_web::{
    HttpRequest,
    http::header::{self, HeaderName},
};
use url::Url;

use super::{Problem, TrustedProxies};
use crate::config::{ConfigError, Env};

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// `CORS_ALLOWED_ORIGINS`: comma-separated origins (`https://app.example.com`) besides the
/// service's own; empty (the default) allows none.
pub fn allowed_origins_from_env(env: &Env) -> Result<Vec<String>, ConfigError> {
    env.list("CORS_ALLOWED_ORIGINS")
        .iter()
        .map(|origin| parse_origin(origin))
        .collect()
}

fn parse_origin(origin: &str) -> Result<String, ConfigError> {
    let invalid = || {
        ConfigError::new(
            "CORS_ALLOWED_ORIGINS",
            format!("{origin:?} is not an origin like https://app.example.com"),
        )
    };
    let url = Url::parse(origin).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || url.path() != "/" {
        return Err(invalid());
    }
    Ok(origin.trim_end_matches('/').to_owned())
}

/// Whether the WebSocket handshake `req` may proceed (see the module docs). The host the
/// browser asked for is `Host`, or `X-Forwarded-Host` when a trusted proxy forwarded it.
pub fn websocket_origin_allowed(
    req: &HttpRequest,
    allowed: &[String],
    trusted: &TrustedProxies,
) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let asked_for = if trusted.trusts_forwarded(req) {
        req.headers().get(X_FORWARDED_HOST)
    } else {
        None
    }
    .or_else(|| req.headers().get(header::HOST))
    .and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, host)| host);
    allowed.iter().any(|a| a == origin) || (asked_for.is_some() && origin_host == asked_for)
}

/// 403: the handshake's origin may not open a socket.
pub fn origin_refused() -> Problem {
    Problem::forbidden(
        "origin_not_allowed",
        "This origin may not open WebSockets here",
    )
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn handshake(headers: &[(&str, &str)]) -> HttpRequest {
        headers
            .iter()
            .fold(
                TestRequest::default().peer_addr("10.0.0.2:4000".parse().unwrap()),
                |request, header| request.insert_header(*header),
            )
            .to_http_request()
    }

    #[test]
    fn same_site_listed_and_non_browser_handshakes_pass_others_do_not() {
        let allowed = vec!["https://app.example.com".to_owned()];
        let direct = TrustedProxies::default();
        let pass = |headers: &[(&str, &str)], trusted: &TrustedProxies| {
            websocket_origin_allowed(&handshake(headers), &allowed, trusted)
        };
        assert!(pass(&[], &direct), "no Origin: not a browser");
        assert!(pass(&[("origin", "https://app.example.com")], &direct));
        assert!(pass(
            &[
                ("origin", "https://api.example.com"),
                ("host", "api.example.com")
            ],
            &direct
        ));
        assert!(!pass(
            &[
                ("origin", "https://evil.example"),
                ("host", "api.example.com")
            ],
            &direct
        ));
        // Behind a proxy the host the browser asked for is forwarded…
        let behind_gateway = TrustedProxies::new(1, vec!["10.0.0.0/8".parse().unwrap()]);
        let forwarded = [
            ("origin", "https://api.example.com"),
            ("host", "chat-service:8084"),
            ("x-forwarded-host", "api.example.com"),
        ];
        assert!(pass(&forwarded, &behind_gateway));
        // … and believed only from a trusted proxy.
        assert!(!pass(&forwarded, &direct));
        let forged = [
            ("origin", "https://evil.example"),
            ("host", "chat-service:8084"),
            ("x-forwarded-host", "evil.example"),
        ];
        assert!(!pass(&forged, &direct));
    }

    #[test]
    fn allowed_origins_must_be_origins() {
        let env = Env::default().with(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com/, http://localhost:5173",
        );
        assert_eq!(
            allowed_origins_from_env(&env).unwrap(),
            ["https://app.example.com", "http://localhost:5173"]
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/path",
            "ftp://x.example",
        ] {
            let env = Env::default().with("CORS_ALLOWED_ORIGINS", bad);
            assert!(allowed_origins_from_env(&env).is_err(), "{bad}");
        }
    }
}
