//! Ephemeral signals between chat instances, over Redis pub/sub: typing, presence changes
//! and membership changes. They are not events (nothing is stored or replayed): a signal
//! lost while an instance reconnects costs a typing indicator or a presence update, which
//! the next heartbeat or the REST presence list corrects. Messages never travel here; they
//! go through the outbox and `chat.messages.v1`.
//!
//! Every instance publishes to and subscribes to one channel, `<prefix>signals`; the
//! subscriber hands each signal to the [`Hub`], which forwards it to local sockets.

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use marquee_common::{
    redis::{RedisConfig, RedisConnection},
    retry::Backoff,
    shutdown::{CancellationToken, sleep_or_shutdown},
};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{hub::Hub, protocol::ServerFrame};

/// One signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    Typing {
        room_id: Uuid,
        user_id: Uuid,
        display_name: Option<String>,
    },
    Presence {
        room_id: Uuid,
        user_id: Uuid,
        online: bool,
    },
    Membership {
        room_id: Uuid,
        user_id: Uuid,
        member: bool,
    },
}

/// Publishes signals. Cheap to clone.
#[derive(Clone)]
pub struct Signals {
    redis: RedisConnection,
    channel: String,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Signals {
    pub fn new(redis: RedisConnection, prefix: &str) -> Self {
        Self {
            redis,
            channel: channel(prefix),
        }
    }

    /// Publishes `signal` to every instance (this one included). A failure is logged and
    /// dropped: signals are best effort.
    pub async fn publish(&self, signal: &Signal) {
        let Ok(payload) = serde_json::to_string(signal) else {
            return;
        };
        let result: redis::RedisResult<i64> =
            self.redis.clone().publish(&self.channel, payload).await;
        if let Err(error) = result {
            tracing::warn!(%error, "publishing a chat signal failed");
        }
    }
}

fn channel(prefix: &str) -> String {
    format!("{prefix}signals")
}

/// How long connecting and subscribing may take before it is tried again.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Receives signals until `shutdown`, resubscribing after connection losses, and hands them
/// to `hub`. A subscription whose server vanished without closing it is noticed by TCP
/// keepalive ([`marquee_common::redis::client`]) within about 30 s.
pub async fn subscribe(
    redis: RedisConfig,
    prefix: String,
    hub: Arc<Hub>,
    shutdown: CancellationToken,
) {
    let channel = channel(&prefix);
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let subscribing = async {
            let client = marquee_common::redis::client(&redis)?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        // The pub/sub connection has no response timeout of its own: bound the subscription.
        let subscribed = tokio::select! {
            () = shutdown.cancelled() => return,
            subscribed = tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribing) => subscribed,
        };
        match subscribed {
            Err(_) => tracing::warn!(
                timeout = ?SUBSCRIBE_TIMEOUT,
                "subscribing to chat signals timed out; retrying"
            ),
            Ok(Ok(pubsub)) => {
                backoff.reset();
                tracing::debug!(%channel, "subscribed to chat signals");
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        message = messages.next() => match message {
                            Some(message) => {
                                let payload: String = message.get_payload().unwrap_or_default();
                                match serde_json::from_str::<Signal>(&payload) {
                                    Ok(signal) => dispatch(&hub, signal),
                                    Err(error) => tracing::debug!(%error, "ignoring a malformed chat signal"),
                                }
                            }
                            None => break,
                        },
                    }
                }
                tracing::warn!("chat signal subscription lost; resubscribing");
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot subscribe to chat signals; retrying");
            }
        }
        if sleep_or_shutdown(backoff.next_delay(), &shutdown).await {
            return;
        }
    }
}

/// Forwards one signal to the local sockets it concerns.
fn dispatch(hub: &Hub, signal: Signal) {
    match signal {
        Signal::Typing {
            room_id,
            user_id,
            display_name,
        } => {
            let frame = ServerFrame::Typing {
                room_id,
                user_id,
                display_name: display_name.as_deref(),
            }
            .text();
            hub.to_room(room_id, "typing", &frame, Some(user_id));
        }
        Signal::Presence {
            room_id,
            user_id,
            online,
        } => {
            let frame = ServerFrame::Presence {
                room_id,
                user_id,
                online,
            }
            .text();
            hub.to_room(room_id, "presence", &frame, None);
        }
        Signal::Membership {
            room_id,
            user_id,
            member,
        } => hub.membership_changed(user_id, room_id, member),
    }
}
