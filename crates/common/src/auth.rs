//! Access tokens, verified the same way by every service (DESIGN §5).
//!
//! auth-service signs short-lived access JWTs with Ed25519 (`alg: EdDSA`, a `kid` in the
//! header) and publishes its public keys at `/.well-known/jwks.json`. Every other service
//! verifies tokens locally with a [`TokenVerifier`]:
//!
//! - the algorithm is pinned to EdDSA: `none`, HMAC (including HS256 "signed" with the public
//!   key) and every other algorithm are rejected before any key is looked at;
//! - keys come from the JWKS, cached; a token with an unknown `kid` triggers one refetch (at
//!   most one every [`JWKS_MIN_REFETCH`], so random `kid`s cannot flood auth-service), which is
//!   how a new signing key is picked up without a restart;
//! - `iss`, `aud`, `exp`, `iat` and `nbf` are checked with a small leeway;
//! - a token whose signature verified is remembered (by its exact text) for at most
//!   [`VERIFIED_TOKEN_TTL`] and never past its `exp`: checking an Ed25519 signature was a
//!   quarter of a service's CPU per request, and a browser or app sends the same token for
//!   minutes. So a key removed from the JWKS stops verifying tokens within
//!   `AUTH_JWKS_CACHE_TTL` plus that minute;
//! - the token's session (`sid`) must still exist in Redis ([`session_key`]): logging out
//!   ends the session, and the next request with the old token is refused. A positive answer
//!   is cached in-process for `AUTH_SESSION_CACHE_TTL` (default 500 ms): that is the longest a
//!   replica may accept a token after its session ended — while Redis answers. While it does
//!   not, valid tokens are accepted unchecked (`AUTH_SESSION_FAIL_OPEN`, see
//!   [`VerifierConfig::sessions_fail_open`]) or refused with 503.
//!
//! [`AuthUser`] is the actix extractor handlers take; it reads the token from
//! `Authorization: Bearer …` or, for browsers, the [`ACCESS_COOKIE`] cookie.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use actix_web::{
    FromRequest, HttpRequest,
    dev::Payload,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
    web,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    config::{ConfigError, Env},
    http::Problem,
    redis::RedisConnection,
};

/// The cookie that carries the access token for browsers (set by auth-service on request).
pub const ACCESS_COOKIE: &str = "marquee_access";

/// How long fetching the JWKS may take (the whole request, body included).
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// At most one JWKS refetch per this interval, however many unknown `kid`s arrive.
pub const JWKS_MIN_REFETCH: Duration = Duration::from_secs(10);

/// Until a first JWKS has been fetched, a failed fetch is tried again after this (one fetch
/// at a time), so a JWKS that was unreachable for a moment at start-up does not make every
/// request answer 503 for [`JWKS_MIN_REFETCH`].
pub const JWKS_FIRST_FETCH_RETRY: Duration = Duration::from_secs(1);

/// The longest a verified token is taken on trust without checking its signature again.
pub const VERIFIED_TOKEN_TTL: Duration = Duration::from_secs(60);

/// Verified tokens remembered at most; beyond it the expired ones are dropped, then all.
const VERIFIED_TOKEN_LIMIT: usize = 10_000;

/// The Redis key of a session: written by auth-service, checked by every verifier.
pub fn session_key(session_id: Uuid) -> String {
    format!("session:{session_id}")
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

/// The claims of a Marquee access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user.
    pub sub: Uuid,
    /// The session the token belongs to.
    pub sid: Uuid,
    pub roles: Vec<Role>,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// The token's own id.
    pub jti: Uuid,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub session_id: Uuid,
    pub roles: Vec<Role>,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }

    /// Whether the caller may read or change `user`'s own data: it is them, or an admin.
    pub fn may_act_for(&self, user: Uuid) -> bool {
        self.id == user || self.is_admin()
    }
}

