//! The WebSocket side of chat: the frames ([`protocol`]) and the task that serves one
//! connection ([`connection`]).

pub mod connection;
pub mod protocol;
