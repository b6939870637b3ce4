//! user-service: the profiles of Marquee's users (DESIGN §2, §4).
//!
//! A profile is created when auth-service's `users.v1 UserCreated` arrives (idempotent inbox
//! consumer), then read, changed and deleted through `/v1/users` by its owner or an admin;
//! every change publishes `UserUpdated` or `UserDeleted` through the outbox. Reads are
//! cache-aside in Redis with tag invalidation and may be served by read replicas
//! (`docs/users.md`).
//!
//! | module | holds |
//! |---|---|
//! | `routes` | HTTP handlers and the OpenAPI document |
//! | [`profiles`] | the operations: who may do what, transactions, cache, replicas |
//! | `domain` | validated values: bio, avatar URL, locale, a change |
//! | `store` | the `profiles` and `profile_tombstones` tables |
//! | `events` | the `users.v1` consumer |
//! | [`import`] | the bulk loader (`user-service import`) |
//!
//! [`Application::build`] wires the pieces and binds the listener (port 0 in tests);
//! [`Application::run_until_stopped`] serves HTTP, the outbox relay and the consumer until
//! the shutdown token is cancelled.

pub mod config;
mod domain;
mod error;
mod events;
pub mod import;
pub mod profiles;
mod routes;
mod schema;
mod store;

use actix_web::{dev::Server, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use marquee_common::{
    auth::TokenVerifier,
    cache::TagCache,
    config::{ConfigError, Env},
    db::{self, DatabaseCheck, Databases},
    http::{self, health::Readiness, idempotency::IdempotencyStore, metrics::Metrics},
    kafka::{KafkaCheck, consumer::InboxConsumer, relay::OutboxRelay},
    redis::{self as redis_conn, RedisCheck},
    service::{Background, Service},
    shutdown::{CancellationToken, Drain},
    telemetry::TelemetryConfig,
};

pub use marquee_common::service::StartupError;

use crate::{
    config::{Config, SERVICE},
    events::users::UsersHandler,
    profiles::Profiles,
};

pub use routes::ApiDoc;

/// user-service's own migrations (the outbox/inbox ones come from `marquee-common`).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A built, not yet running, user-service.
pub struct Application {
    port: u16,
    server: Server,
    background: Background,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Service for Application {
    const NAME: &'static str = config::SERVICE;
    const DEFAULT_PORT: u16 = config::DEFAULT_PORT;
    const MIGRATIONS: Option<EmbeddedMigrations> = Some(MIGRATIONS);
    type Config = Config;

    fn config_from_env(env: &Env) -> Result<Config, ConfigError> {
        Config::from_env(env)
    }

    fn telemetry(config: &Config) -> &TelemetryConfig {
        &config.telemetry
    }

    /// Migrates the database, connects the dependencies (lazily) and binds the listener.
    async fn build(config: Config) -> Result<Self, StartupError> {
        db::prepare_schema(&config.database, Some(MIGRATIONS)).await?;
        let metrics = Metrics::new();
        let databases = Databases::new(&config.database, &metrics)?;
        let redis = redis_conn::connect(&config.redis)?;
        let cache = TagCache::new(
            "profiles",
            redis_conn::connect(&config.cache.redis)?,
            &config.cache,
            &metrics,
        );
        let producer = config.kafka.producer()?;
        let verifier = TokenVerifier::new(config.verifier.clone(), redis.clone());

        let readiness = Readiness::new(&metrics)
            .reporting(DatabaseCheck::new("postgres", databases.primary().clone()))
            .reporting(RedisCheck::new(redis.clone()))
            .reporting(KafkaCheck::new(producer));
        let background = Background::new(Drain::new(readiness.clone(), config.http.drain_delay))
            .with_relay(OutboxRelay::new(
                config.database.url.clone(),
                config.kafka.clone(),
                SERVICE,
                config.relay.clone(),
                &metrics,
            ))
            .with_consumer(InboxConsumer::new(
                databases.primary().clone(),
                config.kafka.clone(),
                config.consumer.clone(),
                UsersHandler {
                    cache: cache.clone(),
                },
                &metrics,
            ));

        let profiles = web::Data::new(Profiles::new(databases, cache));
        let verifier = web::Data::new(verifier);
        let idempotency = web::Data::new(IdempotencyStore::new(redis, SERVICE));
        let http::Bound { port, server } =
            http::serve_app(&config.http, readiness, metrics, move |cfg| {
                cfg.app_data(profiles.clone())
                    .app_data(verifier.clone())
                    .app_data(idempotency.clone());
                routes::configure(cfg);
            })?;
        Ok(Self {
            port,
            server,
            background,
        })
    }

    /// The port the listener is bound to.
    fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests and stops the
    /// relay and the consumer.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        self.background.serve(self.server, shutdown).await
    }
}
