//! Cache-aside in Redis with tag-based invalidation.
//!
//! Every entry is stored with a *stamp*: the versions of its tags (`user:{id}`, `users`, …) as
//! they were when the value was read from the database. Invalidating a tag increments its
//! version, so every entry carrying the tag goes stale at once, in O(1) whatever the number of
//! entries, and stale entries simply age out. Because the stamp is read *before* the database
//! is, a reader that loads an old row while a writer commits and invalidates cannot put the old
//! row back: its stamp is already out of date. (Plain delete-on-write cache-aside has exactly
//! that race.)
//!
//! ```ignore
//! let profile = cache
//!     .get_or_load(&format!("profile:{id}"), &[format!("user:{id}")], |freshness| async move {
//!         // `freshness` says whether a tag changed moments ago: read the primary then, since a
//!         // replica may not have the change yet.
//!         store::find(&mut conn, id).await
//!     })
//!     .await?;
//! // … after a change has committed:
//! cache.invalidate(&[format!("user:{id}"), "users".into()]).await;
//! ```
//!
//! Failure never reaches the caller: a lookup Redis cannot answer is a miss (the caller reads
//! the database), a failed fill is dropped, and for a second after a Redis error the cache is
//! bypassed instead of making every request wait for a dead server. A failed invalidation is
//! retried in the background for a few seconds; if Redis stays unreachable the entries of that
//! tag can be served until their TTL (`CACHE_TTL`) once it returns — counted in
//! `cache_invalidation_failures_total`, and the reason the TTL is short.
//!
//! Keys (on the cache's own Redis, `CACHE_REDIS_URL`; `cache` is `CACHE_KEY_PREFIX`):
//! `cache:{name}:e:{key}` (entry, with a TTL), `cache:{name}:t:{tag}` (tag version, no TTL)
//! and `cache:{name}:r:{tag}` (recently invalidated, `CACHE_RECENT_WINDOW`). Use the `volatile-lru` eviction policy so that memory
//! pressure evicts entries, never tag versions.
//!
//! Metrics: `cache_lookups_total{cache,outcome}` (`hit`, `miss`, `stale`, `error`, `bypassed`)
//! and `cache_invalidation_failures_total{cache}`.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use prometheus::{IntCounterVec, Opts};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    config::{ConfigError, Env},
    http::metrics::Metrics,
    redis::{RedisConfig, RedisConnection},
    retry::Backoff,
};

/// How long the cache is bypassed after Redis failed to answer.
const BYPASS_AFTER_ERROR: Duration = Duration::from_secs(1);
/// Background attempts at an invalidation whose first attempt failed.
const INVALIDATION_RETRIES: u32 = 5;

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// `CACHE_REDIS_URL` (default: `REDIS_URL`): a cache can live on its own Redis, with an
    /// eviction policy that sessions must never have.
    pub redis: RedisConfig,
    /// `CACHE_TTL` (default 5m): the longest an entry lives, which bounds how stale a value can
    /// be if an invalidation is lost while Redis is unreachable.
    pub ttl: Duration,
    /// `CACHE_RECENT_WINDOW` (default 5s): how long after an invalidation a miss reports
    /// [`Freshness::RecentlyChanged`]; set it above the replicas' worst replication lag
    /// (0 turns the marker off).
    pub recent_window: Duration,
    /// `CACHE_KEY_PREFIX` (default `cache`): the first part of every key, so deployments (or
    /// tests) sharing one Redis do not see each other's entries.
    pub key_prefix: String,
}

impl CacheConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            redis: RedisConfig::from_env_var(env, "CACHE_REDIS_URL")?,
            ttl: env.duration_or("CACHE_TTL", Duration::from_secs(300))?,
            recent_window: env.duration_or("CACHE_RECENT_WINDOW", Duration::from_secs(5))?,
            key_prefix: env.raw("CACHE_KEY_PREFIX").unwrap_or("cache").to_owned(),
        })
    }

    /// Settings for the Redis at `url` with the defaults above.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            redis: RedisConfig::for_url(url),
            ttl: Duration::from_secs(300),
            recent_window: Duration::from_secs(5),
            key_prefix: "cache".to_owned(),
        }
    }
}

