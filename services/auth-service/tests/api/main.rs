//! auth-service through its HTTP API, against real PostgreSQL, Redis and the broker.

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod events;
mod helpers;
mod login;
mod migrations;
mod password;
mod refresh;
mod register;
mod resilience;
mod sessions;
mod throttle;
mod tokens;
