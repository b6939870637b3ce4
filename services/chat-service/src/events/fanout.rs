//! Every instance's own reading of `chat.messages.v1` and `sessions.v1` (a
//! [`TopicTail`](marquee_common::kafka::tail::TopicTail), no consumer group): each stored
//! message goes to this instance's sockets through the [`Hub`], and each revoked session's
//! sockets here are closed. Persistence already happened once, before publishing, so nothing
//! here writes.

use std::sync::Arc;

use chrono::DateTime;
use marquee_common::kafka::{envelope::ReceivedEvent, tail::TailHandler};
use marquee_proto_events::{chat::v1::MessageSent, sessions::v1::SessionRevoked};
use uuid::Uuid;

use crate::{
    hub::Hub,
    model::{ChatMessage, Sender},
};

#[derive(Debug, Clone)]
pub struct FanOut {
    hub: Arc<Hub>,
}

impl FanOut {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl TailHandler for FanOut {
    async fn handle(&self, event: ReceivedEvent) {
        if event.is::<MessageSent>() {
            match event
                .decode::<MessageSent>()
                .map_err(|e| e.to_string())
                .and_then(message)
            {
                Ok(message) => self.hub.deliver(&message),
                Err(error) => tracing::warn!(%error, id = %event.id(), "undeliverable MessageSent"),
            }
        } else if event.is::<SessionRevoked>() {
            match event.decode::<SessionRevoked>() {
                Ok(revoked) => match revoked.session_id.parse::<Uuid>() {
                    Ok(session) => {
                        let closed = self.hub.close_session(session);
                        if closed > 0 {
                            tracing::info!(%session, closed, "closed the sockets of a revoked session");
                        }
                    }
                    Err(_) => {
                        tracing::warn!(id = %event.id(), "SessionRevoked without a valid session_id")
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, id = %event.id(), "undecodable SessionRevoked")
                }
            }
        }
    }
}

/// The message an event describes.
fn message(event: MessageSent) -> Result<ChatMessage, String> {
    let id = |field: &str, raw: &str| {
        raw.parse::<Uuid>()
            .map_err(|_| format!("{field} {raw:?} is not a UUID"))
    };
    let sent_at = event
        .sent_at
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .ok_or("sent_at is missing or invalid")?;
    Ok(ChatMessage {
        room_id: id("room_id", &event.room_id)?,
        seq: event.seq,
        id: id("message_id", &event.message_id)?,
        sender: Sender {
            id: id("sender_id", &event.sender_id)?,
            display_name: Some(event.sender_display_name).filter(|n| !n.is_empty()),
        },
        body: event.body,
        attachment_ids: event
            .attachment_ids
            .iter()
            .map(|raw| id("attachment_ids", raw))
            .collect::<Result<_, _>>()?,
        sent_at,
    })
}
