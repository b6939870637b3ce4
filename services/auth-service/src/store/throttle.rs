//! Per-account brute-force protection, in Redis.
//!
//! Attempts are counted per e-mail address — whether or not an account has it, so the lock
//! itself never tells an attacker which addresses exist. Each attempt is counted *before* its
//! password is checked ([`LoginThrottle::begin`], one atomic script), and only a success
//! takes it back ([`LoginThrottle::clear`]) — or an attempt that ended before its password was
//! checked ([`LoginThrottle::abandon`]: shed by the hashing pool, database away): many
//! guesses fired in parallel cannot all slip in before the first of them is recorded. From the [`LockoutPolicy::threshold`]-th
//! consecutive unsuccessful attempt on, each attempt locks the address for the next step of
//! [`LockoutPolicy::schedule`] (1 s, 3 s, 5 s, 10 s, then doubling up to 15 min). While locked,
//! every attempt — right password or not — is answered 429 with `Retry-After`, without
//! checking the password. The count is forgotten a day after the last attempt.
//!
//! | key | value |
//! |---|---|
//! | `login_failures:{sha256(email)}` | consecutive failures (expires 24 h after the last) |
//! | `login_lock:{sha256(email)}` | present while locked (expires with the lock) |

use std::{sync::LazyLock, time::Duration};

use marquee_common::redis::RedisConnection;
use redis::{RedisResult, Script};
use sha2::{Digest, Sha256};

use crate::domain::Email;

/// When and for how long an address is locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures before the first lock (`AUTH_LOCKOUT_THRESHOLD`, default 5).
    pub threshold: u32,
    /// Lock durations for the threshold-th failure and each one after it; the last repeats.
    pub schedule: Vec<Duration>,
}

/// The longest lock.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

impl LockoutPolicy {
    /// 1 s, 3 s, 5 s, 10 s, then doubling up to [`MAX_LOCK`], from the `threshold`-th failure.
    pub fn progressive(threshold: u32) -> Self {
        let mut schedule: Vec<Duration> = [1, 3, 5, 10].map(Duration::from_secs).to_vec();
        let mut next = Duration::from_secs(20);
        while next < MAX_LOCK {
            schedule.push(next);
            next *= 2;
        }
        schedule.push(MAX_LOCK);
        Self {
            threshold,
            schedule,
        }
    }

    /// The lock after `failures` consecutive failures (zero below the threshold).
    pub fn lock_after(&self, failures: u32) -> Duration {
        let Some(step) = failures.checked_sub(self.threshold) else {
            return Duration::ZERO;
        };
        let step = (step as usize).min(self.schedule.len().saturating_sub(1));
        self.schedule.get(step).copied().unwrap_or(Duration::ZERO)
    }
}

/// KEYS: failures, lock. ARGV: memory (s), threshold, schedule (ms)… Returns the ms the
/// address stays locked (refused), or 0 (the attempt is counted and may proceed).
static BEGIN: LazyLock<Script> = LazyLock::new(|| Script::new(BEGIN_LUA));
const BEGIN_LUA: &str = r"
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then return locked end
local failures = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
local threshold = tonumber(ARGV[2])
if failures >= threshold then
  local step = math.min(failures - threshold + 1, #ARGV - 2)
  redis.call('SET', KEYS[2], '1', 'PX', tonumber(ARGV[step + 2]))
end
return 0
";

/// KEYS: failures, lock. ARGV: threshold. Takes back one counted attempt; when that brings
/// the count below the threshold, the lock it set goes too. Returns the count left.
static ABANDON: LazyLock<Script> = LazyLock::new(|| Script::new(ABANDON_LUA));
const ABANDON_LUA: &str = r"
local failures = tonumber(redis.call('GET', KEYS[1]) or '0')
if failures > 0 then failures = redis.call('DECR', KEYS[1]) end
if failures < tonumber(ARGV[1]) then redis.call('DEL', KEYS[2]) end
return failures
";

/// How long unsuccessful attempts are remembered.
const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// The per-address lock.
#[derive(Clone)]
pub struct LoginThrottle {
    redis: RedisConnection,
    policy: LockoutPolicy,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl LoginThrottle {
    pub fn new(redis: RedisConnection, policy: LockoutPolicy) -> Self {
        Self { redis, policy }
    }

    /// Starts an attempt for `email`: refused with the remaining lock (`Some`) or counted as
    /// a failure until [`LoginThrottle::clear`] takes it back (`None`).
    pub async fn begin(&self, email: &Email) -> RedisResult<Option<Duration>> {
        let (failures, lock) = keys(email);
        let mut invocation = BEGIN.prepare_invoke();
        invocation
            .key(failures)
            .key(lock)
            .arg(FAILURE_MEMORY.as_secs())
            .arg(self.policy.threshold);
        for step in &self.policy.schedule {
            invocation.arg(step.as_millis() as u64);
        }
        let locked_ms: u64 = invocation.invoke_async(&mut self.redis.clone()).await?;
        Ok((locked_ms > 0).then(|| Duration::from_millis(locked_ms)))
    }

    /// An attempt that ended before its password was checked (the hashing pool shed it, the
    /// database was away): it is not counted. Nothing was learnt about the password, so
    /// taking it back gives a guesser nothing, while counting it would lock out people whose
    /// sign-ins a storm merely turned away.
    pub async fn abandon(&self, email: &Email) -> RedisResult<()> {
        let (failures, lock) = keys(email);
        let _left: i64 = ABANDON
            .key(failures)
            .key(lock)
            .arg(self.policy.threshold)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(())
    }

    /// A success: the count starts over.
    pub async fn clear(&self, email: &Email) -> RedisResult<()> {
        let (failures, lock) = keys(email);
        redis::cmd("DEL")
            .arg(failures)
            .arg(lock)
            .query_async(&mut self.redis.clone())
            .await
    }
}

fn keys(email: &Email) -> (String, String) {
    let digest = Sha256::digest(email.as_str().as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    (format!("login_failures:{hex}"), format!("login_lock:{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_from_the_threshold_and_stop_at_fifteen_minutes() {
        let policy = LockoutPolicy::progressive(5);
        let secs = |n| policy.lock_after(n).as_secs();
        assert_eq!([secs(0), secs(4)], [0, 0]);
        assert_eq!(
            [secs(5), secs(6), secs(7), secs(8), secs(9)],
            [1, 3, 5, 10, 20]
        );
        assert_eq!(secs(100), 900);
        assert!(policy.schedule.windows(2).all(|w| w[0] < w[1]));
    }
}
