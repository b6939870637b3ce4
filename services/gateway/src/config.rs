//! The gateway's settings, all from the environment (README, "gateway").
//!
//! The route table is data: [`RouteConfig`]s map a path prefix to an upstream *service* (a
//! named pool of instance URLs) with a timeout and a rate-limit class. The defaults cover
//! Marquee's four services; `GATEWAY_ROUTES` replaces the table and `<SERVICE>_UPSTREAMS`
//! names each pool's instances.

use std::time::Duration;

use marquee_common::{
    ConfigError, Env,
    auth::VerifierConfig,
    config::in_range,
    http::{self, HttpConfig},
    rate_limit::{FailMode, Quota, Strategy},
    redis::RedisConfig,
    telemetry::TelemetryConfig,
};
use url::Url;

/// The process name: `OTEL_SERVICE_NAME` default and rate-limit key prefix.
pub const SERVICE: &str = "gateway";
/// Default HTTP port.
pub const DEFAULT_PORT: u16 = 8080;

/// Everything the gateway needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: HttpConfig,
    /// Rate-limit buckets.
    pub redis: RedisConfig,
    pub telemetry: TelemetryConfig,
    /// Verifies access tokens to key per-user limits (the JWKS comes from auth-service).
    pub verifier: VerifierConfig,
    pub routes: Vec<RouteConfig>,
    pub upstreams: Vec<UpstreamConfig>,
    pub health: HealthConfig,
    pub limits: RateLimitConfig,
    pub cors: CorsConfig,
    /// `GATEWAY_MAX_BODY_BYTES` (default 11 MiB: chat's 10 MiB attachments plus multipart
    /// framing): larger
    /// request bodies are refused with 413, by `Content-Length` up front or while streaming.
    pub max_body_bytes: u64,
    /// `GATEWAY_CONNECT_TIMEOUT` (default 2s): connecting to an upstream instance.
    pub connect_timeout: Duration,
    /// `GATEWAY_MAX_WS_FRAME_BYTES` (default 1 MiB): largest WebSocket frame relayed.
    pub max_ws_frame_bytes: usize,
    /// `GATEWAY_HSTS` (default false): send `Strict-Transport-Security`; turn on where the
    /// gateway is reached over HTTPS only.
    pub hsts: bool,
}

/// One entry of the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// A path prefix matched on segment boundaries (`/v1/users` matches `/v1/users` and
    /// `/v1/users/me`, not `/v1/usersx`), or an exact path.
    pub prefix: String,
    /// The upstream service (pool) name.
    pub service: String,
    /// The rate-limit class (`auth` or `api`).
    pub class: String,
}

/// One upstream service and its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub name: String,
    /// `<NAME>_UPSTREAMS`: comma-separated base URLs (`http://auth:8081`).
    pub urls: Vec<Url>,
    /// `<NAME>_TIMEOUT`: until the upstream's response head arrives (WebSockets: until the
    /// upgrade is answered).
    pub timeout: Duration,
}

/// Active and passive health checking of upstream instances.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// `GATEWAY_HEALTH_INTERVAL` (default 2s): how often each instance's `/health/ready` is
    /// asked.
    pub interval: Duration,
    /// `GATEWAY_HEALTH_TIMEOUT` (default 1s).
    pub timeout: Duration,
    /// `GATEWAY_EJECT_AFTER` (default 3): consecutive connect failures that eject an
    /// instance from rotation.
    pub eject_after: u32,
    /// `GATEWAY_EJECT_FOR` (default 10s): how long an ejected instance stays out (a passing
    /// health check after that brings it back).
    pub eject_for: Duration,
}

/// The quotas of one rate-limit class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimits {
    pub strategy: Strategy,
    /// Per client IP.
    pub per_ip: Quota,
    /// Per signed-in user (verified token); anonymous requests only count per IP.
    pub per_user: Quota,
}

/// Rate limits per route class.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `RATE_LIMIT_ENABLED` (default true).
    pub enabled: bool,
    /// `RATE_LIMIT_FAIL_OPEN` (default true): without Redis, let requests through.
    pub fail_mode: FailMode,
    /// `RATE_LIMIT_AUTH_*`: sign-up, sign-in, refresh, password changes (leaky bucket:
    /// bursts are queued and spaced out, which keeps bcrypt load smooth).
    pub auth: ClassLimits,
    /// `RATE_LIMIT_API_*`: everything else.
    pub api: ClassLimits,
}

impl RateLimitConfig {
    /// The limits of `class`; unknown classes get the `api` limits.
    pub fn class(&self, class: &str) -> &ClassLimits {
        match class {
            "auth" => &self.auth,
            _ => &self.api,
        }
    }
}

/// Cross-origin requests from browsers.
#[derive(Debug, Clone, Default)]
pub struct CorsConfig {
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins (`https://app.example.com`); empty
    /// (the default) allows no cross-origin requests.
    pub allowed_origins: Vec<String>,
    /// `CORS_MAX_AGE` (default 10m): how long browsers cache a preflight.
    pub max_age: Duration,
}

