//! `Idempotency-Key` for requests that create or change things (DESIGN §4).
//!
//! A client that may retry a POST (a timeout, a flaky network) sends a unique
//! `Idempotency-Key`. The first request with a key runs and its response is kept in Redis
//! for [`IdempotencyStore::ttl`] (24 h); afterwards the same key:
//!
//! | and | gets |
//! |---|---|
//! | the same request (method, path, query, body) | the kept response again, with `Idempotent-Replayed: true` |
//! | a different request | 422 `idempotency_key_reused` |
//! | while the first is still running | 409 `idempotency_in_flight` |
//!
//! Keys are scoped to the caller: the user of a valid access token (when the app has a
//! [`TokenVerifier`](crate::auth::TokenVerifier)), so a retry after a token refresh still
//! replays and nobody can replay another user's response; anonymous callers share one scope,
//! where a replay needs the same random key *and* the same request. Answers that say "not
//! now" rather than "done" — 401, 403, 408, 429 and 5xx — are not kept, so the retry really
//! runs. An in-flight marker expires after [`IdempotencyStore::lock_ttl`], so a crashed
//! replica does not block a key forever. If Redis is unreachable the request is refused with
//! 503 rather than risk doing it twice.
//!
//! Mount it on the routes (or scopes) that need it:
//! `web::resource("/things").wrap(from_fn(idempotency::middleware))`, with an
//! [`IdempotencyStore`] in app data. Safe methods (GET, HEAD, OPTIONS) pass through untouched.

use crate::encoding::hex;
use std::time::Duration;

use actix_web::{
    Error, HttpResponse, ResponseError,
    body::{BoxBody, MessageBody, to_bytes},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{self, HeaderName, HeaderValue},
    },
    middleware::Next,
    web,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Problem;
use crate::{
    auth::{TokenVerifier, token_from_request},
    redis::RedisConnection,
};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on replayed responses.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// Where responses are kept; register it as `web::Data<IdempotencyStore>`.
#[derive(Clone)]
pub struct IdempotencyStore {
    redis: RedisConnection,
    /// The service's name: keys are `idempotency:<namespace>:<caller>:<key>`.
    namespace: String,
    /// How long a response is replayable (24 h).
    pub ttl: Duration,
    /// How long an in-flight marker lives without its response (a crashed request).
    pub lock_ttl: Duration,
}

impl std::fmt::Debug for IdempotencyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyStore")
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl IdempotencyStore {
    pub fn new(redis: RedisConnection, namespace: &str) -> Self {
        Self {
            redis,
            namespace: namespace.to_owned(),
            ttl: Duration::from_secs(24 * 3600),
            lock_ttl: Duration::from_secs(60),
        }
    }
}

/// What is kept under a key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Entry {
    InFlight {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        status: u16,
        headers: Vec<(String, String)>,
        /// Base64 of the body.
        body: String,
    },
}

impl Entry {
    fn fingerprint(&self) -> &str {
        match self {
            Self::InFlight { fingerprint } | Self::Done { fingerprint, .. } => fingerprint,
        }
    }
}

/// The response headers worth replaying.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// The middleware; see the module docs.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let unsafe_method = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let key = req.headers().get(IDEMPOTENCY_KEY).cloned();
    let Some(key) = key.filter(|_| unsafe_method) else {
        // Safe methods are idempotent by definition; nothing to keep. Methods no route
        // serves go on to their 405.
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(key) = key.to_str().ok().filter(|k| {
        (1..=MAX_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
    }) else {
        let problem = Problem::bad_request("invalid_idempotency_key", "Invalid Idempotency-Key")
            .with_detail(format!(
                "must be 1 to {MAX_KEY_LEN} visible ASCII characters"
            ));
        return Ok(req.into_response(problem.error_response()));
    };
    let Some(store) = req.app_data::<web::Data<IdempotencyStore>>().cloned() else {
        let problem = Problem::internal(&"idempotency middleware without an IdempotencyStore");
        return Ok(req.into_response(problem.error_response()));
    };
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(error) => {
            let problem = super::problem::payload_problem(&error);
            return Ok(req.into_response(problem.error_response()));
        }
    };
    let fingerprint = fingerprint(&req, &body);
    let redis_key = redis_key(&store.namespace, &caller(&req).await, key);
    req.set_payload(Payload::from(body));

    let mut redis = store.redis.clone();
    let marker = Entry::InFlight {
        fingerprint: fingerprint.clone(),
    };
    let claimed: redis::RedisResult<Option<String>> = redis::cmd("SET")
        .arg(&redis_key)
        .arg(serde_json::to_string(&marker).unwrap_or_default())
        .arg("NX")
        .arg("PX")
        .arg(store.lock_ttl.as_millis() as u64)
        .query_async(&mut redis)
        .await;
    let claimed = match claimed {
        Ok(claimed) => claimed,
        Err(error) => return Ok(req.into_response(unavailable(error).error_response())),
    };
    if claimed.is_none() {
        return answer_from_entry(req, &mut redis, &redis_key, &fingerprint).await;
    }

    let response = match next.call(req).await {
        Ok(response) => response,
        Err(error) => {
            release(&mut redis, &redis_key).await;
            return Err(error);
        }
    };
    let (req, response) = response.into_parts();
    let (response, body) = response.into_parts();
    let body = match to_bytes(body).await {
        Ok(body) => body,
        Err(_) => {
            release(&mut redis, &redis_key).await;
            let problem = Problem::internal(&"response body could not be read");
            return Ok(ServiceResponse::new(req, problem.error_response()));
        }
    };
    if !is_final(response.status()) {
        release(&mut redis, &redis_key).await;
    } else {
        let entry = Entry::Done {
            fingerprint,
            status: response.status().as_u16(),
            headers: KEPT_HEADERS
                .iter()
                .filter_map(|name| {
                    let value = response.headers().get(name)?.to_str().ok()?;
                    Some((name.as_str().to_owned(), value.to_owned()))
                })
                .collect(),
            body: STANDARD.encode(&body),
        };
        let stored: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&redis_key)
            .arg(serde_json::to_string(&entry).unwrap_or_default())
            .arg("PX")
            .arg(store.ttl.as_millis() as u64)
            .query_async(&mut redis)
            .await;
        if let Err(error) = stored {
            // The request has been done; its answer stands. A retry will find the in-flight
            // marker (409) until it expires rather than run twice.
            tracing::warn!(%error, "could not keep the response of an idempotent request");
        }
    }
    let response = response.set_body(BoxBody::new(body));
    Ok(ServiceResponse::new(req, response))
}

