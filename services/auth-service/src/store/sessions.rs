//! Sessions in Redis: what a login creates, refresh rotates and logout deletes.
//!
//! | key | value |
//! |---|---|
//! | `session:{sid}` ([`session_key`]) | hash, below; expires after `AUTH_REFRESH_TTL` without a refresh |
//! | `user_sessions:{user_id}` | set of the user's session ids (listing, logout-all) |
//!
//! The session hash holds `user_id`, `created_at`, `last_used_at` (login or last refresh),
//! `user_agent`, `ip`, and the refresh-token state:
//!
//! - `refresh_hash`: SHA-256 of the current refresh token's secret (never the token);
//! - `previous_hashes`: the hashes of the last [`REMEMBERED_ROTATIONS`] rotated tokens,
//!   newest first: presenting one of them is reuse;
//! - `rotated_at_ms` and `successor`: when the newest rotation happened and its new secret,
//!   *sealed* with the old one (XOR with a hash of it). Within the grace window a client that
//!   presents the just-rotated token gets that same successor back (two tabs refreshing at
//!   once both succeed), and only a holder of the old token can unseal it, so Redis still
//!   holds nothing that works as a token.
//!
//! Every service checks `session:{sid}` exists before accepting an access token, so deleting
//! it ends the session everywhere. A refresh token is `base64url(sid ‖ 32 random bytes)`.
//! Rotation, reuse detection and revocation on reuse are one Lua script: two concurrent
//! refreshes cannot both rotate.

use std::{sync::LazyLock, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use marquee_common::{auth::session_key, redis::RedisConnection};
use redis::{RedisResult, Script};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How many rotated tokens per session are recognised as reuse.
pub const REMEMBERED_ROTATIONS: usize = 8;

/// A session as the owner sees it in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Where a new session comes from (shown in the session list).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// A refresh token, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub session_id: Uuid,
    secret: [u8; 32],
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl RefreshToken {
    fn new(session_id: Uuid) -> Self {
        Self {
            session_id,
            secret: rand::random(),
        }
    }

    /// `None` for anything that is not `base64url(16 + 32 bytes)`.
    pub fn parse(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        let (session, secret) = bytes.split_at_checked(16)?;
        Some(Self {
            session_id: Uuid::from_slice(session).ok()?,
            secret: secret.try_into().ok()?,
        })
    }

    /// The token as given to the client.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(48);
        bytes.extend_from_slice(self.session_id.as_bytes());
        bytes.extend_from_slice(&self.secret);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// What Redis keeps to recognise the token.
    fn hash(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.secret))
    }

    /// `successor`'s secret, readable only with this token's secret.
    fn seal(&self, successor: &RefreshToken) -> String {
        URL_SAFE_NO_PAD.encode(xor(&successor.secret, &self.sealing_key()))
    }

    fn unseal(&self, sealed: &str) -> Option<RefreshToken> {
        let sealed: [u8; 32] = URL_SAFE_NO_PAD.decode(sealed).ok()?.try_into().ok()?;
        Some(RefreshToken {
            session_id: self.session_id,
            secret: xor(&sealed, &self.sealing_key()),
        })
    }

    fn sealing_key(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(b"marquee refresh successor\0");
        hash.update(self.secret);
        hash.finalize().into()
    }
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Rotation {
    /// It was the current token: here is its successor, and it no longer works.
    Rotated(RefreshToken),
    /// It was rotated moments ago (within the grace window): the same successor again.
    Replayed(RefreshToken),
    /// It was rotated earlier: someone kept a copy. The session has been deleted.
    Reused,
    /// No such session, or a token this session never issued.
    Invalid,
}

/// The user's set of session ids.
pub fn user_sessions_key(user_id: Uuid) -> String {
    format!("user_sessions:{user_id}")
}