/// Verifier settings.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// `AUTH_JWKS_URL` (default `http://127.0.0.1:8081/.well-known/jwks.json`).
    pub jwks_url: String,
    /// `AUTH_ISSUER` (default `marquee-auth`): the `iss` tokens must carry.
    pub issuer: String,
    /// `AUTH_AUDIENCE` (default `marquee-api`): the `aud` access tokens must carry.
    pub audience: String,
    /// `AUTH_JWKS_CACHE_TTL` (default 5m): keys are refetched when older, so a key removed
    /// from the JWKS stops being accepted.
    pub jwks_cache_ttl: Duration,
    /// `AUTH_SESSION_CACHE_TTL` (default 500ms): how long a live session is remembered; the
    /// longest a replica accepts a token after logout (the platform promises under a second).
    pub session_cache_ttl: Duration,
    /// `AUTH_SESSION_FAIL_OPEN` (default true): while Redis cannot be asked whether a session
    /// is still alive, a correctly signed, unexpired token is accepted, so a Redis outage
    /// costs only what truly needs Redis (signing in, refreshing, logging out). The price: a
    /// session ended before or during the outage is not refused until Redis is back, for at
    /// most the rest of the token's lifetime (15 min). `false` answers 503 instead.
    pub sessions_fail_open: bool,
    /// Clock skew tolerated on `exp`/`nbf`/`iat` (30 s).
    pub leeway: Duration,
}

impl VerifierConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let jwks_url = env
            .raw("AUTH_JWKS_URL")
            .unwrap_or("http://127.0.0.1:8081/.well-known/jwks.json")
            .to_owned();
        if !(jwks_url.starts_with("http://") || jwks_url.starts_with("https://")) {
            return Err(ConfigError::new("AUTH_JWKS_URL", "must be an http(s) URL"));
        }
        Ok(Self {
            jwks_url,
            issuer: env.raw("AUTH_ISSUER").unwrap_or("marquee-auth").to_owned(),
            audience: env.raw("AUTH_AUDIENCE").unwrap_or("marquee-api").to_owned(),
            jwks_cache_ttl: env.duration_or("AUTH_JWKS_CACHE_TTL", Duration::from_secs(300))?,
            session_cache_ttl: env
                .duration_or("AUTH_SESSION_CACHE_TTL", Duration::from_millis(500))?,
            sessions_fail_open: env.flag_or("AUTH_SESSION_FAIL_OPEN", true)?,
            leeway: Duration::from_secs(30),
        })
    }
}

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no access token")]
    MissingToken,
    /// Malformed, badly signed, expired, for another audience, unknown key… The reason is
    /// for the log; clients only learn that the token is invalid.
    #[error("invalid access token: {0}")]
    InvalidToken(String),
    #[error("the session has ended")]
    SessionEnded,
    /// The JWKS or Redis could not be reached: nothing can be verified right now.
    #[error("cannot verify tokens now: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// The problem a client sees: 401 with a `WWW-Authenticate` challenge, or 503.
    pub fn problem(&self) -> Problem {
        let challenge = |problem: Problem, description: &str| {
            let value = format!(
                r#"Bearer realm="marquee", error="invalid_token", error_description="{description}""#
            );
            problem.with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer")),
            )
        };
        match self {
            Self::MissingToken => Problem::unauthorized("missing_token", "Authentication required")
                .with_header(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="marquee""#),
                ),
            Self::InvalidToken(reason) => {
                tracing::debug!(%reason, "rejected access token");
                challenge(
                    Problem::unauthorized("invalid_token", "Invalid access token"),
                    "invalid token",
                )
            }
            Self::SessionEnded => challenge(
                Problem::unauthorized("session_ended", "The session has ended; sign in again"),
                "session ended",
            ),
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "token verification unavailable");
                Problem::unavailable("auth_unavailable", Duration::from_secs(1))
            }
        }
    }
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        error.problem()
    }
}

impl actix_web::ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        self.problem().error_response()
    }
}

