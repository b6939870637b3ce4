//! Test helpers for Marquee's integration tests, in the zero-to-production style: every test
//! gets its own database (created from the migrations, dropped afterwards) and its own topic
//! names, so tests run in parallel under nextest without sharing state.
//!
//! - [`ApiClient`]: requests (with or without a bearer token) to a service under test;
//! - [`TestDatabase`]: a fresh PostgreSQL database per test (`TEST_DATABASE_URL` points at
//!   the server, default `postgres://postgres@127.0.0.1:5432/postgres`);
//! - [`TestTopics`]: a unique `KAFKA_TOPIC_PREFIX` per test on the shared broker
//!   (`KAFKA_BROKERS`, default `127.0.0.1:9092`), with its topics created;
//! - [`BrokerProcess`]: a private tansu broker behind a [`FaultProxy`], for fault tests that
//!   take the broker away from its clients without disturbing the tests beside them;
//! - [`FaultProxy`]: a TCP proxy that can cut the line to any server;
//! - [`RedisProcess`]: a private `redis-server` on a free port, for tests that stop Redis
//!   ([`redis_url`] is the shared one);
//! - [`PostgresProcess`]: a private PostgreSQL server on a free port, for tests that stop it;
//! - [`TestPublisher`]: publishes events as another service would;
//! - [`RecordCollector`]: reads a topic from the beginning, for asserting on what was published;
//! - [`TestIdentity`]: signed-in users with real tokens and sessions, and the JWKS to verify them;
//! - [`WsClient`]: a WebSocket client speaking JSON frames, for the chat protocol;
//! - [`OtlpReceiver`]: an OTLP/HTTP trace endpoint that decodes what real exporters send;
//! - [`ServiceProcess`]: a workspace binary started as a child process (end-to-end tests);
//! - [`eventually`]: polls a condition until a deadline, instead of sleeping and hoping;
//! - [`init_logs`]: the code under test's warnings in the test's output.

// A test-support crate: when setup fails, panicking with a clear message is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod api;
mod broker;
mod database;
mod fault_proxy;
mod identity;
mod logs;
mod otlp;
mod poll;
mod postgres_server;
mod process;
mod publish;
mod redis_server;
mod topics;
mod ws;

pub use api::{ApiClient, REQUEST_TIMEOUT, test_client};
pub use broker::BrokerProcess;
pub use database::TestDatabase;
pub use fault_proxy::FaultProxy;
pub use identity::{TestIdentity, TestUser};
pub use logs::init_logs;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use poll::{eventually, eventually_async};
pub use postgres_server::PostgresProcess;
pub use process::{ServiceProcess, binary, free_port};
pub use publish::TestPublisher;
pub use redis_server::RedisProcess;
pub use topics::{
    CollectedRecord, RecordCollector, TestTopics, redis_url, relay_config, shared_brokers,
};
pub use ws::{WsClient, WsOptions};
