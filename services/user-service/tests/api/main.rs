//! user-service through its HTTP API, against real PostgreSQL, Redis and the broker.

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cache;
mod changes;
mod helpers;
mod import;
mod listing;
mod migrations;
mod profiles;
mod replicas;