/// Verifies access tokens; cheap to clone (shared state). See the module docs.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: VerifierConfig,
    /// Where keys come from: fetched from `jwks_url`, or given once (the issuer itself).
    source: KeySource,
    redis: RedisConnection,
    keys: RwLock<KeyCache>,
    /// Serialises refetches, so concurrent unknown `kid`s cause one request.
    refetch: tokio::sync::Mutex<()>,
    /// Sessions seen alive, and when.
    live_sessions: Mutex<HashMap<Uuid, Instant>>,
    /// Tokens whose signature and claims verified: their claims, and until when they are
    /// trusted (see the module docs).
    verified: Mutex<HashMap<Arc<str>, (AccessClaims, Instant)>>,
    /// When sessions passing unchecked was last logged: seconds after `epoch`, plus one (0:
    /// never).
    last_unchecked_warning: AtomicU64,
    epoch: Instant,
}

enum KeySource {
    Remote(reqwest::Client),
    Fixed,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// Last successful fetch: decides whether the keys are fresh.
    fetched_at: Option<Instant>,
    /// Last attempt, successful or not: rate-limits refetches, so that while the JWKS is
    /// unreachable requests do not queue up behind one failing fetch after another.
    attempted_at: Option<Instant>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Sessions remembered at most; beyond it expired entries are dropped.
const SESSION_CACHE_LIMIT: usize = 100_000;

/// How often a Redis outage is logged while sessions pass unchecked.
const UNCHECKED_WARNING_INTERVAL: Duration = Duration::from_secs(10);

impl TokenVerifier {
    pub fn new(config: VerifierConfig, redis: RedisConnection) -> Self {
        let http = reqwest::Client::builder()
            .timeout(JWKS_FETCH_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self::with_source(config, redis, KeySource::Remote(http), KeyCache::default())
    }

    /// A verifier with a fixed set of keys, given as a JWKS document and never refetched:
    /// for auth-service, which verifies the tokens it signs itself.
    pub fn with_jwks(
        config: VerifierConfig,
        redis: RedisConnection,
        jwks: &serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        let set = JwkSet::deserialize(jwks)?;
        let now = Instant::now();
        let cache = KeyCache {
            keys: set.into_keys(),
            fetched_at: Some(now),
            attempted_at: Some(now),
        };
        Ok(Self::with_source(config, redis, KeySource::Fixed, cache))
    }

    fn with_source(
        config: VerifierConfig,
        redis: RedisConnection,
        source: KeySource,
        keys: KeyCache,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                source,
                redis,
                keys: RwLock::new(keys),
                refetch: tokio::sync::Mutex::new(()),
                live_sessions: Mutex::new(HashMap::new()),
                verified: Mutex::new(HashMap::new()),
                last_unchecked_warning: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        }
    }

    /// Verifies `token` and its session; returns the caller.
    pub async fn verify(&self, token: &str) -> Result<AuthUser, AuthError> {
        let claims = self.verify_signature(token).await?;
        self.check_session(claims.sid).await?;
        Ok(AuthUser {
            id: claims.sub,
            session_id: claims.sid,
            roles: claims.roles,
        })
    }

    /// Verifies `token`'s signature and claims only, not whether its session is still alive:
    /// for callers that only need to know who signed in (the gateway's per-user rate limits),
    /// never for authorising anything.
    pub async fn verify_signature(&self, token: &str) -> Result<AccessClaims, AuthError> {
        if let Some(claims) = self.remembered(token) {
            return Ok(claims);
        }
        let claims = self.check_signature(token).await?;
        self.remember(token, &claims);
        Ok(claims)
    }

    /// The claims of `token` if it verified lately and has not expired since.
    fn remembered(&self, token: &str) -> Option<AccessClaims> {
        let verified = self.inner.verified.lock().ok()?;
        let (claims, until) = verified.get(token)?;
        let now = jsonwebtoken::get_current_timestamp();
        let leeway = self.inner.config.leeway.as_secs();
        let unexpired = u64::try_from(claims.exp)
            .unwrap_or(0)
            .saturating_add(leeway)
            > now;
        (unexpired && Instant::now() < *until).then(|| claims.clone())
    }

