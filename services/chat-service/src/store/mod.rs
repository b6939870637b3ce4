//! chat-service's SQL: every query of its own tables, and nothing else. Callers pass the
//! connection, so several of these compose into one transaction.

pub mod attachments;
pub mod directory;
pub mod messages;
pub mod rooms;
