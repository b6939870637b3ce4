//! What clients see: the JSON shapes of rooms, members and messages, shared by the REST API
//! and the WebSocket frames so a message looks the same wherever it arrives.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::Visibility,
    store::{messages::MessageRow, rooms::RoomRow},
};

/// A room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Room {
    pub id: Uuid,
    pub name: String,
    pub topic: String,
    pub visibility: Visibility,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// `seq` of the newest message (0 when there is none).
    pub last_seq: u64,
    /// The caller's role: `owner`, `member`, or absent when not a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_role: Option<String>,
}

impl Room {
    pub fn from_row(row: RoomRow, my_role: Option<String>) -> Self {
        Self {
            id: row.id,
            name: row.name,
            topic: row.topic,
            visibility: Visibility::from_stored(&row.visibility),
            created_by: row.created_by,
            created_at: row.created_at,
            last_seq: seq_out(row.last_seq),
            my_role,
        }
    }
}

/// One of the caller's rooms, with what they have not read.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyRoom {
    #[serde(flatten)]
    pub room: Room,
    /// `seq` up to which the caller has read (WebSocket `read` frames move it).
    pub last_read_seq: u64,
    /// Messages after `last_read_seq`.
    pub unread: u64,
}

/// A member of a room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    /// Absent while chat has not yet heard of the user (`users.v1`).
    pub display_name: Option<String>,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Sender {
    pub id: Uuid,
    /// The sender's display name; absent while chat has not yet heard of them, or after
    /// their account was deleted.
    pub display_name: Option<String>,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChatMessage {
    pub room_id: Uuid,
    /// Position in the room: 1, 2, 3… with no gaps.
    pub seq: u64,
    pub id: Uuid,
    pub sender: Sender,
    pub body: String,
    /// Attachments, downloadable at `/v1/chat/rooms/{room_id}/attachments/{id}`.
    pub attachment_ids: Vec<Uuid>,
    pub sent_at: DateTime<Utc>,
}

impl From<MessageRow> for ChatMessage {
    fn from(row: MessageRow) -> Self {
        Self {
            room_id: row.room_id,
            seq: seq_out(row.seq),
            id: row.id,
            sender: Sender {
                id: row.sender_id,
                display_name: row.display_name,
            },
            body: row.body,
            attachment_ids: row.attachment_ids,
            sent_at: row.sent_at,
        }
    }
}

/// A stored `seq` (never negative: the schema checks) as the API's unsigned number.
pub fn seq_out(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

/// A client's `seq` as the stored type, saturating (no room gets near `i64::MAX`).
pub fn seq_in(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// An uploaded attachment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attachment {
    pub id: Uuid,
    pub room_id: Uuid,
    /// Recognised from the file's content, not from what the client declared.
    pub content_type: String,
    pub size_bytes: u64,
    pub file_name: String,
    pub created_at: DateTime<Utc>,
}

/// Who is in a room right now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnlineUser {
    pub user_id: Uuid,
    pub display_name: Option<String>,
}
