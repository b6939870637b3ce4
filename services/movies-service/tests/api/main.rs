//! movies-service's integration tests: one binary, one module per concern. Real PostgreSQL,
//! Redis and broker; TMDb is a local wiremock server answering with TMDb-shaped fixtures.

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalogue;
mod helpers;
mod migrations;
mod offline;
mod resilience;
mod watchlist;
