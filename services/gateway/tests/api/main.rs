//! gateway's integration tests: one binary (`tests/api/main.rs`) with a module per area.
//!
//! - `proxy`: the gateway in-process in front of local fake upstreams (wiremock): routing,
//!   headers, streaming, failures, limits, CORS, versions;
//! - `journey`: the whole platform as real binaries, driven through the gateway only.

// Tests panic with a message when a step fails; that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod journey;
mod proxy;
