//! Rate limits kept in Redis, so every replica shares one budget per key (DESIGN §4).
//!
//! A [`RateLimiter`] applies one of two [`Strategy`]s to a [`Quota`] of `burst` and
//! `per_minute`:
//! - **token bucket**: `burst` tokens, refilled at `per_minute` a minute; each request takes
//!   one or is refused. Bursts pass at once, then the rate holds.
//! - **leaky bucket** (as a queue): requests leak out at `per_minute` evenly spaced; up to
//!   `burst` may wait their turn, and the [`Decision`] says how long
//!   ([`delay`](Decision::delay)) the caller holds the request before passing it on. A full
//!   queue is refused. Bursts are smoothed instead of passed through, which protects an
//!   upstream that suffers from spikes (bcrypt logins).
//!
//! Each check is one atomic Lua script that reads Redis' own clock (`TIME`), so replicas
//! with skewed clocks agree. A refusal's [`problem`](Decision::problem) is a 429 with
//! `Retry-After` and the `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset`
//! headers.
//!
//! When Redis cannot be reached the limiter does what [`FailMode`] says: let the request
//! through (`RATE_LIMIT_FAIL_OPEN=true`: availability first) or refuse it with a 503
//! (`false`: protection first).

use std::{sync::LazyLock, time::Duration};

use actix_web::http::header::{HeaderName, HeaderValue};
use redis::Script;

use crate::{
    config::{ConfigError, Env, in_range},
    http::Problem,
    redis::RedisConnection,
};

/// What to do when Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Allow the request (and log): limits lapse while Redis is down.
    Open,
    /// Refuse the request with 503: nothing passes unchecked.
    Closed,
}

impl FailMode {
    /// `RATE_LIMIT_FAIL_OPEN` (`true` or `false`), `default` when unset.
    pub fn from_env(env: &Env, default: FailMode) -> Result<Self, ConfigError> {
        let open = env.flag_or("RATE_LIMIT_FAIL_OPEN", default == FailMode::Open)?;
        Ok(if open { Self::Open } else { Self::Closed })
    }
}

/// How a [`RateLimiter`] spends its quota (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Bursts pass at once up to `burst`; then `per_minute`.
    TokenBucket,
    /// Requests are spaced evenly at `per_minute`; up to `burst` wait their turn.
    LeakyBucket,
}

impl std::str::FromStr for Strategy {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "token_bucket" => Ok(Self::TokenBucket),
            "leaky_bucket" => Ok(Self::LeakyBucket),
            _ => Err(ConfigError::new(
                "strategy",
                "must be `token_bucket` or `leaky_bucket`",
            )),
        }
    }
}

impl Strategy {
    /// `name` (`token_bucket` or `leaky_bucket`), `default` when unset.
    pub fn from_env(env: &Env, name: &str, default: Strategy) -> Result<Self, ConfigError> {
        match env.raw(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|e: ConfigError| ConfigError::new(name, e.problem)),
        }
    }
}

/// A bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed in a burst (the bucket's size).
    pub burst: u32,
    /// Tokens added per minute.
    pub per_minute: u32,
}

impl Quota {
    /// Reads `<prefix>_BURST` and `<prefix>_PER_MINUTE`, with defaults.
    pub fn from_env(env: &Env, prefix: &str, default: Quota) -> Result<Self, ConfigError> {
        let burst_var = format!("{prefix}_BURST");
        let rate_var = format!("{prefix}_PER_MINUTE");
        Ok(Self {
            burst: in_range(
                &burst_var,
                env.or(&burst_var, default.burst)?,
                1..=1_000_000,
            )?,
            per_minute: in_range(
                &rate_var,
                env.or(&rate_var, default.per_minute)?,
                1..=60_000_000,
            )?,
        })
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The bucket's size (`RateLimit-Limit`).
    pub limit: u32,
    /// Whole tokens left after this request (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Until the bucket is full again (`RateLimit-Reset`).
    pub reset: Duration,
    /// Until one more request would pass; zero when this one did.
    pub retry_after: Duration,
    /// How long to hold an allowed request before passing it on (leaky bucket: its turn in
    /// the queue); zero for a token bucket.
    pub delay: Duration,
}

impl Decision {
    /// The `RateLimit-*` headers describing this decision.
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        [
            (
                HeaderName::from_static("ratelimit-limit"),
                HeaderValue::from(self.limit),
            ),
            (
                HeaderName::from_static("ratelimit-remaining"),
                HeaderValue::from(self.remaining),
            ),
            (
                HeaderName::from_static("ratelimit-reset"),
                HeaderValue::from(ceil_seconds(self.reset)),
            ),
        ]
    }

    /// 429 with `Retry-After` and the `RateLimit-*` headers.
    pub fn problem(&self) -> Problem {
        self.headers().into_iter().fold(
            Problem::too_many_requests(self.retry_after)
                .with_detail("too many requests from this client; retry later"),
            |problem, (name, value)| problem.with_header(name, value),
        )
    }
}

