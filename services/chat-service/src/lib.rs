//! chat-service: chat rooms with history, presence, typing and attachments, served over REST
//! and a WebSocket protocol, running as several instances (DESIGN §2, §6; docs/chat.md).
//!
//! A message is stored once — with its gap-free per-room `seq` and its `MessageSent` outbox
//! row, in one transaction — and then reaches every instance through `chat.messages.v1`:
//! each instance tails the topic for itself and hands the message to its own sockets through
//! the [`hub`]. Presence and typing are ephemeral, in Redis ([`presence`], [`signals`]). The
//! directory of display names is kept from `users.v1`; `sessions.v1 SessionRevoked` closes
//! the revoked session's sockets on every instance.
//!
//! | module | holds |
//! |---|---|
//! | `routes` | REST handlers, the WebSocket upgrade, the OpenAPI document |
//! | [`protocol`] | the WebSocket protocol's frames and close reasons (what [`hub`] and [`ws`] both speak) |
//! | [`ws`] | the per-connection task |
//! | [`hub`] | this instance's connections and who hears what |
//! | [`rooms`], [`history`], [`attachments`] | the operations behind the endpoints and frames |
//! | [`presence`], [`signals`] | Redis presence sets and pub/sub between instances |
//! | `events` | the `users.v1` consumer and the per-instance fan-out |
//! | `domain`, `model`, `store` | validated input, output shapes, SQL |

pub mod attachments;
pub mod config;
mod domain;
mod error;
mod events;
pub mod history;
pub mod hub;
mod model;
pub mod presence;
pub mod protocol;
pub mod rooms;
mod routes;
mod schema;
pub mod signals;
mod store;
pub mod ws;

use std::sync::Arc;

use actix_web::{dev::Server, web};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use marquee_common::{
    auth::TokenVerifier,
    config::{ConfigError, Env},
    db::{self, DatabaseCheck},
    http::{self, health::Readiness, metrics::Metrics},
    kafka::{KafkaCheck, consumer::InboxConsumer, relay::OutboxRelay, tail::TopicTail},
    redis::{self as redis_conn, RedisCheck},
    service::{Background, Service},
    shutdown::{CancellationToken, Drain},
    telemetry::TelemetryConfig,
};
use marquee_proto_events::topics;

pub use marquee_common::service::StartupError;
pub use routes::ApiDoc;

use crate::{
    attachments::Attachments,
    config::{Config, SERVICE},
    events::{fanout::FanOut, users::UsersHandler},
    history::Messages,
    hub::Hub,
    presence::Presence,
    rooms::Rooms,
    signals::Signals,
    ws::connection::SocketContext,
};

/// chat-service's own migrations (the outbox/inbox ones come from `marquee-common`).
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A built, not yet running, chat-service.
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

    /// Migrates the database, connects the dependencies (lazily), opens the attachment store
    /// and binds the listener.
    async fn build(config: Config) -> Result<Self, StartupError> {
        db::prepare_schema(&config.database, Some(MIGRATIONS)).await?;
        let metrics = Metrics::new();
        let pool = db::pool(&config.database.url, &config.database)?;
        let redis = redis_conn::connect(&config.redis)?;
        let producer = config.kafka.producer()?;
        let store = attachments::open_store(&config.attachments.location)
            .map_err(|e| StartupError::component("attachment store", e))?;
        let chat = Arc::new(config.chat.clone());
        // Cancelled when the service stops, after the drain delay: sockets close with 1001
        // before the server drains, and their clients resume on another instance.
        let sockets_shutdown = CancellationToken::new();

        let hub = Arc::new(Hub::new(chat.send_queue, &metrics));
        let signals = Signals::new(redis.clone(), &chat.redis_prefix);
        let presence = Presence::new(
            redis.clone(),
            &chat.redis_prefix,
            &chat.instance_id,
            chat.presence_ttl,
        );
        let rooms = Rooms::new(pool.clone(), signals.clone(), presence.clone());
        let messages = Messages::new(pool.clone());
        let attachments = Attachments::new(pool.clone(), store, config.attachments.clone());
        let tail = TopicTail::new(
            config.kafka.clone(),
            &[topics::CHAT_MESSAGES_V1, topics::SESSIONS_V1],
        )
        .with_stall_timeout(config.consumer.stall_timeout);

        let readiness = Readiness::new(&metrics)
            .with(DatabaseCheck::new("postgres", pool.clone()))
            .with(tail.readiness())
            .reporting(RedisCheck::new(redis.clone()))
            .reporting(KafkaCheck::new(producer));
        let fanout = FanOut::new(Arc::clone(&hub));
        let subscriber = (
            config.redis.clone(),
            chat.redis_prefix.clone(),
            Arc::clone(&hub),
        );
        let sweeper = (
            presence.clone(),
            Arc::clone(&hub),
            signals.clone(),
            chat.heartbeat,
        );
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
                UsersHandler,
                &metrics,
            ))
            .with_task("topic tail", move |shutdown| tail.run(fanout, shutdown))
            .with_task("Redis signals subscription", move |shutdown| {
                let (redis, prefix, hub) = subscriber;
                signals::subscribe(redis, prefix, hub, shutdown)
            })
            .with_task("presence sweeper", move |shutdown| {
                let (presence, hub, signals, every) = sweeper;
                presence::sweep_loop(presence, hub, signals, every, shutdown)
            })
            .with_task("WebSockets' shutdown", {
                let sockets = sockets_shutdown.clone();
                move |shutdown| async move {
                    shutdown.cancelled().await;
                    sockets.cancel();
                }
            });

        let context = web::Data::new(SocketContext {
            hub,
            rooms: rooms.clone(),
            messages: messages.clone(),
            presence,
            signals,
            config: Arc::clone(&chat),
            shutdown: sockets_shutdown.clone(),
        });
        let rooms = web::Data::new(rooms);
        let messages = web::Data::new(messages);
        let attachments = web::Data::new(attachments);
        let chat_config = web::Data::from(chat);
        let verifier = web::Data::new(TokenVerifier::new(config.verifier.clone(), redis));
        let http::Bound { port, server } =
            http::serve_app(&config.http, readiness, metrics, move |cfg| {
                cfg.app_data(context.clone())
                    .app_data(rooms.clone())
                    .app_data(messages.clone())
                    .app_data(attachments.clone())
                    .app_data(chat_config.clone())
                    .app_data(verifier.clone());
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

    /// Serves until `shutdown` is cancelled; then drains: out of rotation for the drain
    /// delay, then every socket closes with 1001 (going away), in-flight requests finish and
    /// the background loops stop.
    async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        self.background.serve(self.server, shutdown).await
    }
}
