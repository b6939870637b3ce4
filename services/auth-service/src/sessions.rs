//! Sessions in Redis: what a login creates, refresh rotates and logout deletes.
//!
//! | key | value |
//! |---|---|
//! | `session:{sid}` ([`session_key`]) | JSON [`SessionRecord`], expiring after `AUTH_REFRESH_TTL` of disuse |
//! | `user_sessions:{user_id}` | set of the user's session ids (for listing and logout-all) |
//!
//! Every service checks `session:{sid}` exists before accepting an access token, so deleting
//! it ends the session everywhere. The refresh token is `base64url(sid ‖ 32 random bytes)`;
//! only the SHA-256 of the random part is stored.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use marquee_common::auth::session_key;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What is kept about a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// SHA-256 (base64url) of the current refresh token's secret.
    pub refresh_hash: String,
}

/// Where a new session comes from (shown in the session list).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// The user's set of session ids.
pub fn user_sessions_key(user_id: Uuid) -> String {
    format!("user_sessions:{user_id}")
}

/// Creates and reads sessions.
#[derive(Clone)]
pub struct SessionStore {
    redis: ConnectionManager,
    ttl: Duration,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SessionStore {
    pub fn new(redis: ConnectionManager, ttl: Duration) -> Self {
        Self { redis, ttl }
    }

    /// Opens a session for `user_id`; returns its id and refresh token.
    pub async fn create(
        &self,
        user_id: Uuid,
        origin: Origin,
    ) -> redis::RedisResult<(Uuid, String)> {
        let session_id = Uuid::now_v7();
        let secret: [u8; 32] = rand::random();
        let now = Utc::now();
        let record = SessionRecord {
            user_id,
            created_at: now,
            last_used_at: now,
            user_agent: origin.user_agent,
            ip: origin.ip,
            refresh_hash: hash_secret(&secret),
        };
        let json = serde_json::to_string(&record).unwrap_or_default();
        let ttl = self.ttl.as_secs().max(1);
        let mut redis = self.redis.clone();
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(session_key(session_id))
            .arg(json)
            .arg("EX")
            .arg(ttl)
            .ignore()
            .cmd("SADD")
            .arg(user_sessions_key(user_id))
            .arg(session_id.to_string())
            .ignore()
            .cmd("EXPIRE")
            .arg(user_sessions_key(user_id))
            .arg(ttl)
            .ignore()
            .query_async::<()>(&mut redis)
            .await?;
        Ok((session_id, refresh_token(session_id, &secret)))
    }
}

/// `base64url(sid ‖ secret)`.
fn refresh_token(session_id: Uuid, secret: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(48);
    bytes.extend_from_slice(session_id.as_bytes());
    bytes.extend_from_slice(secret);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_secret(secret: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_carry_the_session_id_and_a_secret_stored_only_as_a_hash() {
        let session = Uuid::now_v7();
        let secret: [u8; 32] = rand::random();
        let token = refresh_token(session, &secret);
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        assert_eq!(&bytes[..16], session.as_bytes());
        assert_ne!(hash_secret(&secret), URL_SAFE_NO_PAD.encode(secret));
    }
}
