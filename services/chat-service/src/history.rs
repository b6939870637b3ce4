//! Sending and reading messages: the one path both `POST /rooms/{id}/messages` and the
//! WebSocket `send` frame take.
//!
//! A send is one transaction: take the room's next `seq` (locking the room row, which orders
//! concurrent senders and leaves no gap on rollback), store the message, tie its attachments,
//! and enqueue `chat.messages.v1 MessageSent` in the outbox. The relay publishes it and every
//! instance's fan-out delivers it; nothing is pushed to sockets from here. A retried
//! `client_msg_id` finds the stored original and is acknowledged with it.

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use marquee_common::{
    db::{self, DbError, PgPool},
    domain::Invalid,
    kafka::outbox,
};
use marquee_proto_events::chat::v1::MessageSent;
use uuid::Uuid;

use crate::{
    domain::Draft,
    error::ChatError,
    model::{ChatMessage, Sender, seq_in, seq_out},
    rooms,
    store::{self, messages::NewMessage},
};

/// Most messages one history page or replay batch holds.
pub const PAGE_MAX: i64 = 100;

/// The outcome of a send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: ChatMessage,
    /// The `client_msg_id` had been sent before: this is the original.
    pub duplicate: bool,
}

/// A page of history, newest first.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct History {
    pub items: Vec<ChatMessage>,
    /// Pass as `before_seq` for the older page; absent when this page reaches the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before_seq: Option<u64>,
}

/// Why one send attempt did not commit.
enum Attempt {
    Failed(ChatError),
    /// The sender's `client_msg_id` is already stored: a retry, or a concurrent one that won.
    LostRace,
}

impl From<ChatError> for Attempt {
    fn from(error: ChatError) -> Self {
        Self::Failed(error)
    }
}

impl From<DbError> for Attempt {
    fn from(error: DbError) -> Self {
        Self::Failed(error.into())
    }
}

impl From<diesel::result::Error> for Attempt {
    fn from(error: diesel::result::Error) -> Self {
        Self::Failed(error.into())
    }
}

/// Message operations.
#[derive(Clone)]
pub struct Messages {
    pool: PgPool,
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messages").finish_non_exhaustive()
    }
}

impl Messages {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Stores `draft` from `sender` in `room` (see the module docs).
    pub async fn send(&self, sender: Uuid, room: Uuid, draft: Draft) -> Result<Sent, ChatError> {
        let cid = draft.client_msg_id.as_str().to_owned();
        let attempt = db::transaction(&self.pool, |conn| {
            Box::pin(async move { store_message(conn, sender, room, &draft).await })
        })
        .await;
        match attempt {
            Ok(sent) => Ok(sent),
            Err(Attempt::Failed(error)) => Err(error),
            Err(Attempt::LostRace) => {
                let mut conn = db::connection(&self.pool).await?;
                let original = store::messages::find_sent(&mut conn, room, sender, &cid)
                    .await?
                    .ok_or_else(|| {
                        ChatError::Database(DbError::Unavailable(
                            "a concurrent send of the same client_msg_id vanished".into(),
                        ))
                    })?;
                Ok(Sent {
                    message: original.into(),
                    duplicate: true,
                })
            }
        }
    }

    /// A page of `room`'s history before `before_seq` (members only).
    pub async fn history(
        &self,
        user: Uuid,
        room: Uuid,
        before_seq: Option<u64>,
        limit: i64,
    ) -> Result<History, ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        rooms::as_member(&mut conn, room, user).await?;
        let rows = store::messages::before(&mut conn, room, before_seq.map(seq_in), limit).await?;
        let items: Vec<ChatMessage> = rows.into_iter().map(ChatMessage::from).collect();
        let next_before_seq = items
            .last()
            .filter(|oldest| oldest.seq > 1 && items.len() == usize::try_from(limit).unwrap_or(0))
            .map(|oldest| oldest.seq);
        Ok(History {
            items,
            next_before_seq,
        })
    }

    /// Messages of `room` after `after` and up to `through`, oldest first, at most
    /// [`PAGE_MAX`] (the caller checked membership): resume replays and gap fills.
    pub async fn replay(
        &self,
        room: Uuid,
        after: u64,
        through: Option<u64>,
    ) -> Result<Vec<ChatMessage>, ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        let rows = store::messages::after(
            &mut conn,
            room,
            seq_in(after),
            through.map(seq_in),
            PAGE_MAX,
        )
        .await?;
        Ok(rows.into_iter().map(ChatMessage::from).collect())
    }
}

async fn store_message(
    conn: &mut AsyncPgConnection,
    sender: Uuid,
    room: Uuid,
    draft: &Draft,
) -> Result<Sent, Attempt> {
    let cid = draft.client_msg_id.as_str();
    // A retried `client_msg_id` is not looked up first: its insert finds the original and the
    // attempt rolls back (`LostRace`), sparing every first send a round trip.
    let Some((seq, display_name)) = store::messages::next_seq(conn, room, sender).await? else {
        rooms::as_member(conn, room, sender).await?;
        // A member after all: the membership arrived between the two queries.
        return Err(ChatError::NotAMember.into());
    };
    let id = Uuid::now_v7();
    // Microseconds: what PostgreSQL stores, so the event and the history agree.
    let sent_at = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .unwrap_or_else(Utc::now);
    let stored = store::messages::insert(
        conn,
        &NewMessage {
            room_id: room,
            seq,
            id,
            sender_id: sender,
            client_msg_id: cid,
            body: draft.body.as_str(),
            attachment_ids: &draft.attachment_ids,
            sent_at,
        },
    )
    .await?;
    if !stored {
        return Err(Attempt::LostRace);
    }
    if !draft.attachment_ids.is_empty() {
        let tied = store::messages::attach(conn, room, sender, id, &draft.attachment_ids).await?;
        if tied != draft.attachment_ids.len() {
            return Err(ChatError::from(Invalid::new(
                "attachment_ids",
                "each must be an attachment you uploaded to this room and not yet sent",
            ))
            .into());
        }
    }
    let message = ChatMessage {
        room_id: room,
        seq: seq_out(seq),
        id,
        sender: Sender {
            id: sender,
            display_name,
        },
        body: draft.body.as_str().to_owned(),
        attachment_ids: draft.attachment_ids.clone(),
        sent_at,
    };
    outbox::enqueue(conn, &event(&message, cid)).await?;
    Ok(Sent {
        message,
        duplicate: false,
    })
}

/// The `MessageSent` event of a stored message.
fn event(message: &ChatMessage, client_msg_id: &str) -> MessageSent {
    MessageSent {
        message_id: message.id.to_string(),
        room_id: message.room_id.to_string(),
        seq: message.seq,
        sender_id: message.sender.id.to_string(),
        body: message.body.clone(),
        attachment_ids: message.attachment_ids.iter().map(Uuid::to_string).collect(),
        sent_at: Some(std::time::SystemTime::from(message.sent_at).into()),
        client_msg_id: client_msg_id.to_owned(),
        sender_display_name: message.sender.display_name.clone().unwrap_or_default(),
    }
}
