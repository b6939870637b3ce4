//! The WebSocket side of chat: the task that serves one connection ([`connection`]), speaking
//! the frames of [`crate::protocol`].

pub mod connection;
