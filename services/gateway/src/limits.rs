//! Rate limits at the edge, shared by every gateway replica through Redis
//! (`marquee_common::rate_limit`).
//!
//! Each route belongs to a class (`auth`: sign-up, sign-in, refresh; `api`: the rest) with
//! its own strategy and quotas. Every request counts against its client IP's bucket, and —
//! when it carries an access token whose signature verifies — against its user's bucket as
//! well, so one user cannot escape by hopping addresses and one office NAT does not starve
//! its users' personal budgets. The token's session is not consulted: the services decide
//! whether it is still valid; here it only names whose budget is spent.
//!
//! An admitted request carries the `RateLimit-*` headers of its tighter bucket, and, for a
//! leaky bucket, the delay to hold it before forwarding. A refused one is a 429 with
//! `Retry-After`.

use std::time::Duration;

use actix_web::{
    HttpRequest,
    http::header::{HeaderName, HeaderValue},
};
use marquee_common::{
    auth::{TokenVerifier, token_from_request, token_from_subprotocols},
    http::{ClientIp, Problem, TrustedProxies},
    rate_limit::{Decision, RateLimiter},
    redis::RedisConnection,
};

use crate::{
    config::{RateLimitConfig, SERVICE},
    metrics::GatewayMetrics,
};

/// What admitting a request means for its forwarding.
#[derive(Debug, Default)]
pub struct Admission {
    /// `RateLimit-*` of the tighter bucket, added to the response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// How long to hold the request first (leaky bucket).
    pub delay: Duration,
}

struct ClassLimiters {
    per_ip: RateLimiter,
    per_user: RateLimiter,
}

/// The limiters of every class; see the module docs.
pub struct Limits {
    enabled: bool,
    auth: ClassLimiters,
    api: ClassLimiters,
    verifier: TokenVerifier,
    trusted_proxies: TrustedProxies,
    metrics: GatewayMetrics,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Limits {
    pub fn new(
        redis: RedisConnection,
        config: &RateLimitConfig,
        verifier: TokenVerifier,
        trusted_proxies: TrustedProxies,
        metrics: GatewayMetrics,
    ) -> Self {
        let class = |name: &str| {
            let limits = config.class(name);
            let limiter = |key: &str, quota| {
                RateLimiter::with_strategy(
                    redis.clone(),
                    &format!("{SERVICE}:{name}:{key}"),
                    quota,
                    limits.strategy,
                    config.fail_mode,
                )
            };
            ClassLimiters {
                per_ip: limiter("ip", limits.per_ip),
                per_user: limiter("user", limits.per_user),
            }
        };
        Self {
            enabled: config.enabled,
            auth: class("auth"),
            api: class("api"),
            verifier,
            trusted_proxies,
            metrics,
        }
    }

    /// Counts `req` against its buckets in `class`: the admission, or the 429 (503 when
    /// Redis is down and the limits fail closed).
    pub async fn admit(&self, req: &HttpRequest, class: &str) -> Result<Admission, Problem> {
        if !self.enabled {
            return Ok(Admission::default());
        }
        let limiters = match class {
            "auth" => &self.auth,
            _ => &self.api,
        };
        let ip = ClientIp(self.trusted_proxies.client_ip(req)).key();
        let by_ip = limiters.per_ip.enforce(&ip).await.inspect_err(|problem| {
            if problem.status().as_u16() == 429 {
                self.metrics.rate_limited(class, "ip");
            }
        })?;
        let mut tighter = by_ip;
        let mut delay = by_ip.delay;
        if let Some(user) = self.user(req).await {
            let by_user = limiters
                .per_user
                .enforce(&user)
                .await
                .inspect_err(|problem| {
                    if problem.status().as_u16() == 429 {
                        self.metrics.rate_limited(class, "user");
                    }
                })?;
            tighter = tightest(by_ip, by_user);
            delay = delay.max(by_user.delay);
        }
        Ok(Admission {
            headers: tighter.headers().into_iter().collect(),
            delay,
        })
    }

    /// The user id of a token whose signature verifies, if the request carries one.
    async fn user(&self, req: &HttpRequest) -> Option<String> {
        let token = token_from_request(req).or_else(|| token_from_subprotocols(req))?;
        let claims = self.verifier.verify_signature(&token).await.ok()?;
        Some(claims.sub.to_string())
    }
}

/// The decision with the fewest requests left.
fn tightest(a: Decision, b: Decision) -> Decision {
    if b.remaining < a.remaining { b } else { a }
}
