//! The token cookies, for browsers that ask for them (`?cookie=true`).
//!
//! - `marquee_access`: the access token, `Path=/`, for the API and WebSocket upgrades;
//! - `marquee_refresh`: the refresh token, `Path=/v1/auth` only, so it travels with refresh
//!   and logout requests and nowhere else.
//!
//! Both are `HttpOnly` (out of reach of scripts), `SameSite=Strict` (not sent on cross-site
//! requests, which is the CSRF defence) and `Secure` unless `AUTH_COOKIE_SECURE=false`. In
//! cookie mode the refresh token is left out of the JSON body: the cookie is its only copy.

use actix_web::{
    HttpRequest,
    cookie::{Cookie, SameSite, time},
};
use marquee_common::auth::ACCESS_COOKIE;
use serde::Deserialize;

use crate::{accounts::Tokens, config::TokenConfig};

/// The refresh-token cookie's name.
pub const REFRESH_COOKIE: &str = "marquee_refresh";
const REFRESH_PATH: &str = "/v1/auth";

/// `?cookie=true`: answer with cookies.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CookieMode {
    /// Set the tokens as HttpOnly cookies (browsers) instead of returning the refresh token
    /// in the body.
    #[serde(default)]
    pub cookie: bool,
}

fn cookie(name: &'static str, value: String, path: &'static str, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish()
}

/// Both cookies for `tokens`.
pub fn set(tokens: &Tokens, config: &TokenConfig) -> [Cookie<'static>; 2] {
    let mut access = cookie(
        ACCESS_COOKIE,
        tokens.access_token.clone(),
        "/",
        config.cookie_secure,
    );
    access.set_max_age(time::Duration::seconds(config.access_ttl.as_secs() as i64));
    let mut refresh = cookie(
        REFRESH_COOKIE,
        tokens.refresh_token.clone(),
        REFRESH_PATH,
        config.cookie_secure,
    );
    refresh.set_max_age(time::Duration::seconds(config.refresh_ttl.as_secs() as i64));
    [access, refresh]
}

/// Cookies that delete both.
pub fn clear(config: &TokenConfig) -> [Cookie<'static>; 2] {
    let mut access = cookie(ACCESS_COOKIE, String::new(), "/", config.cookie_secure);
    access.make_removal();
    let mut refresh = cookie(
        REFRESH_COOKIE,
        String::new(),
        REFRESH_PATH,
        config.cookie_secure,
    );
    refresh.make_removal();
    [access, refresh]
}

/// The refresh token from the cookie, if any.
pub fn refresh_token(req: &HttpRequest) -> Option<String> {
    req.cookie(REFRESH_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}