/// Why a check could not be made (Redis unreachable, fail-closed).
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct RateLimitUnavailable(#[from] redis::RedisError);

impl RateLimitUnavailable {
    /// 503 with `Retry-After`.
    pub fn problem(&self) -> Problem {
        tracing::warn!(error = %self.0, "rate limiter unavailable; refusing (fail-closed)");
        Problem::unavailable("rate_limiter_unavailable", Duration::from_secs(1))
    }
}

/// A limiter over Redis (module docs); cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    redis: RedisConnection,
    /// Prefix of the bucket keys (`ratelimit:<name>:`), so limiters never share buckets.
    prefix: String,
    quota: Quota,
    strategy: Strategy,
    fail_mode: FailMode,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("prefix", &self.prefix)
            .field("quota", &self.quota)
            .field("strategy", &self.strategy)
            .field("fail_mode", &self.fail_mode)
            .finish_non_exhaustive()
    }
}

/// KEYS[1] = bucket; ARGV = burst, tokens per millisecond. Returns {allowed, remaining
/// tokens, ms until the next token is due (if refused), ms until full}.
static TOKEN_BUCKET: LazyLock<Script> = LazyLock::new(|| Script::new(TOKEN_BUCKET_LUA));
const TOKEN_BUCKET_LUA: &str = r"
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
local full = math.ceil((burst - tokens) / rate)
redis.call('PEXPIRE', KEYS[1], full + 1000)
return {allowed, math.floor(tokens), wait, full}
";

/// KEYS[1] = queue (the time its last request leaks out); ARGV = capacity, milliseconds
/// between two requests. Returns {allowed, free places left, ms to wait (the delay if
/// allowed, until a place frees if refused), ms until the queue is empty}.
static LEAKY_BUCKET: LazyLock<Script> = LazyLock::new(|| Script::new(LEAKY_BUCKET_LUA));
const LEAKY_BUCKET_LUA: &str = r"
local capacity = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local free = tonumber(redis.call('GET', KEYS[1])) or now
if free < now then
  free = now
end
local ahead = math.ceil((free - now) / interval)
if ahead >= capacity then
  local wait = math.ceil(free - now - (capacity - 1) * interval)
  return {0, 0, wait, math.ceil(free - now)}
end
local delay = math.ceil(free - now)
free = free + interval
redis.call('SET', KEYS[1], tostring(free), 'PX', math.ceil(free - now) + 1000)
return {1, capacity - ahead - 1, delay, math.ceil(free - now)}
";

impl RateLimiter {
    /// A token-bucket limiter named `name` (part of its keys) with `quota` per key.
    pub fn new(redis: RedisConnection, name: &str, quota: Quota, fail_mode: FailMode) -> Self {
        Self::with_strategy(redis, name, quota, Strategy::TokenBucket, fail_mode)
    }

    /// A limiter named `name` spending `quota` per key the way `strategy` says.
    pub fn with_strategy(
        redis: RedisConnection,
        name: &str,
        quota: Quota,
        strategy: Strategy,
        fail_mode: FailMode,
    ) -> Self {
        Self {
            redis,
            prefix: format!("ratelimit:{name}:"),
            quota,
            strategy,
            fail_mode,
        }
    }