    fn remember(&self, token: &str, claims: &AccessClaims) {
        let Ok(mut verified) = self.inner.verified.lock() else {
            return;
        };
        if verified.len() >= VERIFIED_TOKEN_LIMIT {
            let now = Instant::now();
            verified.retain(|_, (_, until)| *until > now);
            if verified.len() >= VERIFIED_TOKEN_LIMIT {
                verified.clear();
            }
        }
        verified.insert(
            Arc::from(token),
            (claims.clone(), Instant::now() + VERIFIED_TOKEN_TTL),
        );
    }

    async fn check_signature(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let header = decode_header(token).map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::InvalidToken(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| AuthError::InvalidToken("no kid".into()))?;
        let key = self.key(&kid).await?;

        let config = &self.inner.config;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway.as_secs();
        let claims = decode::<AccessClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        // jsonwebtoken only requires `iat` to be present: a token "issued" later than now
        // (beyond the clock skew) was not issued by a working auth-service.
        let now = jsonwebtoken::get_current_timestamp();
        let issued = u64::try_from(claims.iat).unwrap_or(0);
        if issued > now.saturating_add(config.leeway.as_secs()) {
            return Err(AuthError::InvalidToken(format!(
                "issued in the future (iat {issued}, now {now})"
            )));
        }
        Ok(claims)
    }

    /// Forgets a session at once (for the service that ends it, so its own replica does not
    /// wait for the cache to expire).
    pub fn forget_session(&self, session_id: Uuid) {
        if let Ok(mut sessions) = self.inner.live_sessions.lock() {
            sessions.remove(&session_id);
        }
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let KeySource::Remote(http) = &self.inner.source else {
            return self
                .cached_key(kid, |_| true)
                .ok_or_else(|| AuthError::InvalidToken(format!("unknown kid {kid:?}")));
        };
        let ttl = self.inner.config.jwks_cache_ttl;
        if let Some(key) = self.cached_key(kid, |fetched_at| fetched_at.elapsed() < ttl) {
            return Ok(key);
        }
        let _single_flight = self.inner.refetch.lock().await;
        // Someone else may have refetched while this request waited.
        if let Some(key) = self.cached_key(kid, |fetched_at| fetched_at.elapsed() < ttl) {
            return Ok(key);
        }
        let may_refetch = {
            let cache = self.read_keys();
            // Without any key every request fails anyway: try again sooner.
            let interval = if cache.fetched_at.is_some() {
                JWKS_MIN_REFETCH
            } else {
                JWKS_FIRST_FETCH_RETRY
            };
            cache
                .attempted_at
                .is_none_or(|attempted| attempted.elapsed() >= interval)
        };
        if may_refetch {
            let fetched = self.fetch_keys(http).await;
            let mut cache = self.write_keys();
            cache.attempted_at = Some(Instant::now());
            match fetched {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                }
                // Keep serving the keys we have: an auth-service hiccup must not log everyone out.
                Err(error) if !cache.keys.is_empty() => {
                    tracing::warn!(%error, "JWKS refetch failed; using the cached keys");
                }
                Err(error) => return Err(AuthError::Unavailable(error)),
            }
        } else if self.read_keys().fetched_at.is_none() {
            return Err(AuthError::Unavailable("no signing keys fetched yet".into()));
        }
        self.cached_key(kid, |_| true)
            .ok_or_else(|| AuthError::InvalidToken(format!("unknown kid {kid:?}")))
    }

    fn cached_key(&self, kid: &str, fresh: impl Fn(Instant) -> bool) -> Option<DecodingKey> {
        let cache = self.read_keys();
        cache.fetched_at.filter(|t| fresh(*t))?;
        cache.keys.get(kid).cloned()
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, KeyCache> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_keys(&self) -> std::sync::RwLockWriteGuard<'_, KeyCache> {
        self.inner
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The Ed25519 keys of the JWKS at `jwks_url`.
    async fn fetch_keys(
        &self,
        http: &reqwest::Client,
    ) -> Result<HashMap<String, DecodingKey>, String> {
        let response = http
            .get(&self.inner.config.jwks_url)
            .timeout(JWKS_FETCH_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("fetching the JWKS failed: {e}"))?;
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| format!("the JWKS is malformed: {e}"))?;
        Ok(set.into_keys())
    }

