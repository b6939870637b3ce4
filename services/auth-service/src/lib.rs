//! auth-service: accounts, sessions and the keys every other service trusts.
//!
//! - `POST /v1/auth/register` creates an account (bcrypt hash in PostgreSQL) and, in the same
//!   transaction, a `UserCreated` event in the outbox;
//! - `POST /v1/auth/login` opens a session in Redis and returns an EdDSA access token (15 min)
//!   and an opaque refresh token; `POST /v1/auth/refresh` rotates it;
//! - logout, logout-all, the session list and password changes revoke sessions and publish
//!   `SessionRevoked`;
//! - `GET /.well-known/jwks.json` publishes the public keys that verify access tokens;
//! - a `users.v1` consumer follows e-mail changes and disables deleted users.
//!
//! | module | holds |
//! |---|---|
//! | `routes` | HTTP handlers and the OpenAPI document |
//! | `accounts`, `sessions` | the operations and their rules |
//! | `domain` | e-mail, password and display-name types that are valid by construction |
//! | `store` | PostgreSQL credentials; Redis sessions and sign-in throttles |
//! | `events` | the `users.v1` consumer |
//! | `hashing`, `keys` | the bcrypt pool; the Ed25519 signing keys and JWKS |
//! | `admin` | creating the first administrator |
//!
//! [`Application::build`] wires the pieces and binds the listener (port 0 in tests);
//! [`Application::run_until_stopped`] serves HTTP and runs the outbox relay and the consumer
//! until the shutdown token is cancelled. `main.rs` only reads the configuration and calls
//! them.

mod accounts;
pub mod admin;
pub mod config;
mod domain;
mod error;
mod events;
pub mod hashing;
pub mod keys;
mod routes;
mod schema;
mod sessions;
mod store;

pub use routes::ApiDoc;

use std::sync::Arc;

use actix_web::{dev::Server, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use marquee_common::{
    auth::{TokenVerifier, VerifierConfig},
    config::{ConfigError, Env},
    db::{self, DatabaseCheck},
    http::{self, health::Readiness, idempotency::IdempotencyStore, metrics::Metrics},
    kafka::{KafkaCheck, consumer::InboxConsumer, relay::OutboxRelay},
    rate_limit::RateLimiter,
    redis::{self as redis_conn, RedisCheck},
    service::{Background, Service},
    shutdown::{CancellationToken, Drain},
    telemetry::TelemetryConfig,
};

pub use marquee_common::service::StartupError;

use crate::{
    accounts::Accounts,
    admin::{AdminError, AdminOutcome},
    config::{Config, KeySource, SERVICE},
    events::users::UsersHandler,
    hashing::PasswordHasher,
    keys::SigningKeys,
    store::{sessions::SessionStore, throttle::LoginThrottle},
};

/// auth-service's own migrations (the outbox/inbox ones come from `marquee-common`).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A built, not yet running, auth-service.
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

    /// Migrates the database, connects the dependencies (lazily: a dependency that is down
    /// makes the service not ready, not dead) and binds the listener.
    async fn build(config: Config) -> Result<Self, StartupError> {
        db::prepare_schema(&config.database, Some(MIGRATIONS)).await?;
        let pool = db::pool(&config.database.url, &config.database)?;
        let redis = redis_conn::connect(&config.redis)?;
        let producer = config.kafka.producer()?;
        let keys = match &config.tokens.keys {
            KeySource::Dir { dir, signing_kid } => {
                SigningKeys::load_dir(dir, signing_kid.as_deref())
                    .map_err(|e| StartupError::component("signing keys", e))?
            }
            KeySource::Generated => SigningKeys::generate(),
        };
        let hasher =
            PasswordHasher::new(config.bcrypt_cost, config.hash_threads, config.hash_queue)
                .await
                .map_err(|e| StartupError::component("password hashing", e))?;
        if let Some(admin) = &config.bootstrap_admin {
            bootstrap_admin(&pool, &hasher, admin).await?;
        }
        // auth-service verifies its own tokens with its own keys, and without a session
        // cache: a logout is seen by the very next request. Its authenticated routes manage
        // sessions, which live in Redis: without Redis they are 503 (no unchecked tokens).
        let verifier = TokenVerifier::with_jwks(
            VerifierConfig {
                jwks_url: String::new(),
                issuer: config.tokens.issuer.clone(),
                audience: config.tokens.audience.clone(),
                jwks_cache_ttl: std::time::Duration::MAX,
                session_cache_ttl: std::time::Duration::ZERO,
                sessions_fail_open: false,
                leeway: std::time::Duration::from_secs(30),
            },
            redis.clone(),
            keys.jwks(),
        )
        .map_err(|e| StartupError::component("the signing keys' JWKS", e))?;
        let accounts = Accounts {
            pool: pool.clone(),
            hasher,
            keys: Arc::new(keys),
            sessions: SessionStore::new(
                redis.clone(),
                config.tokens.refresh_ttl,
                config.tokens.refresh_grace,
            ),
            throttle: LoginThrottle::new(redis.clone(), config.throttle.lockout.clone()),
            verifier: verifier.clone(),
            tokens: config.tokens.clone(),
        };
        let limiter = RateLimiter::new(
            redis.clone(),
            "auth-ip",
            config.throttle.ip_quota,
            config.throttle.fail_mode,
        );
        let idempotency = IdempotencyStore::new(redis.clone(), SERVICE);

        let metrics = Metrics::new();
        let readiness = Readiness::new(&metrics)
            .with(DatabaseCheck::new("postgres", pool.clone()))
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
                pool,
                config.kafka.clone(),
                config.consumer.clone(),
                UsersHandler {
                    accounts: accounts.clone(),
                },
                &metrics,
            ));

        let accounts = web::Data::new(accounts);
        let verifier = web::Data::new(verifier);
        let limiter = web::Data::new(limiter);
        let idempotency = web::Data::new(idempotency);
        let http::Bound { port, server } =
            http::serve_app(&config.http, readiness, metrics, move |cfg| {
                cfg.app_data(accounts.clone())
                    .app_data(verifier.clone())
                    .app_data(limiter.clone())
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

/// Creates the `BOOTSTRAP_ADMIN_EMAIL` admin if the address is free. An address taken by a
/// non-admin account is logged, not promoted (see `admin`), and does not stop the service.
async fn bootstrap_admin(
    pool: &db::PgPool,
    hasher: &PasswordHasher,
    admin: &config::BootstrapAdmin,
) -> Result<(), StartupError> {
    match admin::ensure_admin(pool, hasher, &admin.email, admin.password.clone(), "Admin").await {
        Ok(AdminOutcome::Created(user_id)) => {
            tracing::info!(%user_id, "bootstrap admin created");
            Ok(())
        }
        Ok(AdminOutcome::AlreadyAdmin(_)) => Ok(()),
        Err(error @ AdminError::NotAdmin(_)) => {
            tracing::warn!(%error, "bootstrap admin not created");
            Ok(())
        }
        Err(error) => Err(StartupError::component("bootstrap admin", error)),
    }
}
