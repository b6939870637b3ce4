//! Integration tests of the shared kernel against real PostgreSQL, Redis and a
//! Kafka-compatible broker (one test binary; modules by concern).

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cache;
mod consumer;
mod create_database;
mod faults;
mod fixtures;
mod http;
mod idempotency;
mod migrations;
mod relay;
mod service_config;
mod telemetry;