/// KEYS: session, user's set. ARGV: presented hash, successor hash, sealed successor, grace
/// ms, ttl s, now (RFC 3339), session id, remembered rotations.
static ROTATE: LazyLock<Script> = LazyLock::new(|| Script::new(ROTATE_LUA));
const ROTATE_LUA: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'refresh_hash', 'previous_hashes', 'rotated_at_ms', 'successor')
if not s[1] then return {'invalid'} end
local previous = s[2] or ''
if s[1] == ARGV[1] then
  local kept = {ARGV[1]}
  for h in string.gmatch(previous, '%S+') do
    if #kept >= tonumber(ARGV[8]) then break end
    table.insert(kept, h)
  end
  redis.call('HSET', KEYS[1], 'refresh_hash', ARGV[2], 'previous_hashes', table.concat(kept, ' '),
    'rotated_at_ms', now, 'successor', ARGV[3], 'last_used_at', ARGV[6])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  return {'rotated'}
end
local newest = string.match(previous, '^(%S+)')
if newest == ARGV[1] and now - tonumber(s[3] or '0') < tonumber(ARGV[4]) then
  return {'replayed', s[4]}
end
for h in string.gmatch(previous, '%S+') do
  if h == ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('SREM', KEYS[2], ARGV[7])
    return {'reused'}
  end
end
return {'invalid'}
";

/// Creates, rotates, lists and deletes sessions.
#[derive(Clone)]
pub struct SessionStore {
    redis: RedisConnection,
    /// A session unused (not refreshed) this long expires.
    ttl: Duration,
    /// How long a just-rotated token still yields its successor.
    grace: Duration,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("ttl", &self.ttl)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

const FIELDS: [&str; 5] = ["user_id", "created_at", "last_used_at", "user_agent", "ip"];

impl SessionStore {
    pub fn new(redis: RedisConnection, ttl: Duration, grace: Duration) -> Self {
        Self { redis, ttl, grace }
    }

    fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs().max(1)
    }