    /// Logs, at most every [`UNCHECKED_WARNING_INTERVAL`], that sessions pass unchecked.
    fn warn_unchecked(&self, error: &redis::RedisError) {
        let now = self.inner.epoch.elapsed().as_secs() + 1;
        let last = self.inner.last_unchecked_warning.load(Ordering::Relaxed);
        if last == 0 || now >= last + UNCHECKED_WARNING_INTERVAL.as_secs() {
            self.inner
                .last_unchecked_warning
                .store(now, Ordering::Relaxed);
            tracing::warn!(
                %error,
                "cannot ask Redis whether sessions are alive; accepting valid tokens unchecked \
                 (AUTH_SESSION_FAIL_OPEN)"
            );
        }
    }

    async fn check_session(&self, session_id: Uuid) -> Result<(), AuthError> {
        let ttl = self.inner.config.session_cache_ttl;
        let seen = self
            .inner
            .live_sessions
            .lock()
            .ok()
            .and_then(|sessions| sessions.get(&session_id).copied());
        if seen.is_some_and(|at| at.elapsed() < ttl) {
            return Ok(());
        }
        let mut redis = self.inner.redis.clone();
        let exists: bool = match redis::cmd("EXISTS")
            .arg(session_key(session_id))
            .query_async(&mut redis)
            .await
        {
            Ok(exists) => exists,
            Err(error) if self.inner.config.sessions_fail_open => {
                // Not remembered as live: the next request asks Redis again.
                self.warn_unchecked(&error);
                return Ok(());
            }
            Err(error) => return Err(AuthError::Unavailable(format!("Redis: {error}"))),
        };
        if !exists {
            self.forget_session(session_id);
            return Err(AuthError::SessionEnded);
        }
        if !ttl.is_zero()
            && let Ok(mut sessions) = self.inner.live_sessions.lock()
        {
            if sessions.len() >= SESSION_CACHE_LIMIT {
                sessions.retain(|_, at| at.elapsed() < ttl);
            }
            sessions.insert(session_id, Instant::now());
        }
        Ok(())
    }
}

/// The subset of RFC 7517 this verifier reads.
#[derive(Debug, Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    crv: Option<String>,
    kid: Option<String>,
    x: Option<String>,
}

impl JwkSet {
    /// The Ed25519 keys by `kid`; entries of other kinds or malformed ones are skipped.
    fn into_keys(self) -> HashMap<String, DecodingKey> {
        self.keys
            .into_iter()
            .filter(|k| k.kty == "OKP" && k.crv.as_deref() == Some("Ed25519"))
            .filter_map(|k| {
                let kid = k.kid?;
                let x = URL_SAFE_NO_PAD
                    .decode(k.x?)
                    .ok()
                    .filter(|x| x.len() == 32)?;
                Some((kid, DecodingKey::from_ed_der(&x)))
            })
            .collect()
    }
}

/// The prefix of a `Sec-WebSocket-Protocol` entry that carries an access token
/// (`bearer.<token>`): browsers cannot set headers on a WebSocket handshake.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "bearer.";

/// The access token offered as a `Sec-WebSocket-Protocol` entry, if any.
pub fn token_from_subprotocols(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// The access token of a request: `Authorization: Bearer …`, else the access cookie.
pub fn token_from_request(req: &HttpRequest) -> Option<String> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    bearer.or_else(|| req.cookie(ACCESS_COOKIE).map(|c| c.value().to_owned()))
}

impl FromRequest for AuthUser {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<TokenVerifier>>().cloned();
        let token = token_from_request(req);
        Box::pin(async move {
            let verifier = verifier
                .ok_or_else(|| AuthError::Unavailable("no TokenVerifier in app data".into()))?;
            let token = token.ok_or(AuthError::MissingToken)?;
            verifier.verify(&token).await
        })
    }
}
