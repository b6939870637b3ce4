//! The Redis cache in front of TMDb: fresh for a TTL per kind of response, then kept as a
//! fallback (`TMDB_CACHE_STALE_FOR`) that is served — marked stale — when TMDb cannot answer.
//!
//! Concurrent misses for one key make one upstream call (single-flight, per instance): the
//! first starts the call as its own task, the others wait for its result. The task checks Redis
//! once more before calling, so a request that missed just as another call filled the entry
//! does not call again. Because the call runs as a task, it completes and fills the cache even
//! when every waiting client has gone.
//!
//! An entry is JSON `{stored_at, fresh_until, value}` (milliseconds since the epoch) under
//! `{CACHE_KEY_PREFIX}:tmdb:{key}`, expiring at `fresh_until + stale_for`. Redis trouble is a
//! miss (the call goes upstream), never an error; for a second after one, Redis is not asked.
//!
//! Metrics: `cache_lookups_total{cache="tmdb",outcome}` with `hit`, `miss`, `expired` (found
//! but no longer fresh), `error`, `bypassed` and `stale_served`.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use marquee_common::{
    ConfigError, Env,
    http::metrics::Metrics,
    redis::{RedisConfig, RedisConnection},
};
use prometheus::{IntCounterVec, Opts};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::upstream::UpstreamError;

/// How long Redis is left alone after it failed to answer.
const BYPASS_AFTER_ERROR: Duration = Duration::from_secs(1);
/// The metrics label of this cache.
const NAME: &str = "tmdb";

/// Cache settings.
#[derive(Debug, Clone)]
pub struct ResponseCacheConfig {
    /// `CACHE_REDIS_URL` (default: `REDIS_URL`).
    pub redis: RedisConfig,
    /// `CACHE_KEY_PREFIX` (default `cache`).
    pub key_prefix: String,
    /// `TMDB_CACHE_POPULAR_TTL` (default 10m).
    pub popular_ttl: Duration,
    /// `TMDB_CACHE_DETAILS_TTL` (default 1h); an unknown id is remembered for at most 5m.
    pub details_ttl: Duration,
    /// `TMDB_CACHE_SEARCH_TTL` (default 5m).
    pub search_ttl: Duration,
    /// `TMDB_CACHE_GENRES_TTL` (default 24h).
    pub genres_ttl: Duration,
    /// `TMDB_CACHE_STALE_FOR` (default 24h): how long an expired entry is kept to be served
    /// when TMDb is down.
    pub stale_for: Duration,
}

impl ResponseCacheConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::for_url("redis://127.0.0.1:6379");
        Ok(Self {
            redis: RedisConfig::from_env_var(env, "CACHE_REDIS_URL")?,
            key_prefix: env.raw("CACHE_KEY_PREFIX").unwrap_or("cache").to_owned(),
            popular_ttl: env.duration_or("TMDB_CACHE_POPULAR_TTL", defaults.popular_ttl)?,
            details_ttl: env.duration_or("TMDB_CACHE_DETAILS_TTL", defaults.details_ttl)?,
            search_ttl: env.duration_or("TMDB_CACHE_SEARCH_TTL", defaults.search_ttl)?,
            genres_ttl: env.duration_or("TMDB_CACHE_GENRES_TTL", defaults.genres_ttl)?,
            stale_for: env.duration_or("TMDB_CACHE_STALE_FOR", defaults.stale_for)?,
        })
    }

    /// The defaults above, on the Redis at `url`.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            redis: RedisConfig::for_url(url),
            key_prefix: "cache".to_owned(),
            popular_ttl: Duration::from_secs(600),
            details_ttl: Duration::from_secs(3600),
            search_ttl: Duration::from_secs(300),
            genres_ttl: Duration::from_secs(24 * 3600),
            stale_for: Duration::from_secs(24 * 3600),
        }
    }
}

