//! gateway's integration tests: one binary (`tests/api/main.rs`) with a module per area.
//!
//! - `proxy`: the gateway in-process in front of local fake upstreams (wiremock): routing,
//!   headers, streaming, failures, limits, CORS, versions;
//! - `platform`: the whole platform as real binaries (and its private dependencies);
//! - `journey`: a user's journey through it, driven through the gateway only;
//! - `faults`: the platform under load while a dependency or an instance goes away;
//! - `contract`: schemathesis against every OpenAPI document, through the gateway.

// Tests panic with a message when a step fails; that is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contract;
mod faults;
mod helpers;
mod journey;
mod platform;
mod proxy;
