//! Events chat-service consumes.
//!
//! - [`users`]: `users.v1` through the inbox (group `chat-service`, one instance applies
//!   each event) into the directory of display names;
//! - [`fanout`]: `chat.messages.v1` and `sessions.v1` tailed by every instance for itself,
//!   to deliver messages to its sockets and close revoked sessions' sockets.

pub mod fanout;
pub mod users;