/// Where an answer came from, for the `Cache-Status`, `Age` and `Warning` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A fresh cache entry; `fresh_for` is what is left of its TTL.
    Hit { age: Duration, fresh_for: Duration },
    /// Fetched from the provider just now (for this request or one it waited with);
    /// `fresh_for` is the TTL it was stored with.
    Fetched { fresh_for: Duration },
    /// The provider failed; this is an expired entry, `expired_for` past its freshness.
    Stale {
        age: Duration,
        expired_for: Duration,
    },
    /// A provider that needs no cache (the offline catalogue).
    Local,
}

/// A value and where it came from.
#[derive(Debug, Clone)]
pub struct Served<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Served<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Served<U> {
        Served {
            value: f(self.value),
            origin: self.origin,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Entry<T> {
    stored_at: u64,
    fresh_until: u64,
    value: T,
}

/// The result of one upstream call, as every request that waited for it receives it: the
/// value's JSON (each waiter decodes its own copy) and its TTL.
type FlightResult = Result<(Arc<str>, Duration), UpstreamError>;
type Flight = Shared<BoxFuture<'static, FlightResult>>;

/// The TMDb response cache. Cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: RedisConnection,
    /// `{key_prefix}:tmdb:`.
    prefix: String,
    stale_for: Duration,
    flights: Mutex<HashMap<String, Flight>>,
    /// Milliseconds since `epoch` until which Redis is not asked.
    bypass_until: AtomicU64,
    epoch: Instant,
    lookups: IntCounterVec,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl ResponseCache {
    pub fn new(redis: RedisConnection, config: &ResponseCacheConfig, metrics: &Metrics) -> Self {
        let lookups = IntCounterVec::new(
            Opts::new("cache_lookups_total", "Cache lookups by outcome"),
            &["cache", "outcome"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        metrics.register(lookups.clone());
        Self {
            inner: Arc::new(Inner {
                redis,
                prefix: format!("{}:{NAME}:", config.key_prefix),
                stale_for: config.stale_for,
                flights: Mutex::new(HashMap::new()),
                bypass_until: AtomicU64::new(0),
                epoch: Instant::now(),
                lookups,
            }),
        }
    }

    /// The fresh cached value of `key`; else what `fetch` returns (stored for `ttl(&value)`);
    /// else, when `fetch` fails, the expired cached value if there is one.
    pub async fn get_or_fetch<T, L, F, Fut>(
        &self,
        key: &str,
        ttl: L,
        fetch: F,
    ) -> Result<Served<T>, UpstreamError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        L: FnOnce(&T) -> Duration + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, UpstreamError>> + Send + 'static,
    {
        let now = now_ms();
        let cached = match self.read::<T>(key).await {
            Some(entry) if entry.fresh_until > now => {
                self.count("hit");
                return Ok(Served {
                    origin: hit(&entry, now),
                    value: entry.value,
                });
            }
            other => other,
        };
        self.count(if cached.is_some() { "expired" } else { "miss" });
        let fetched = self
            .fly(key, ttl, fetch)
            .await
            .and_then(|(json, fresh_for)| {
                let entry = serde_json::from_str::<Entry<T>>(&json)
                    .map_err(|e| UpstreamError::BadResponse(format!("cache entry: {e}")))?;
                Ok(Served {
                    // Stored before this request began: another call's fill, found fresh.
                    origin: if entry.stored_at >= now {
                        Origin::Fetched { fresh_for }
                    } else {
                        hit(&entry, now)
                    },
                    value: entry.value,
                })
            });
        match fetched {
            Ok(served) => Ok(served),
            Err(error) => match cached {
                Some(stale) => {
                    self.count("stale_served");
                    tracing::warn!(%error, key, "catalogue provider failed; serving a stale copy");
                    Ok(Served {
                        origin: Origin::Stale {
                            age: millis_between(stale.stored_at, now),
                            expired_for: millis_between(stale.fresh_until, now),
                        },
                        value: stale.value,
                    })
                }
                None => Err(error),
            },
        }
    }

    /// Joins the upstream call for `key`, starting it if none is in flight.
    fn fly<T, L, F, Fut>(&self, key: &str, ttl: L, fetch: F) -> Flight
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        L: FnOnce(&T) -> Duration + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, UpstreamError>> + Send + 'static,
    {
        let mut flights = self
            .inner
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(flight) = flights.get(key) {
            return flight.clone();
        }
        let cache = self.clone();
        let owned_key = key.to_owned();
        let task = tokio::spawn(async move {
            // Leaves the map however the call ends (a panic included), so the key never
            // stays stuck on a finished flight.
            let _landed = Landed {
                cache: cache.clone(),
                key: owned_key.clone(),
            };
            cache.fetch_and_store(&owned_key, ttl, fetch).await
        });
        let flight = async move { task.await.unwrap_or(Err(UpstreamError::Interrupted)) }
            .boxed()
            .shared();
        flights.insert(key.to_owned(), flight.clone());
        flight
    }

    async fn fetch_and_store<T, L, F, Fut>(&self, key: &str, ttl: L, fetch: F) -> FlightResult
    where
        T: Serialize + DeserializeOwned,
        L: FnOnce(&T) -> Duration,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        // Filled by a call that finished between our miss and this flight's start? (An
        // entry of another shape, from an older version, is fetched again.)
        if let Some(json) = self.read_raw(key).await
            && let Ok(entry) = serde_json::from_str::<Entry<T>>(&json)
            && entry.fresh_until > now_ms()
        {
            let fresh_for = millis_between(now_ms(), entry.fresh_until);
            return Ok((json.into(), fresh_for));
        }
        let value = fetch().await?;
        let fresh_for = ttl(&value);
        let now = now_ms();
        let entry = Entry {
            stored_at: now,
            fresh_until: now + millis(fresh_for),
            value,
        };
        let json = serde_json::to_string(&entry)
            .map_err(|e| UpstreamError::BadResponse(format!("cache entry: {e}")))?;
        self.write(key, &json, fresh_for + self.inner.stale_for)
            .await;
        Ok((json.into(), fresh_for))
    }

    async fn read<T: DeserializeOwned>(&self, key: &str) -> Option<Entry<T>> {
        let json = self.read_raw(key).await?;
        // An entry of an older shape is as good as none.
        serde_json::from_str(&json).ok()
    }

    async fn read_raw(&self, key: &str) -> Option<String> {
        if self.bypassed() {
            self.count("bypassed");
            return None;
        }
        let mut redis = self.inner.redis.clone();
        match redis::cmd("GET")
            .arg(self.key(key))
            .query_async::<Option<String>>(&mut redis)
            .await
        {
            Ok(json) => json,
            Err(error) => {
                self.count("error");
                self.failed(&error);
                None
            }
        }
    }

    async fn write(&self, key: &str, json: &str, keep_for: Duration) {
        if self.bypassed() {
            return;
        }
        let mut redis = self.inner.redis.clone();
        let stored: redis::RedisResult<()> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(json)
            .arg("PX")
            .arg(millis(keep_for).max(1))
            .query_async(&mut redis)
            .await;
        if let Err(error) = stored {
            self.failed(&error);
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    fn count(&self, outcome: &str) {
        self.inner.lookups.with_label_values(&[NAME, outcome]).inc();
    }

    fn bypassed(&self) -> bool {
        self.since_epoch() < self.inner.bypass_until.load(Ordering::Relaxed)
    }

    fn failed(&self, error: &redis::RedisError) {
        tracing::debug!(%error, "TMDb cache unavailable; asking the provider");
        let until = self.since_epoch() + millis(BYPASS_AFTER_ERROR);
        self.inner.bypass_until.store(until, Ordering::Relaxed);
    }

    fn since_epoch(&self) -> u64 {
        millis(self.inner.epoch.elapsed())
    }
}

/// Removes a flight from the map when its task ends.
struct Landed {
    cache: ResponseCache,
    key: String,
}

impl Drop for Landed {
    fn drop(&mut self) {
        self.cache
            .inner
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.key);
    }
}

fn hit<T>(entry: &Entry<T>, now: u64) -> Origin {
    Origin::Hit {
        age: millis_between(entry.stored_at, now),
        fresh_for: millis_between(now, entry.fresh_until),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn millis_between(from: u64, to: u64) -> Duration {
    Duration::from_millis(to.saturating_sub(from))
}
