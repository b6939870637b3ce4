//! The frame every service's `Application` shares: why start-up failed ([`StartupError`]) and
//! the loops that run beside the HTTP server ([`Background`]: the outbox relay, the
//! consumers and any other loop), served and drained together.
//!
//! ```ignore
//! let background = Background::new().with_relay(relay).with_consumer(consumer);
//! // … later, in run_until_stopped:
//! background.serve(server, shutdown).await
//! ```

use actix_web::dev::Server;
use futures::{FutureExt, future::BoxFuture};

use crate::{
    db::DbError,
    http::ListenError,
    kafka::{
        KafkaError,
        consumer::{EventHandler, InboxConsumer},
        relay::OutboxRelay,
    },
    shutdown::{self, CancellationToken},
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

type Task = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

/// The loops a service runs beside its HTTP server, started when it serves.
#[derive(Default)]
pub struct Background {
    tasks: Vec<Task>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl Background {
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes the service's outbox.
    pub fn with_relay(mut self, relay: OutboxRelay) -> Self {
        self.tasks
            .push(Box::new(|shutdown| relay.run(shutdown).boxed()));
        self
    }

    /// Applies events; a consumer that cannot start stops the service
    /// ([`InboxConsumer::run_or_stop`]).
    pub fn with_consumer<H: EventHandler>(mut self, consumer: InboxConsumer<H>) -> Self {
        self.tasks
            .push(Box::new(|shutdown| consumer.run_or_stop(shutdown).boxed()));
        self
    }

    /// Any other loop that runs until `shutdown` is cancelled (a [`TopicTail`], a
    /// subscription).
    ///
    /// [`TopicTail`]: crate::kafka::tail::TopicTail
    pub fn with_task<F, Fut>(mut self, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.tasks.push(Box::new(|shutdown| task(shutdown).boxed()));
        self
    }

    /// Serves `server` with these loops until `shutdown` is cancelled, then drains both
    /// ([`shutdown::serve`]).
    pub async fn serve(self, server: Server, shutdown: CancellationToken) -> std::io::Result<()> {
        let tasks = self
            .tasks
            .into_iter()
            .map(|task| task(shutdown.clone()))
            .collect();
        shutdown::serve(server, tasks, shutdown).await
    }
}