/// The default table: every public path of the four services.
/// Sign-up, sign-in, refresh and password changes (bcrypt behind each) are class `auth`.
const DEFAULT_ROUTES: &str = "/v1/auth/register=auth:auth,/v1/auth/login=auth:auth,\
/v1/auth/refresh=auth:auth,/v1/auth/password=auth:auth,/v1/auth=auth:api,\
/.well-known/jwks.json=auth:api,/v1/users=users:api,/v1/movies=movies:api,/v1/chat=chat:api";

/// Default instance URL of each default service (the ports `cargo xtask up` uses).
const DEFAULT_UPSTREAMS: [(&str, &str); 4] = [
    ("auth", "http://127.0.0.1:8081"),
    ("users", "http://127.0.0.1:8082"),
    ("movies", "http://127.0.0.1:8083"),
    ("chat", "http://127.0.0.1:8084"),
];

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let routes = parse_routes(env.raw("GATEWAY_ROUTES").unwrap_or(DEFAULT_ROUTES))?;
        let mut services: Vec<&str> = routes.iter().map(|r| r.service.as_str()).collect();
        services.sort_unstable();
        services.dedup();
        let upstreams = services
            .into_iter()
            .map(|name| upstream_from_env(env, name))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            http: HttpConfig::from_env(env, DEFAULT_PORT)?,
            redis: RedisConfig::from_env(env)?,
            telemetry: TelemetryConfig::from_env(env, SERVICE)?,
            verifier: VerifierConfig::from_env(env)?,
            routes,
            upstreams,
            health: HealthConfig {
                interval: env.duration_or("GATEWAY_HEALTH_INTERVAL", Duration::from_secs(2))?,
                timeout: env.duration_or("GATEWAY_HEALTH_TIMEOUT", Duration::from_secs(1))?,
                eject_after: in_range(
                    "GATEWAY_EJECT_AFTER",
                    env.or("GATEWAY_EJECT_AFTER", 3)?,
                    1..=100,
                )?,
                eject_for: env.duration_or("GATEWAY_EJECT_FOR", Duration::from_secs(10))?,
            },
            limits: RateLimitConfig {
                enabled: env.flag_or("RATE_LIMIT_ENABLED", true)?,
                fail_mode: FailMode::from_env(env, FailMode::Open)?,
                auth: class_from_env(
                    env,
                    "AUTH",
                    ClassLimits {
                        strategy: Strategy::LeakyBucket,
                        per_ip: Quota {
                            burst: 10,
                            per_minute: 60,
                        },
                        per_user: Quota {
                            burst: 10,
                            per_minute: 60,
                        },
                    },
                )?,
                api: class_from_env(
                    env,
                    "API",
                    ClassLimits {
                        strategy: Strategy::TokenBucket,
                        per_ip: Quota {
                            burst: 200,
                            per_minute: 1200,
                        },
                        per_user: Quota {
                            burst: 100,
                            per_minute: 600,
                        },
                    },
                )?,
            },
            cors: CorsConfig {
                allowed_origins: http::origin::allowed_origins_from_env(env)?,
                max_age: env.duration_or("CORS_MAX_AGE", Duration::from_secs(600))?,
            },
            max_body_bytes: in_range(
                "GATEWAY_MAX_BODY_BYTES",
                env.or("GATEWAY_MAX_BODY_BYTES", 11 * 1024 * 1024)?,
                1024..=1 << 34,
            )?,
            connect_timeout: env.duration_or("GATEWAY_CONNECT_TIMEOUT", Duration::from_secs(2))?,
            max_ws_frame_bytes: in_range(
                "GATEWAY_MAX_WS_FRAME_BYTES",
                env.or("GATEWAY_MAX_WS_FRAME_BYTES", 1024 * 1024)?,
                1024..=64 * 1024 * 1024,
            )?,
            hsts: env.flag_or("GATEWAY_HSTS", false)?,
        })
    }
}

/// `prefix=service:class,…` (class defaults to `api`).
fn parse_routes(raw: &str) -> Result<Vec<RouteConfig>, ConfigError> {
    let invalid = |problem: String| ConfigError::new("GATEWAY_ROUTES", problem);
    let routes: Vec<RouteConfig> = raw
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (prefix, target) = entry
                .split_once('=')
                .ok_or_else(|| invalid(format!("{entry:?} is not prefix=service[:class]")))?;
            let (service, class) = target.split_once(':').unwrap_or((target, "api"));
            if !prefix.starts_with('/') || prefix.len() > 1 && prefix.ends_with('/') {
                return Err(invalid(format!(
                    "prefix {prefix:?} must start with / and not end with one"
                )));
            }
            if service.is_empty()
                || !service
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(invalid(format!(
                    "service {service:?} must be lower-case letters, digits and -"
                )));
            }
            if !matches!(class, "auth" | "api") {
                return Err(invalid(format!("class {class:?} must be auth or api")));
            }
            Ok(RouteConfig {
                prefix: prefix.to_owned(),
                service: service.to_owned(),
                class: class.to_owned(),
            })
        })
        .collect::<Result<_, _>>()?;
    if routes.is_empty() {
        return Err(invalid("names no route".into()));
    }
    Ok(routes)
}