    /// Opens a session for `user_id`; returns its refresh token (which names the session).
    pub async fn create(&self, user_id: Uuid, origin: Origin) -> RedisResult<RefreshToken> {
        let token = RefreshToken::new(Uuid::now_v7());
        let now = rfc3339(Utc::now());
        let ttl = self.ttl_secs();
        let key = session_key(token.session_id);
        redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("user_id", user_id.to_string()),
                    ("created_at", now.clone()),
                    ("last_used_at", now),
                    ("user_agent", origin.user_agent.unwrap_or_default()),
                    ("ip", origin.ip.unwrap_or_default()),
                    ("refresh_hash", token.hash()),
                ],
            )
            .ignore()
            .expire(&key, ttl as i64)
            .ignore()
            .sadd(user_sessions_key(user_id), token.session_id.to_string())
            .ignore()
            .expire(user_sessions_key(user_id), ttl as i64)
            .ignore()
            .query_async::<()>(&mut self.redis.clone())
            .await?;
        Ok(token)
    }

    /// The user a session belongs to, if it still exists.
    pub async fn owner(&self, session_id: Uuid) -> RedisResult<Option<Uuid>> {
        let user: Option<String> = redis::cmd("HGET")
            .arg(session_key(session_id))
            .arg("user_id")
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(user.and_then(|u| u.parse().ok()))
    }

    /// Presents `token` of `user_id`'s session: rotates it, replays the successor within
    /// the grace window, or detects reuse (and deletes the session). See the module docs.
    pub async fn rotate(&self, user_id: Uuid, token: &RefreshToken) -> RedisResult<Rotation> {
        let successor = RefreshToken::new(token.session_id);
        let answer: Vec<String> = ROTATE
            .key(session_key(token.session_id))
            .key(user_sessions_key(user_id))
            .arg(token.hash())
            .arg(successor.hash())
            .arg(token.seal(&successor))
            .arg(self.grace.as_millis() as u64)
            .arg(self.ttl_secs())
            .arg(rfc3339(Utc::now()))
            .arg(token.session_id.to_string())
            .arg(REMEMBERED_ROTATIONS)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(match answer.as_slice() {
            [outcome] if outcome == "rotated" => Rotation::Rotated(successor),
            [outcome, sealed] if outcome == "replayed" => token
                .unseal(sealed)
                .map_or(Rotation::Invalid, Rotation::Replayed),
            [outcome] if outcome == "reused" => Rotation::Reused,
            _ => Rotation::Invalid,
        })
    }

    /// The ids of `user_id`'s sessions (some may have just expired).
    pub async fn ids(&self, user_id: Uuid) -> RedisResult<Vec<Uuid>> {
        let ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(user_sessions_key(user_id))
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
    }

    /// `user_id`'s live sessions, newest first; forgets the ids of expired ones.
    pub async fn list(&self, user_id: Uuid) -> RedisResult<Vec<Session>> {
        let ids = self.ids(user_id).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET").arg(session_key(*id)).arg(&FIELDS[..]);
        }
        let rows: Vec<[Option<String>; 5]> = pipe.query_async(&mut self.redis.clone()).await?;
        let mut sessions = Vec::with_capacity(ids.len());
        let mut expired = Vec::new();
        for (id, [owner, created_at, last_used_at, user_agent, ip]) in ids.into_iter().zip(rows) {
            let session = (|| {
                // A session id in another user's set is ignored (it cannot happen by design).
                owner.filter(|o| *o == user_id.to_string())?;
                Some(Session {
                    id,
                    created_at: created_at?.parse().ok()?,
                    last_used_at: last_used_at?.parse().ok()?,
                    user_agent: user_agent.filter(|s| !s.is_empty()),
                    ip: ip.filter(|s| !s.is_empty()),
                })
            })();
            match session {
                Some(session) => sessions.push(session),
                None => expired.push(id.to_string()),
            }
        }
        if !expired.is_empty() {
            redis::cmd("SREM")
                .arg(user_sessions_key(user_id))
                .arg(expired)
                .query_async::<()>(&mut self.redis.clone())
                .await?;
        }
        // Ids are UUIDv7: creation order, with no ties.
        sessions.sort_by_key(|s| std::cmp::Reverse(s.id));
        Ok(sessions)
    }

    /// Deletes `session_ids` of `user_id`. Deleting a session that is already gone is fine.
    pub async fn delete(&self, user_id: Uuid, session_ids: &[Uuid]) -> RedisResult<()> {
        if session_ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in session_ids {
            pipe.del(session_key(*id)).ignore();
            pipe.srem(user_sessions_key(user_id), id.to_string())
                .ignore();
        }
        pipe.query_async::<()>(&mut self.redis.clone()).await
    }
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_round_trip_and_reject_anything_else() {
        let token = RefreshToken::new(Uuid::now_v7());
        let parsed = RefreshToken::parse(&token.encode()).unwrap();
        assert_eq!(parsed, token);
        assert!(RefreshToken::parse("").is_none());
        assert!(RefreshToken::parse("not base64!").is_none());
        assert!(RefreshToken::parse(&URL_SAFE_NO_PAD.encode([0u8; 47])).is_none());
        assert!(RefreshToken::parse(&URL_SAFE_NO_PAD.encode([0u8; 49])).is_none());
    }

    #[test]
    fn only_the_secret_hash_is_stored_and_the_successor_only_opens_with_the_old_secret() {
        let old = RefreshToken::new(Uuid::now_v7());
        let successor = RefreshToken::new(old.session_id);
        assert_ne!(old.hash(), URL_SAFE_NO_PAD.encode(old.secret));
        let sealed = old.seal(&successor);
        assert_ne!(sealed, URL_SAFE_NO_PAD.encode(successor.secret));
        assert_eq!(old.unseal(&sealed).unwrap(), successor);
        let stranger = RefreshToken::new(old.session_id);
        assert_ne!(stranger.unseal(&sealed).unwrap(), successor);
    }
}