/// Whether data just changed, as far as the cache knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// No tag of the entry was invalidated within `CACHE_RECENT_WINDOW` (or the cache could
    /// not tell): any copy of the database will do.
    Settled,
    /// A tag was invalidated moments ago: read the primary, a replica may lag behind.
    RecentlyChanged,
}

/// The result of [`TagCache::lookup`].
#[derive(Debug)]
pub enum Lookup<T> {
    Hit(T),
    Miss(Miss),
}

/// A miss, carrying what [`TagCache::fill`] needs to store the value loaded for it.
#[derive(Debug)]
pub struct Miss {
    key: String,
    /// The tag versions read with the miss; `None` when Redis did not answer (nothing is
    /// stored then).
    stamp: Option<Vec<i64>>,
    pub freshness: Freshness,
}

#[derive(Serialize)]
struct EntryOut<'a, T> {
    stamp: &'a [i64],
    value: &'a T,
}

#[derive(Deserialize)]
struct EntryIn<T> {
    stamp: Vec<i64>,
    value: T,
}

/// A named cache-aside cache with tags. Cheap to clone.
#[derive(Clone)]
pub struct TagCache {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    /// `{key_prefix}:{name}`, the start of every key.
    prefix: String,
    redis: RedisConnection,
    ttl: Duration,
    recent_window: Duration,
    /// Milliseconds since `epoch` until which Redis is not asked (after an error).
    bypass_until: AtomicU64,
    epoch: Instant,
    lookups: IntCounterVec,
    invalidation_failures: IntCounterVec,
}

