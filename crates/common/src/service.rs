//! The frame every service's `Application` shares: why start-up failed ([`StartupError`]) and
//! the loops that run beside the HTTP server ([`Background`]: the outbox relay, the
//! consumers and any other loop), served and drained together; and what every binary does
//! with its service ([`Service`], [`run`]: `serve`, `migrate`, `healthcheck`).
//!
//! ```ignore
//! let background = Background::new(Drain::new(readiness.clone(), config.http.drain_delay))
//!     .with_relay(relay)
//!     .with_consumer(consumer);
//! // … later, in run_until_stopped:
//! background.serve(server, shutdown).await
//! ```

use std::time::Duration;

use actix_web::dev::Server;
use anyhow::Context;
use diesel_migrations::EmbeddedMigrations;
use futures::FutureExt;
use secrecy::ExposeSecret;

use crate::{
    config::{ConfigError, Env},
    db::{self, DatabaseConfig, DbError},
    http::{HttpConfig, ListenError, health},
    kafka::{
        KafkaError,
        consumer::{EventHandler, InboxConsumer},
        relay::OutboxRelay,
    },
    shutdown::{self, CancellationToken, Drain, NamedTask},
    telemetry::{self, TelemetryConfig},
};

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// A part of the service itself (signing keys, a bundled catalogue…).
    #[error("{what}: {source}")]
    Component {
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StartupError {
    /// `what` failed to start because of `source`.
    pub fn component(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Component {
            what,
            source: source.into(),
        }
    }
}

/// The loops a service runs beside its HTTP server, started when it serves, and how the
/// server leaves rotation when it stops ([`Drain`]).
pub struct Background {
    tasks: Vec<NamedTask>,
    drain: Drain,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl Background {
    /// No loops yet; `drain` is the service's readiness and `HTTP_DRAIN_DELAY`.
    pub fn new(drain: Drain) -> Self {
        Self {
            tasks: Vec::new(),
            drain,
        }
    }

    /// Publishes the service's outbox.
    pub fn with_relay(mut self, relay: OutboxRelay) -> Self {
        self.tasks.push((
            "outbox relay".to_owned(),
            Box::new(|shutdown| relay.run(shutdown).boxed()),
        ));
        self
    }

    /// Applies events; a consumer that cannot start stops the service
    /// ([`InboxConsumer::run_or_stop`]).
    pub fn with_consumer<H: EventHandler>(mut self, consumer: InboxConsumer<H>) -> Self {
        self.tasks.push((
            format!("consumer {}", consumer.group()),
            Box::new(|shutdown| consumer.run_or_stop(shutdown).boxed()),
        ));
        self
    }

    /// Any other loop that runs until its token is cancelled (a [`TopicTail`], a
    /// subscription, the closing of open WebSockets), which happens once the drain delay is
    /// over; `name` says which in the log if it does not stop in time.
    ///
    /// [`TopicTail`]: crate::kafka::tail::TopicTail
    pub fn with_task<F, Fut>(mut self, name: &str, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks
            .push((name.to_owned(), Box::new(|shutdown| task(shutdown).boxed())));
        self
    }

    /// Serves `server` with these loops until `shutdown` is cancelled, then drains both
    /// ([`shutdown::serve`]).
    pub async fn serve(self, server: Server, shutdown: CancellationToken) -> std::io::Result<()> {
        shutdown::serve(server, self.tasks, self.drain, shutdown).await
    }
}

/// A service's `Application`, as every binary serves it ([`run`]).
///
/// `build` binds the listener (port 0 in tests) and returns; `run_until_stopped` serves until
/// the shutdown signal, then drains. Tests, `xtask` and `main` all start the same code path.
pub trait Service: Sized {
    /// The binary's name.
    const NAME: &'static str;
    /// The port when `PORT` is unset.
    const DEFAULT_PORT: u16;
    /// The service's own migrations (after the backbone's); `None` without a database.
    const MIGRATIONS: Option<EmbeddedMigrations>;
    type Config;

    /// Reads and validates the configuration from the environment.
    fn config_from_env(env: &Env) -> Result<Self::Config, ConfigError>;
    fn telemetry(config: &Self::Config) -> &TelemetryConfig;
    /// Prepares the schema, connects the dependencies (lazily: one that is down makes the
    /// service not ready, not dead) and binds the listener.
    fn build(config: Self::Config) -> impl Future<Output = Result<Self, StartupError>>;
    /// The port the listener is bound to.
    fn port(&self) -> u16;
    /// Serves until `shutdown` is cancelled, then drains in-flight requests and the
    /// background loops.
    fn run_until_stopped(
        self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = std::io::Result<()>>;
}

/// The subcommands every service binary has (`serve` when none is given).
#[derive(Debug, Clone, Copy, Default, clap::Subcommand)]
pub enum Command {
    /// Serve HTTP and run the service's relay and consumers (the default).
    #[default]
    Serve,
    /// Apply the database migrations (`DATABASE_URL`) and exit: the migration job.
    Migrate {
        /// First create the database the URL names, unless it exists (local set-ups; needs
        /// the `CREATEDB` privilege).
        #[arg(long)]
        create_database: bool,
    },
    /// Exit 0 when this host's service answers /health/live (the container health check).
    Healthcheck,
}

/// Runs `command` for service `S`.
pub async fn run<S: Service>(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::<S>().await,
        Command::Migrate { create_database } => match S::MIGRATIONS {
            Some(migrations) => migrate(migrations, create_database).await,
            None => anyhow::bail!("{} has no database to migrate", S::NAME),
        },
        Command::Healthcheck => healthcheck(S::DEFAULT_PORT),
    }
}

/// `<service> serve`: configuration from the environment, telemetry, then the service until
/// SIGTERM or Ctrl-C.
async fn serve<S: Service>() -> anyhow::Result<()> {
    let config = S::config_from_env(&Env::from_process())?;
    let _telemetry = telemetry::init(S::telemetry(&config)).context("starting telemetry")?;
    let application = S::build(config)
        .await
        .with_context(|| format!("starting {}", S::NAME))?;
    tracing::info!(port = application.port(), "{} listening", S::NAME);
    application
        .run_until_stopped(shutdown::on_signal())
        .await
        .context("serving")
}

/// How long `healthcheck` waits for the answer (container runtimes give the command ~30 s).
const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// `<service> healthcheck`: succeeds when the service configured by this environment (`PORT`,
/// else `default_port`; `HTTP_HOST`) answers `GET /health/live` with 200. It is the container
/// image's `HEALTHCHECK`, which has no shell or curl to ask with.
fn healthcheck(default_port: u16) -> anyhow::Result<()> {
    let config = HttpConfig::from_env(&Env::from_process(), default_port)?;
    health::probe_live(&config, HEALTHCHECK_TIMEOUT)
        .with_context(|| format!("no live service on port {}", config.port))
}

/// `<service> migrate`: applies the backbone's and then `service`'s pending migrations to
/// `DATABASE_URL`, and returns. The migration job of a deployment whose pods run with
/// `DATABASE_MIGRATE_ON_START=false`.
async fn migrate(service: EmbeddedMigrations, create_database: bool) -> anyhow::Result<()> {
    let database = DatabaseConfig::from_env(&Env::from_process())?;
    if create_database {
        let created = db::create_database(database.url.expose_secret())
            .await
            .map_err(anyhow::Error::msg)?;
        println!(
            "the database {}",
            if created { "was created" } else { "exists" }
        );
    }
    let applied = db::migrate(&database.url, Some(service))
        .await
        .context("migrating the database")?;
    if applied.is_empty() {
        println!("the schema is up to date");
    } else {
        println!(
            "applied {} migration(s): {}",
            applied.len(),
            applied.join(", ")
        );
    }
    Ok(())
}
