//! Values chat-service accepts from clients, each buildable only valid: handlers and the
//! WebSocket loop parse raw input into these, and nothing past them re-checks.

use marquee_common::domain::Invalid;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest room name, in characters.
pub const ROOM_NAME_MAX: usize = 80;
/// Longest room topic, in characters.
pub const ROOM_TOPIC_MAX: usize = 500;
/// Longest `client_msg_id`, in bytes.
pub const CLIENT_MSG_ID_MAX: usize = 64;
/// Most attachments one message may reference.
pub const ATTACHMENTS_PER_MESSAGE_MAX: usize = 10;

/// Who may find and join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Listed in search; anyone signed in may join.
    Public,
    /// Invisible to non-members; members are added by the room's owner.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }

    /// The stored form back; anything else is a corrupt row, read as the safer `Private`.
    pub fn from_stored(raw: &str) -> Self {
        if raw == "public" {
            Self::Public
        } else {
            Self::Private
        }
    }
}

/// Tidies free text: trims, collapses inner whitespace runs to one space, refuses control
/// characters and enforces a length in characters.
fn tidy_line(field: &'static str, raw: &str, max: usize) -> Result<String, Invalid> {
    let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Invalid::new(field, "must not contain control characters"));
    }
    Ok(text)
}

/// A room's name: 1 to [`ROOM_NAME_MAX`] characters, whitespace tidied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = tidy_line("name", raw, ROOM_NAME_MAX)?;
        if name.is_empty() {
            return Err(Invalid::new("name", "is required"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form prefix search compares: lower case.
    pub fn search_key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A room's topic: up to [`ROOM_TOPIC_MAX`] characters, may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomTopic(String);

impl RoomTopic {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        tidy_line("topic", raw, ROOM_TOPIC_MAX).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A room-name prefix to search for: 1 to [`ROOM_NAME_MAX`] characters, compared in lower
/// case. `%`, `_` and `\` match themselves (they are escaped for `LIKE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePrefix(String);

impl NamePrefix {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = tidy_line("q", raw, ROOM_NAME_MAX)?;
        if text.is_empty() {
            return Err(Invalid::new("q", "must not be blank"));
        }
        Ok(Self(text.to_lowercase()))
    }

    /// The `LIKE` pattern: the escaped prefix followed by `%`.
    pub fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 1);
        for c in self.0.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }
}

/// A message's text: 1 to `max_chars` characters after trimming the ends (inner whitespace,
/// newlines included, is the author's). Control characters other than newline and tab are
/// refused. May be empty only when the message carries attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(raw: &str, max_chars: usize, has_attachments: bool) -> Result<Self, Invalid> {
        let body = raw.trim();
        if body.is_empty() && !has_attachments {
            return Err(Invalid::new("body", "must not be empty"));
        }
        if body.chars().count() > max_chars {
            return Err(Invalid::new(
                "body",
                format!("must be at most {max_chars} characters"),
            ));
        }
        if body
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(Invalid::new(
                "body",
                "must not contain control characters other than newline and tab",
            ));
        }
        Ok(Self(body.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The sender's own id for a message, so a retry is stored once: 1 to
/// [`CLIENT_MSG_ID_MAX`] visible ASCII characters (a UUID fits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > CLIENT_MSG_ID_MAX {
            return Err(Invalid::new(
                "client_msg_id",
                format!("must be 1 to {CLIENT_MSG_ID_MAX} characters"),
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new(
                "client_msg_id",
                "must be visible ASCII characters (a UUID is a good choice)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message to send, validated.
#[derive(Debug, Clone)]
pub struct Draft {
    pub client_msg_id: ClientMsgId,
    pub body: MessageBody,
    /// Distinct, at most [`ATTACHMENTS_PER_MESSAGE_MAX`].
    pub attachment_ids: Vec<Uuid>,
}

impl Draft {
    /// Every field checked; all problems reported together.
    pub fn parse(
        client_msg_id: &str,
        body: &str,
        attachment_ids: &[Uuid],
        max_body_chars: usize,
    ) -> Result<Self, Vec<Invalid>> {
        let mut ids = attachment_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let client_msg_id = ClientMsgId::parse(client_msg_id);
        let body = MessageBody::parse(body, max_body_chars, !ids.is_empty());
        let attachments_ok = ids.len() <= ATTACHMENTS_PER_MESSAGE_MAX;
        match (client_msg_id, body) {
            (Ok(client_msg_id), Ok(body)) if attachments_ok => Ok(Self {
                client_msg_id,
                body,
                attachment_ids: ids,
            }),
            (client_msg_id, body) => {
                let mut errors: Vec<Invalid> = [client_msg_id.err(), body.err()]
                    .into_iter()
                    .flatten()
                    .collect();
                if !attachments_ok {
                    errors.push(Invalid::new(
                        "attachment_ids",
                        format!("must list at most {ATTACHMENTS_PER_MESSAGE_MAX} attachments"),
                    ));
                }
                Err(errors)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn room_names_are_tidied_and_bounded() {
        assert_eq!(
            RoomName::parse("  Film   club ").unwrap().as_str(),
            "Film club"
        );
        assert_eq!(
            RoomName::parse("Film Club").unwrap().search_key(),
            "film club"
        );
        assert!(RoomName::parse("   ").is_err());
        assert!(RoomName::parse(&"x".repeat(ROOM_NAME_MAX + 1)).is_err());
        assert!(RoomName::parse("bell\u{7}").is_err());
        assert!(RoomTopic::parse("").is_ok());
    }

    #[test]
    fn like_metacharacters_match_themselves() {
        assert_eq!(
            NamePrefix::parse("50%_off\\").unwrap().like_pattern(),
            "50\\%\\_off\\\\%"
        );
        assert_eq!(NamePrefix::parse(" Film ").unwrap().like_pattern(), "film%");
        assert!(NamePrefix::parse(" ").is_err());
    }

    #[test]
    fn message_bodies_keep_newlines_and_refuse_other_controls() {
        assert_eq!(
            MessageBody::parse(" a\n b ", 10, false).unwrap().as_str(),
            "a\n b"
        );
        assert!(MessageBody::parse("", 10, false).is_err());
        assert!(MessageBody::parse("", 10, true).is_ok());
        assert!(MessageBody::parse("12345678901", 10, false).is_err());
        assert!(MessageBody::parse("null\u{0}", 10, false).is_err());
    }

    #[test]
    fn client_msg_ids_are_short_visible_ascii() {
        assert!(ClientMsgId::parse("0190f1c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f").is_ok());
        assert!(ClientMsgId::parse("").is_err());
        assert!(ClientMsgId::parse("has space").is_err());
        assert!(ClientMsgId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn drafts_report_every_problem_and_dedupe_attachments() {
        let id = Uuid::now_v7();
        let draft = Draft::parse("m1", "", &[id, id], 100).unwrap();
        assert_eq!(draft.attachment_ids, vec![id]);
        let errors = Draft::parse("", "", &[], 100).unwrap_err();
        assert_eq!(errors.len(), 2);
        let many: Vec<Uuid> = (0..11).map(|_| Uuid::now_v7()).collect();
        assert_eq!(
            Draft::parse("m", "x", &many, 100).unwrap_err()[0].field,
            "attachment_ids"
        );
    }
}
