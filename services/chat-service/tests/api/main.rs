//! chat-service's integration tests: one binary, one module per concern. Real PostgreSQL,
//! Redis and broker; two chat instances share one database and topics, as in production.

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attachments;
mod helpers;
mod messaging;
mod migrations;
mod rooms;
mod sockets;