/// The key is taken: replay, or explain why not.
async fn answer_from_entry(
    req: ServiceRequest,
    redis: &mut RedisConnection,
    redis_key: &str,
    fingerprint: &str,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let stored: Option<String> = match redis::cmd("GET").arg(redis_key).query_async(redis).await {
        Ok(stored) => stored,
        Err(error) => return Ok(req.into_response(unavailable(error).error_response())),
    };
    let entry = stored.and_then(|json| serde_json::from_str::<Entry>(&json).ok());
    let problem = match entry {
        Some(entry) if entry.fingerprint() != fingerprint => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request",
        ),
        Some(Entry::Done {
            status,
            headers,
            body,
            ..
        }) => {
            let mut response = HttpResponse::build(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            );
            for (name, value) in headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(name),
                    HeaderValue::try_from(value.as_str()),
                ) {
                    response.insert_header((name, value));
                }
            }
            response.insert_header((IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")));
            let body = STANDARD.decode(body).unwrap_or_default();
            return Ok(req.into_response(response.body(body)));
        }
        // In flight, or finished and expired between SET NX and GET: ask for a retry.
        _ => Problem::conflict(
            "idempotency_in_flight",
            "A request with this Idempotency-Key is still being processed",
        )
        .with_retry_after(Duration::from_secs(1)),
    };
    Ok(req.into_response(problem.error_response()))
}

async fn release(redis: &mut RedisConnection, redis_key: &str) {
    let released: redis::RedisResult<()> =
        redis::cmd("DEL").arg(redis_key).query_async(redis).await;
    if let Err(error) = released {
        tracing::warn!(%error, "could not release an idempotency key; it expires by itself");
    }
}

fn unavailable(error: redis::RedisError) -> Problem {
    tracing::warn!(%error, "idempotency store unavailable");
    Problem::unavailable("idempotency_unavailable", Duration::from_secs(1))
        .with_detail("requests with an Idempotency-Key cannot be accepted right now")
}

/// SHA-256 of method, path, query and body.
fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(req.method().as_str());
    hash.update([0]);
    hash.update(req.path());
    hash.update([0]);
    hash.update(req.query_string());
    hash.update([0]);
    hash.update(body);
    hex(&hash.finalize())
}

/// Whether a response settles the request (kept and replayed) or invites a real retry.
fn is_final(status: StatusCode) -> bool {
    !(status.is_server_error()
        || matches!(
            status,
            StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_MANY_REQUESTS
        ))
}

/// Whom a key belongs to: the user of a valid access token, or `anonymous`. An app without a
/// [`TokenVerifier`] cannot tell users apart; there the credentials themselves (a hash of the
/// token) are the scope.
async fn caller(req: &ServiceRequest) -> String {
    let Some(token) = token_from_request(req.request()) else {
        return "anonymous".to_owned();
    };
    match req.app_data::<web::Data<TokenVerifier>>() {
        Some(verifier) => match verifier.verify(&token).await {
            Ok(user) => format!("user:{}", user.id),
            Err(_) => "anonymous".to_owned(),
        },
        None => format!("token:{}", hex(&Sha256::digest(token.as_bytes())[..16])),
    }
}

/// `idempotency:<namespace>:<caller>:<key>`.
fn redis_key(namespace: &str, caller: &str, key: &str) -> String {
    format!("idempotency:{namespace}:{caller}:{key}")
}
