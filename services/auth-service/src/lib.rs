//! auth-service: accounts, sessions and the keys every other service trusts.
//!
//! - `POST /v1/auth/register` creates an account (bcrypt hash in PostgreSQL) and, in the same
//!   transaction, a `UserCreated` event in the outbox;
//! - `POST /v1/auth/login` opens a session in Redis and returns an EdDSA access token (15 min)
//!   and an opaque refresh token;
//! - `GET /.well-known/jwks.json` publishes the public keys that verify access tokens.
//!
//! [`Application::build`] wires the pieces and binds the listener (port 0 in tests);
//! [`Application::run_until_stopped`] serves HTTP and runs the outbox relay until the
//! shutdown token is cancelled. `main.rs` only reads the configuration and calls them.

mod accounts;
pub mod config;
mod domain;
mod error;
mod hashing;
pub mod keys;
mod routes;
mod schema;
mod sessions;
mod store;

use std::{net::TcpListener, sync::Arc};

use actix_web::{App, HttpServer, dev::Server, middleware::from_fn, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use marquee_common::{
    db::{self, DatabaseCheck, DbError},
    http::{self, health::Readiness, metrics::Metrics},
    kafka::{KafkaCheck, KafkaError, relay::OutboxRelay},
    redis::{self as redis_conn, RedisCheck},
    shutdown::CancellationToken,
};

use crate::{
    accounts::Accounts,
    config::{Config, KeySource, SERVICE},
    hashing::PasswordHasher,
    keys::{KeyError, SigningKeys},
    sessions::SessionStore,
};

/// auth-service's own migrations (the outbox/inbox ones come from `marquee-common`).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("password hashing: {0}")]
    Hashing(#[from] hashing::HashError),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
}

/// A built, not yet running, auth-service.
pub struct Application {
    port: u16,
    server: Server,
    relay: OutboxRelay,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Migrates the database, connects the dependencies (lazily: a dependency that is down
    /// makes the service not ready, not dead) and binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        db::migrate(&config.database.url, Some(MIGRATIONS)).await?;
        let pool = db::pool(&config.database.url, &config.database)?;
        let redis = redis_conn::connect(&config.redis)?;
        let producer = config.kafka.producer()?;
        let keys = match &config.tokens.keys {
            KeySource::Dir(dir) => SigningKeys::load_dir(dir)?,
            KeySource::Generated => SigningKeys::generate(),
        };
        let hasher =
            PasswordHasher::new(config.bcrypt_cost, config.hash_threads, config.hash_queue)?;
        let accounts = Accounts {
            pool: pool.clone(),
            hasher,
            keys: Arc::new(keys),
            sessions: SessionStore::new(redis.clone(), config.tokens.refresh_ttl),
            tokens: config.tokens.clone(),
        };

        let metrics = Metrics::new();
        let readiness = Readiness::new()
            .with(DatabaseCheck::new("postgres", pool))
            .with(RedisCheck::new(redis))
            .with(KafkaCheck::new(producer));
        let relay = OutboxRelay::new(
            config.database.url.clone(),
            config.kafka.clone(),
            SERVICE,
            config.relay.clone(),
            &metrics,
        );

        let address = format!("{}:{}", config.http.host, config.http.port);
        let listener =
            TcpListener::bind(&address).map_err(|e| StartupError::Listen(address.clone(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Listen(address.clone(), e))?
            .port();
        let accounts = web::Data::new(accounts);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(accounts.clone())
                .configure(http::configure(readiness.clone(), metrics.clone()))
                .configure(routes::configure)
                .default_service(web::to(http::not_found))
                .wrap(from_fn(http::metrics::middleware))
                .wrap(http::tracing::logger())
                .wrap(from_fn(http::request_id::middleware))
        })
        .listen(listener)
        .map_err(|e| StartupError::Listen(address.clone(), e))?
        .disable_signals()
        .shutdown_timeout(config.http.shutdown_timeout.as_secs());
        if let Some(workers) = config.http.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            relay,
        })
    }

    /// The port the listener is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled, then drains in-flight requests and stops the relay.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let handle = self.server.handle();
        let relay = tokio::spawn(self.relay.run(shutdown.clone()));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            handle.stop(true).await;
        });
        let served = self.server.await;
        shutdown.cancel();
        let _ = relay.await;
        served
    }
}
