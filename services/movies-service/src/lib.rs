//! movies-service: the movie catalogue and watchlists (DESIGN §2, §4).
//!
//! The catalogue — popular films, details, search, genres — comes from TMDb through a client
//! with timeouts, retries, a circuit breaker and a concurrency bound, cached in Redis with
//! single-flight and stale-if-error; without TMDb credentials it comes from a bundled offline
//! catalogue of public-domain films. Watchlists live in the service's own PostgreSQL database;
//! each change publishes `movies.v1 WatchlistChanged` through the outbox, and a deleted user's
//! watchlist is purged when `users.v1 UserDeleted` arrives (`docs/movies.md`).
//!
//! | module | holds |
//! |---|---|
//! | `routes` | HTTP handlers and the OpenAPI document |
//! | [`catalogue`] | providers (TMDb, offline), the response cache, the API's movie shape |
//! | [`watchlist`] | the watchlist operations and their events |
//! | `domain` | validated values: movie id, page, language, search text |
//! | `store` | the `watchlist_items` table |
//! | `events` | the `users.v1` consumer |
//!
//! [`Application::build`] wires the pieces and binds the listener (port 0 in tests);
//! [`Application::run_until_stopped`] serves HTTP, the outbox relay and the consumer until
//! the shutdown token is cancelled.

pub mod catalogue;
pub mod config;
mod domain;
mod error;
mod events;
mod routes;
mod schema;
mod store;
pub mod watchlist;

use std::sync::Arc;

use actix_web::{dev::Server, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use marquee_common::{
    auth::TokenVerifier,
    config::{ConfigError, Env},
    db::{self, DatabaseCheck},
    http::{self, health::Readiness, metrics::Metrics},
    kafka::{KafkaCheck, consumer::InboxConsumer, relay::OutboxRelay},
    redis::{self as redis_conn, RedisCheck},
    service::{Background, Service},
    shutdown::{CancellationToken, Drain},
    telemetry::TelemetryConfig,
};

pub use marquee_common::service::StartupError;

use crate::{
    catalogue::Catalogue,
    config::{Config, SERVICE},
    events::users::UsersHandler,
    watchlist::Watchlists,
};

pub use routes::ApiDoc;

/// movies-service's own migrations (the outbox/inbox ones come from `marquee-common`).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A built, not yet running, movies-service.
pub struct Application {
    port: u16,
    server: Server,
    background: Background,
    catalogue: Arc<Catalogue>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("catalogue", &self.catalogue)
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

    /// Migrates the database, connects the dependencies (lazily), loads the catalogue and
    /// binds the listener.
    async fn build(config: Config) -> Result<Self, StartupError> {
        db::prepare_schema(&config.database, Some(MIGRATIONS)).await?;
        let metrics = Metrics::new();
        let pool = db::pool(&config.database.url, &config.database)?;
        let redis = redis_conn::connect(&config.redis)?;
        let producer = config.kafka.producer()?;
        let catalogue = Catalogue::new(
            &config.catalogue,
            redis_conn::connect(&config.catalogue.cache.redis)?,
            &metrics,
        )
        .map_err(|e| StartupError::component("catalogue", e))?;
        let catalogue = Arc::new(catalogue);
        tracing::info!(
            provider = catalogue.provider_name(),
            "catalogue: {}",
            catalogue.describe()
        );
        let verifier = TokenVerifier::new(config.verifier.clone(), redis.clone());

        // TMDb is not a readiness check: when it is down the service still serves cached
        // answers and watchlists, and restarting pods would not bring it back.
        let readiness = Readiness::new(&metrics)
            .reporting(DatabaseCheck::new("postgres", pool.clone()))
            .reporting(RedisCheck::new(redis))
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
                pool.clone(),
                config.kafka.clone(),
                config.consumer.clone(),
                UsersHandler,
                &metrics,
            ));

        let watchlists = web::Data::new(Watchlists::new(
            pool,
            Arc::clone(&catalogue),
            config.watchlist_max_items,
        ));
        let catalogue_data = web::Data::from(Arc::clone(&catalogue));
        let verifier = web::Data::new(verifier);
        let http::Bound { port, server } =
            http::serve_app(&config.http, readiness, metrics, move |cfg| {
                cfg.app_data(catalogue_data.clone())
                    .app_data(watchlists.clone())
                    .app_data(verifier.clone());
                routes::configure(cfg);
            })?;
        Ok(Self {
            port,
            server,
            background,
            catalogue,
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

impl Application {
    /// `tmdb` or `offline`.
    pub fn provider(&self) -> &'static str {
        self.catalogue.provider_name()
    }
}
