//! Who is in a room right now, in Redis, shared by every instance.
//!
//! Each room has a sorted set `<prefix>presence:<room>` whose members are
//! `<user>:<instance>:<connection>` and whose scores are expiry times (Unix ms). A connection
//! adds itself when it opens the room, refreshes the score on every heartbeat and removes
//! itself when it closes the room or disconnects. A crashed instance's entries simply expire:
//! a vanished user drops out within `CHAT_PRESENCE_TTL` plus one heartbeat, when the
//! instances that have the room open sweep expired entries and announce who left.

use std::{collections::BTreeSet, time::Duration};

use marquee_common::redis::RedisConnection;
use redis::AsyncCommands;
use uuid::Uuid;

/// Presence entries in Redis. Cheap to clone.
#[derive(Clone)]
pub struct Presence {
    redis: RedisConnection,
    prefix: String,
    instance: String,
    ttl: Duration,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Presence {
    pub fn new(redis: RedisConnection, prefix: &str, instance: &str, ttl: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            instance: instance.to_owned(),
            ttl,
        }
    }

    fn key(&self, room: Uuid) -> String {
        format!("{}presence:{room}", self.prefix)
    }

    fn member(&self, user: Uuid, connection: u64) -> String {
        format!("{user}:{}:{connection}", self.instance)
    }

    fn expiry(&self) -> i64 {
        now_ms() + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Connection `connection` of `user` is in `rooms` (entering, or a heartbeat).
    pub async fn enter(
        &self,
        rooms: &[Uuid],
        user: Uuid,
        connection: u64,
    ) -> redis::RedisResult<()> {
        if rooms.is_empty() {
            return Ok(());
        }
        let expiry = self.expiry();
        let ttl_secs = i64::try_from(self.ttl.as_secs()).unwrap_or(60) * 4;
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.zadd(self.key(*room), self.member(user, connection), expiry)
                .ignore()
                // The whole set goes once nobody refreshes it.
                .expire(self.key(*room), ttl_secs)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.redis.clone()).await
    }

    /// Connection `connection` of `user` left `room`; `true` if the user is no longer in it
    /// through any connection.
    pub async fn leave(&self, room: Uuid, user: Uuid, connection: u64) -> redis::RedisResult<bool> {
        let mut redis = self.redis.clone();
        let _: () = redis
            .zrem(self.key(room), self.member(user, connection))
            .await?;
        Ok(!self.online(room).await?.contains(&user))
    }

    /// The users in `room` now.
    pub async fn online(&self, room: Uuid) -> redis::RedisResult<BTreeSet<Uuid>> {
        let mut redis = self.redis.clone();
        let members: Vec<String> = redis
            .zrangebyscore(self.key(room), now_ms(), "+inf")
            .await?;
        Ok(members.iter().filter_map(|m| user_of(m)).collect())
    }

    /// Removes the expired entries of `room`; returns the users who are now gone from it.
    pub async fn sweep(&self, room: Uuid) -> redis::RedisResult<Vec<Uuid>> {
        let mut redis = self.redis.clone();
        let expired: Vec<String> = redis
            .zrangebyscore(self.key(room), "-inf", now_ms())
            .await?;
        if expired.is_empty() {
            return Ok(Vec::new());
        }
        let _: () = redis.zrem(self.key(room), &expired).await?;
        let online = self.online(room).await?;
        let gone: BTreeSet<Uuid> = expired
            .iter()
            .filter_map(|m| user_of(m))
            .filter(|user| !online.contains(user))
            .collect();
        Ok(gone.into_iter().collect())
    }
}

fn user_of(member: &str) -> Option<Uuid> {
    member.split(':').next()?.parse().ok()
}

/// Every `interval` until `shutdown`: sweeps the expired entries of the rooms open on this
/// instance and tells them who left (users whose instance vanished without saying so).
pub async fn sweep_loop(
    presence: Presence,
    hub: std::sync::Arc<crate::hub::Hub>,
    signals: crate::signals::Signals,
    interval: Duration,
    shutdown: marquee_common::shutdown::CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for room_id in hub.open_rooms() {
            match presence.sweep(room_id).await {
                Ok(gone) => {
                    for user_id in gone {
                        signals
                            .publish(&crate::signals::Signal::Presence {
                                room_id,
                                user_id,
                                online: false,
                            })
                            .await;
                    }
                }
                Err(error) => tracing::debug!(%error, "presence sweep failed"),
            }
        }
    }
}