impl std::fmt::Debug for TagCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TagCache")
            .field("name", &self.inner.name)
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl TagCache {
    /// A cache called `name` (the key prefix and the metrics label) on `redis`.
    pub fn new(
        name: &str,
        redis: RedisConnection,
        config: &CacheConfig,
        metrics: &Metrics,
    ) -> Self {
        let lookups = IntCounterVec::new(
            Opts::new("cache_lookups_total", "Cache lookups by outcome"),
            &["cache", "outcome"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        let invalidation_failures = IntCounterVec::new(
            Opts::new(
                "cache_invalidation_failures_total",
                "Invalidations given up after retries (entries may be stale until their TTL)",
            ),
            &["cache"],
        )
        .unwrap_or_else(|e| unreachable!("static metric: {e}"));
        metrics.register(lookups.clone());
        metrics.register(invalidation_failures.clone());
        Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                prefix: format!("{}:{name}", config.key_prefix),
                redis,
                ttl: config.ttl,
                recent_window: config.recent_window,
                bypass_until: AtomicU64::new(0),
                epoch: Instant::now(),
                lookups,
                invalidation_failures,
            }),
        }
    }

    /// The value cached under `key` if its stamp matches the current versions of `tags`.
    pub async fn lookup<T: DeserializeOwned>(&self, key: &str, tags: &[String]) -> Lookup<T> {
        let miss = |stamp, freshness| {
            Lookup::Miss(Miss {
                key: key.to_owned(),
                stamp,
                freshness,
            })
        };
        if self.bypassed() {
            self.count("bypassed");
            return miss(None, Freshness::Settled);
        }
        let mut keys = Vec::with_capacity(1 + 2 * tags.len());
        keys.push(self.entry_key(key));
        keys.extend(tags.iter().map(|t| self.tag_key(t)));
        keys.extend(tags.iter().map(|t| self.recent_key(t)));
        let mut redis = self.inner.redis.clone();
        let values: Vec<Option<String>> =
            match redis::cmd("MGET").arg(&keys).query_async(&mut redis).await {
                Ok(values) => values,
                Err(error) => {
                    self.failed(&error);
                    self.count("error");
                    return miss(None, Freshness::Settled);
                }
            };
        let (entry, rest) = values.split_first().unwrap_or((&None, &[]));
        let (versions, recent) = rest.split_at(tags.len().min(rest.len()));
        let stamp: Vec<i64> = versions
            .iter()
            .map(|v| v.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0))
            .collect();
        let freshness = if recent.iter().any(Option::is_some) {
            Freshness::RecentlyChanged
        } else {
            Freshness::Settled
        };
        let Some(entry) = entry else {
            self.count("miss");
            return miss(Some(stamp), freshness);
        };
        match serde_json::from_str::<EntryIn<T>>(entry) {
            Ok(entry) if entry.stamp == stamp => {
                self.count("hit");
                Lookup::Hit(entry.value)
            }
            // Stale, or written by an older shape of `T`: load it again.
            _ => {
                self.count("stale");
                miss(Some(stamp), freshness)
            }
        }
    }

    /// Stores `value` for a miss (with the stamp read at the miss, so a concurrent
    /// invalidation wins). Failures are logged and ignored.
    pub async fn fill<T: Serialize>(&self, miss: Miss, value: &T) {
        let Some(stamp) = miss.stamp else { return };
        let Ok(json) = serde_json::to_string(&EntryOut {
            stamp: &stamp,
            value,
        }) else {
            return;
        };
        let mut redis = self.inner.redis.clone();
        let stored: redis::RedisResult<()> = redis::cmd("SET")
            .arg(self.entry_key(&miss.key))
            .arg(json)
            .arg("PX")
            .arg(millis(self.inner.ttl))
            .query_async(&mut redis)
            .await;
        if let Err(error) = stored {
            self.failed(&error);
        }
    }

    /// Cache-aside: the cached value of `key`, or what `load` finds (stored for next time).
    /// `load` learns whether the data changed moments ago. `None` (not found) is not cached.
    pub async fn get_or_load<T, E, F, Fut>(
        &self,
        key: &str,
        tags: &[String],
        load: F,
    ) -> Result<Option<T>, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Freshness) -> Fut,
        Fut: Future<Output = Result<Option<T>, E>>,
    {
        match self.lookup(key, tags).await {
            Lookup::Hit(value) => Ok(Some(value)),
            Lookup::Miss(miss) => {
                let loaded = load(miss.freshness).await?;
                if let Some(value) = &loaded {
                    self.fill(miss, value).await;
                }
                Ok(loaded)
            }
        }
    }

    /// Makes every entry carrying one of `tags` stale and marks the tags recently changed.
    /// Call it after the change has committed. One attempt inline (so the caller's next read
    /// sees the change); on failure, retries continue in the background.
    pub async fn invalidate(&self, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        let Err(error) = self.try_invalidate(tags).await else {
            return;
        };
        self.failed(&error);
        tracing::warn!(%error, ?tags, cache = %self.inner.name, "cache invalidation failed; retrying in the background");
        let cache = self.clone();
        let tags = tags.to_vec();
        tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
            for _ in 0..INVALIDATION_RETRIES {
                tokio::time::sleep(backoff.next_delay()).await;
                if cache.try_invalidate(&tags).await.is_ok() {
                    return;
                }
            }
            cache
                .inner
                .invalidation_failures
                .with_label_values(&[&cache.inner.name])
                .inc();
            tracing::error!(?tags, cache = %cache.inner.name, ttl = ?cache.inner.ttl,
                "cache invalidation given up; entries may be stale until their TTL");
        });
    }

    async fn try_invalidate(&self, tags: &[String]) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for tag in tags {
            pipe.incr(self.tag_key(tag), 1).ignore();
            if !self.inner.recent_window.is_zero() {
                pipe.cmd("SET")
                    .arg(self.recent_key(tag))
                    .arg(1)
                    .arg("PX")
                    .arg(millis(self.inner.recent_window))
                    .ignore();
            }
        }
        let mut redis = self.inner.redis.clone();
        pipe.query_async(&mut redis).await
    }

    fn entry_key(&self, key: &str) -> String {
        format!("{}:e:{key}", self.inner.prefix)
    }

    fn tag_key(&self, tag: &str) -> String {
        format!("{}:t:{tag}", self.inner.prefix)
    }

    fn recent_key(&self, tag: &str) -> String {
        format!("{}:r:{tag}", self.inner.prefix)
    }

    fn count(&self, outcome: &str) {
        self.inner
            .lookups
            .with_label_values(&[self.inner.name.as_str(), outcome])
            .inc();
    }

    fn bypassed(&self) -> bool {
        self.now_ms() < self.inner.bypass_until.load(Ordering::Relaxed)
    }

    fn failed(&self, error: &redis::RedisError) {
        tracing::debug!(%error, cache = %self.inner.name, "cache unavailable; reading the database");
        let until = self.now_ms() + millis(BYPASS_AFTER_ERROR);
        self.inner.bypass_until.store(until, Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        millis(self.inner.epoch.elapsed())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