/// The variable-name form of a service name (`user-profiles` → `USER_PROFILES`).
fn env_name(service: &str) -> String {
    service.replace('-', "_").to_ascii_uppercase()
}

fn upstream_from_env(env: &Env, name: &str) -> Result<UpstreamConfig, ConfigError> {
    let variable = format!("{}_UPSTREAMS", env_name(name));
    let mut raw = env.list(&variable);
    if raw.is_empty()
        && let Some((_, url)) = DEFAULT_UPSTREAMS
            .iter()
            .find(|(service, _)| *service == name)
    {
        raw.push((*url).to_owned());
    }
    if raw.is_empty() {
        return Err(ConfigError::new(
            &variable,
            "is required: comma-separated instance URLs",
        ));
    }
    let urls = raw
        .iter()
        .map(|url| {
            let parsed = Url::parse(url)
                .map_err(|e| ConfigError::new(&variable, format!("{url:?}: {e}")))?;
            if parsed.scheme() != "http" || parsed.host().is_none() || parsed.path() != "/" {
                return Err(ConfigError::new(
                    &variable,
                    format!("{url:?} must be http://host[:port] with no path"),
                ));
            }
            Ok(parsed)
        })
        .collect::<Result<_, _>>()?;
    let timeout_variable = format!("{}_TIMEOUT", env_name(name));
    Ok(UpstreamConfig {
        name: name.to_owned(),
        urls,
        timeout: env.duration_or(&timeout_variable, Duration::from_secs(15))?,
    })
}

fn class_from_env(
    env: &Env,
    class: &str,
    default: ClassLimits,
) -> Result<ClassLimits, ConfigError> {
    Ok(ClassLimits {
        strategy: Strategy::from_env(
            env,
            &format!("RATE_LIMIT_{class}_STRATEGY"),
            default.strategy,
        )?,
        per_ip: Quota::from_env(env, &format!("RATE_LIMIT_{class}_IP"), default.per_ip)?,
        per_user: Quota::from_env(env, &format!("RATE_LIMIT_{class}_USER"), default.per_user)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_covers_every_service() {
        let config = Config::from_env(&Env::default()).unwrap();
        let names: Vec<_> = config.upstreams.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["auth", "chat", "movies", "users"]);
        assert!(
            config
                .routes
                .iter()
                .any(|r| r.prefix == "/.well-known/jwks.json" && r.service == "auth")
        );
        assert_eq!(config.limits.class("auth").strategy, Strategy::LeakyBucket);
        let class_of = |prefix: &str| {
            config
                .routes
                .iter()
                .find(|r| r.prefix == prefix)
                .map(|r| r.class.as_str())
        };
        assert_eq!(class_of("/v1/auth/login"), Some("auth"));
        assert_eq!(class_of("/v1/auth"), Some("api"));
    }

    #[test]
    fn upstreams_and_routes_come_from_the_environment() {
        let env = Env::from_pairs([
            ("GATEWAY_ROUTES", "/v2/things=things, /v1/auth=auth:auth"),
            ("THINGS_UPSTREAMS", "http://a:1, http://b:2"),
            ("THINGS_TIMEOUT", "3s"),
        ]);
        let config = Config::from_env(&env).unwrap();
        let things = config
            .upstreams
            .iter()
            .find(|u| u.name == "things")
            .unwrap();
        assert_eq!(things.urls.len(), 2);
        assert_eq!(things.timeout, Duration::from_secs(3));
        assert_eq!(config.routes[0].class, "api");
    }

    #[test]
    fn bad_tables_and_urls_name_the_variable() {
        for (name, value) in [
            ("GATEWAY_ROUTES", "v1/auth=auth"),
            ("GATEWAY_ROUTES", "/v1/auth"),
            ("GATEWAY_ROUTES", "/v1/auth=auth:vip"),
            ("AUTH_UPSTREAMS", "https://auth:8081"),
            ("AUTH_UPSTREAMS", "http://auth:8081/base"),
            ("CORS_ALLOWED_ORIGINS", "app.example.com"),
        ] {
            let error = Config::from_env(&Env::from_pairs([(name, value)])).unwrap_err();
            assert_eq!(error.variable, name, "{value}");
        }
        let error =
            Config::from_env(&Env::from_pairs([("GATEWAY_ROUTES", "/x=nowhere")])).unwrap_err();
        assert_eq!(error.variable, "NOWHERE_UPSTREAMS");
    }
}