    /// Counts one request against `key`'s bucket (a client IP, a user id…).
    pub async fn check(&self, key: &str) -> Result<Decision, RateLimitUnavailable> {
        let (script, key, rate) = match self.strategy {
            Strategy::TokenBucket => (
                &*TOKEN_BUCKET,
                format!("{}{key}", self.prefix),
                // Tokens per millisecond.
                f64::from(self.quota.per_minute) / 60_000.0,
            ),
            Strategy::LeakyBucket => (
                &*LEAKY_BUCKET,
                format!("{}lq:{key}", self.prefix),
                // Milliseconds between two requests.
                60_000.0 / f64::from(self.quota.per_minute),
            ),
        };
        let mut invocation = script.prepare_invoke();
        invocation.key(key).arg(self.quota.burst).arg(rate);
        // A limit is advisory: a hung Redis may cost a request one attempt's timeout, not
        // the connection's whole retry budget, before the fail mode decides.
        let mut redis = self.redis.clone();
        let budget = redis.attempt_timeout();
        let result: redis::RedisResult<(u8, u32, u64, u64)> =
            match tokio::time::timeout(budget, invocation.invoke_async(&mut redis)).await {
                Ok(result) => result,
                Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "rate limit check timed out",
                ))),
            };
        match result {
            Ok((allowed, remaining, wait_ms, full_ms)) => {
                let allowed = allowed == 1;
                let wait = Duration::from_millis(wait_ms);
                Ok(Decision {
                    allowed,
                    limit: self.quota.burst,
                    remaining,
                    reset: Duration::from_millis(full_ms),
                    retry_after: if allowed { Duration::ZERO } else { wait },
                    delay: if allowed { wait } else { Duration::ZERO },
                })
            }
            Err(error) if self.fail_mode == FailMode::Open => {
                tracing::warn!(%error, "rate limiter unavailable; allowing (fail-open)");
                Ok(Decision {
                    allowed: true,
                    limit: self.quota.burst,
                    remaining: self.quota.burst,
                    reset: Duration::ZERO,
                    retry_after: Duration::ZERO,
                    delay: Duration::ZERO,
                })
            }
            Err(error) => Err(RateLimitUnavailable(error)),
        }
    }

    /// Checks `key` and turns a refusal into its problem (429, or 503 when fail-closed and
    /// Redis is down): `limiter.enforce(&ip).await?` in a handler.
    pub async fn enforce(&self, key: &str) -> Result<Decision, Problem> {
        match self.check(key).await {
            Ok(decision) if decision.allowed => Ok(decision),
            Ok(decision) => Err(decision.problem()),
            Err(unavailable) => Err(unavailable.problem()),
        }
    }
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::{RedisConfig, connect};

    fn redis() -> RedisConnection {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        connect(&RedisConfig::for_url(url)).unwrap()
    }

    fn name() -> String {
        format!("test-{}", uuid::Uuid::now_v7())
    }

    #[tokio::test]
    async fn a_bucket_allows_its_burst_then_refuses_with_the_wait() {
        let quota = Quota {
            burst: 3,
            per_minute: 60,
        };
        let limiter = RateLimiter::new(redis(), &name(), quota, FailMode::Closed);
        for left in [2, 1, 0] {
            let decision = limiter.check("10.0.0.1").await.unwrap();
            assert!(decision.allowed);
            assert_eq!(decision.remaining, left);
        }
        let refused = limiter.check("10.0.0.1").await.unwrap();
        assert!(!refused.allowed);
        // One token a second: the next is due within a second.
        assert!(refused.retry_after > Duration::ZERO);
        assert!(refused.retry_after <= Duration::from_secs(1));
        let problem = refused.problem();
        assert_eq!(problem.status().as_u16(), 429);
        // Other keys have their own bucket.
        assert!(limiter.check("10.0.0.2").await.unwrap().allowed);
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_open_or_closed_as_configured() {
        // Nothing listens on port 1.
        let down = connect(&RedisConfig::for_url("redis://127.0.0.1:1")).unwrap();
        let quota = Quota {
            burst: 1,
            per_minute: 1,
        };
        let open = RateLimiter::new(down.clone(), "down", quota, FailMode::Open);
        assert!(open.check("k").await.unwrap().allowed);
        let closed = RateLimiter::new(down, "down", quota, FailMode::Closed);
        let problem = closed.enforce("k").await.unwrap_err();
        assert_eq!(problem.status().as_u16(), 503);
    }

    #[tokio::test]
    async fn a_leaky_bucket_spaces_requests_and_refuses_a_full_queue() {
        // One request every 100 ms; two may wait.
        let quota = Quota {
            burst: 3,
            per_minute: 600,
        };
        let limiter = RateLimiter::with_strategy(
            redis(),
            &name(),
            quota,
            Strategy::LeakyBucket,
            FailMode::Closed,
        );
        let first = limiter.check("ip").await.unwrap();
        assert!(first.allowed);
        assert_eq!(first.delay, Duration::ZERO);
        let second = limiter.check("ip").await.unwrap();
        assert!(second.allowed);
        assert!(second.delay > Duration::from_millis(50), "{second:?}");
        let third = limiter.check("ip").await.unwrap();
        assert!(third.allowed);
        assert!(third.delay > second.delay, "{third:?}");
        assert_eq!(third.remaining, 0);
        let refused = limiter.check("ip").await.unwrap();
        assert!(!refused.allowed);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(refused.retry_after <= Duration::from_millis(100));
        assert_eq!(refused.problem().status().as_u16(), 429);
    }

    #[test]
    fn fail_mode_and_strategy_are_read_from_the_environment() {
        let env = Env::from_pairs([("RATE_LIMIT_FAIL_OPEN", "true")]);
        assert_eq!(
            FailMode::from_env(&env, FailMode::Closed).unwrap(),
            FailMode::Open
        );
        let env = Env::from_pairs([("RATE_LIMIT_FAIL_OPEN", "sometimes")]);
        let error = FailMode::from_env(&env, FailMode::Closed).unwrap_err();
        assert!(error.to_string().contains("RATE_LIMIT_FAIL_OPEN"));
        let env = Env::from_pairs([("S", "leaky_bucket")]);
        assert_eq!(
            Strategy::from_env(&env, "S", Strategy::TokenBucket).unwrap(),
            Strategy::LeakyBucket
        );
        let env = Env::from_pairs([("S", "fifo")]);
        assert_eq!(
            Strategy::from_env(&env, "S", Strategy::TokenBucket)
                .unwrap_err()
                .variable,
            "S"
        );
    }
}
