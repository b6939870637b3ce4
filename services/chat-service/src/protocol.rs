//! The WebSocket protocol (DESIGN §6, docs/chat.md): JSON text frames whose `type` names them,
//! `snake_case` fields. [`ClientFrame`] is what a client may send, [`ServerFrame`] what it
//! receives, [`Closing`] why the server ends a connection (and with which close code).

use actix_ws::{CloseCode, CloseReason};
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{ChatMessage, OnlineUser, Sender};

/// The subprotocol a browser offers beside its token (`Sec-WebSocket-Protocol:
/// marquee.chat.v1, bearer.<token>`); the server always selects it.
pub const SUBPROTOCOL: &str = "marquee.chat.v1";

/// Frames a client sends. Unknown fields are ignored, so clients may be newer than servers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Open a room on this connection: live `message`s from now on (joins public rooms).
    Join {
        room_id: Uuid,
    },
    /// Stop receiving the room's messages on this connection (membership is unchanged).
    Leave {
        room_id: Uuid,
    },
    Send {
        room_id: Uuid,
        client_msg_id: String,
        body: String,
        #[serde(default)]
        attachment_ids: Vec<Uuid>,
    },
    /// The user is typing in a room they have open.
    Typing {
        room_id: Uuid,
    },
    /// The user has read the room up to `seq`.
    Read {
        room_id: Uuid,
        seq: u64,
    },
    /// Open a room and first replay every message after `after_seq`.
    Resume {
        room_id: Uuid,
        after_seq: u64,
    },
    Ping,
}

/// Frames the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// A message in a room open on this connection, in `seq` order without gaps.
    Message(&'a ChatMessage),
    /// The sender's `send` was stored (also for a retried `client_msg_id`).
    Ack {
        client_msg_id: &'a str,
        room_id: Uuid,
        id: Uuid,
        seq: u64,
    },
    /// The room is open: messages after `last_seq` will follow (after `after_seq` for a
    /// resume, whose replay has already been sent), and who is online.
    Joined {
        room_id: Uuid,
        last_seq: u64,
        online: &'a [OnlineUser],
    },
    /// The room is closed on this connection.
    Left {
        room_id: Uuid,
    },
    /// Someone came online in, or left, a room open on this connection.
    Presence {
        room_id: Uuid,
        user_id: Uuid,
        online: bool,
    },
    /// Someone is typing in a room open on this connection (show it for ~5 s).
    Typing {
        room_id: Uuid,
        user_id: Uuid,
        display_name: Option<&'a str>,
    },
    /// A new message in one of the user's rooms that is not open on this connection.
    Notification {
        room_id: Uuid,
        seq: u64,
        sender: &'a Sender,
        /// The message's first 100 characters.
        preview: &'a str,
    },
    Error {
        code: &'a str,
        message: &'a str,
        /// The `room_id` of the frame that failed, if it had one.
        #[serde(skip_serializing_if = "Option::is_none")]
        room_id: Option<Uuid>,
        /// The `client_msg_id` of the `send` that failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<&'a str>,
    },
    Pong,
}

impl ServerFrame<'_> {
    /// The frame as WebSocket text.
    pub fn text(&self) -> ByteString {
        // Serialising these types cannot fail: no maps with non-string keys, no custom
        // serialisers that error.
        ByteString::from(serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned()))
    }
}

/// Why the server closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The service is shutting down: reconnect (to another instance) and `resume`.
    GoingAway,
    /// The session was revoked (logout, password change, account deleted): do not reconnect
    /// with the same token.
    SessionEnded,
    /// The client did not read its frames fast enough.
    SlowConsumer,
    /// Too many malformed frames or rate-limit violations.
    Abuse,
    /// A frame that breaks the WebSocket protocol itself (RFC 6455: an unmasked client
    /// frame, an unknown opcode, a broken continuation).
    ProtocolViolation,
    /// Nothing received for `CHAT_IDLE_TIMEOUT`.
    Idle,
    /// A frame above the codec's limit.
    TooBig,
}

impl Closing {
    pub fn code(self) -> CloseCode {
        match self {
            Self::GoingAway => CloseCode::Away,
            Self::SessionEnded => CloseCode::Other(4001),
            Self::SlowConsumer => CloseCode::Other(4008),
            Self::Abuse => CloseCode::Policy,
            Self::ProtocolViolation => CloseCode::Protocol,
            Self::Idle => CloseCode::Other(4000),
            Self::TooBig => CloseCode::Size,
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::GoingAway => "server shutting down; reconnect and resume",
            Self::SessionEnded => "session ended",
            Self::SlowConsumer => "too slow to keep up",
            Self::Abuse => "too many bad frames",
            Self::ProtocolViolation => "WebSocket protocol violation",
            Self::Idle => "idle",
            Self::TooBig => "frame too large",
        }
    }

    pub fn reason(self) -> CloseReason {
        CloseReason {
            code: self.code(),
            description: Some(self.description().to_owned()),
        }
    }
}

/// How a client left without the server closing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// It sent a close frame.
    Closed,
    /// The connection ended without one: dropped, reset, or the client's process died.
    Lost,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn client_frames_parse_by_type() {
        let id = Uuid::now_v7();
        let frame: ClientFrame = serde_json::from_str(&format!(
            r#"{{"type":"send","room_id":"{id}","client_msg_id":"c1","body":"hi","extra":1}}"#
        ))
        .unwrap();
        assert_eq!(
            frame,
            ClientFrame::Send {
                room_id: id,
                client_msg_id: "c1".into(),
                body: "hi".into(),
                attachment_ids: vec![]
            }
        );
        assert_eq!(
            serde_json::from_str::<ClientFrame>(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping
        );
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"fly"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"join","room_id":"x"}"#).is_err());
    }

    #[test]
    fn server_frames_are_tagged_and_flat() {
        let message = ChatMessage {
            room_id: Uuid::nil(),
            seq: 3,
            id: Uuid::nil(),
            sender: Sender {
                id: Uuid::nil(),
                display_name: Some("Ada".into()),
            },
            body: "hello".into(),
            attachment_ids: vec![],
            sent_at: chrono::DateTime::UNIX_EPOCH,
        };
        let json: serde_json::Value =
            serde_json::from_str(&ServerFrame::Message(&message).text()).unwrap();
        assert_eq!(json["type"], "message");
        assert_eq!(json["seq"], 3);
        assert_eq!(json["sender"]["display_name"], "Ada");
        let pong: serde_json::Value = serde_json::from_str(&ServerFrame::Pong.text()).unwrap();
        assert_eq!(pong, serde_json::json!({"type": "pong"}));
    }
}
