//! The idempotent consumer: at-least-once in, exactly-once effect.
//!
//! For every record of its topics, an [`InboxConsumer`] opens one database transaction,
//! inserts `(group, ce_id)` into the `inbox` table and, only if that row is new, runs the
//! [`EventHandler`] on the same connection; the effect and the inbox row commit together. A
//! redelivered event finds its inbox row and is skipped. The record's offset is stored only
//! after the commit (`enable.auto.offset.store=false`) and committed in the background, so a
//! crash at any point replays from the last applied event and nothing is skipped.
//!
//! Failures:
//! - the handler fails: the transaction rolls back and the event is retried with backoff, up
//!   to `CONSUMER_MAX_ATTEMPTS`; then (or at once for [`HandlerError::permanent`] and for
//!   records that are not well-formed events) it is published to `<topic>.<group>.dlq` with
//!   the error and its origin in headers, and the partition moves on;
//! - the database itself is unavailable (no connection, commit fails): retried with backoff
//!   until it returns — an outage must not send every event to the dead-letter topic.
//!
//! Metrics: `consumer_events_total{group,topic,outcome}` with outcome `applied`, `duplicate`
//! or `dead_lettered`, `consumer_handler_failures_total{group,topic}` and
//! `consumer_lag{group,topic,partition}` (from librdkafka's statistics, every 5 s),
//! `consumer_assigned_partitions{group}`, and from the stall [`Watchdog`]
//! `consumer_stalled{group}` and `consumer_restarts_total{group}`.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use prometheus::{IntCounterVec, IntGaugeVec, Opts};
use rdkafka::{
    consumer::Consumer as _,
    error::KafkaError,
    message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders},
    producer::FutureRecord,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    Consumer, ConsumerGuard, KafkaConfig, KafkaContext, Producer,
    context::ConsumerGauges,
    envelope::ReceivedEvent,
    watchdog::{Stall, Watchdog},
};
use crate::{
    config::{ConfigError, Env, in_range},
    db::{self, PgPool},
    http::metrics::Metrics,
    retry::Backoff,
    schema::inbox,
    shutdown::sleep_or_shutdown,
    telemetry,
};

/// How often applied event ids past `INBOX_RETENTION` are deleted.
const INBOX_SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Headers added to a dead-lettered record (besides all of the original's).
pub mod dlq_headers {
    pub const ERROR: &str = "dlq_error";
    pub const ORIGIN_TOPIC: &str = "dlq_origin_topic";
    pub const ORIGIN_PARTITION: &str = "dlq_origin_partition";
    pub const ORIGIN_OFFSET: &str = "dlq_origin_offset";
    pub const GROUP: &str = "dlq_consumer_group";
    pub const ATTEMPTS: &str = "dlq_attempts";
    pub const FAILED_AT: &str = "dlq_failed_at";
}

/// Why a handler could not apply an event.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    message: String,
    permanent: bool,
    /// The database connection was lost mid-event: not the event's fault, so the attempt
    /// does not count towards dead-lettering.
    database_unavailable: bool,
}

impl HandlerError {
    /// A failure that may pass (a conflict, a busy dependency): the event is retried.
    pub fn transient(cause: impl std::fmt::Display) -> Self {
        Self {
            message: cause.to_string(),
            permanent: false,
            database_unavailable: false,
        }
    }

    /// A failure no retry can fix (an event this handler cannot make sense of): the event
    /// goes to the dead-letter topic at once.
    pub fn permanent(cause: impl std::fmt::Display) -> Self {
        Self {
            message: cause.to_string(),
            permanent: true,
            database_unavailable: false,
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.permanent
    }
}

/// An id field of an event (`user_id`, `room_id`…); one that is not a UUID can never be
/// applied, so it is a permanent failure.
pub fn uuid_field(field: &str, raw: &str) -> Result<uuid::Uuid, HandlerError> {
    raw.parse()
        .map_err(|_| HandlerError::permanent(format!("{field} {raw:?} is not a UUID")))
}

impl From<diesel::result::Error> for HandlerError {
    /// A failed query is transient; one whose connection was lost (a database restart) is
    /// the database being away, retried like an unreachable database, without counting.
    fn from(error: diesel::result::Error) -> Self {
        Self {
            database_unavailable: crate::db::is_connection_lost(&error),
            ..Self::transient(error)
        }
    }
}

impl From<super::envelope::EnvelopeError> for HandlerError {
    fn from(error: super::envelope::EnvelopeError) -> Self {
        Self::permanent(error)
    }
}

/// Applies events. Runs inside the inbox transaction: use `conn` for every write so the
/// effect commits with the inbox row. Events of types it does not handle should be ignored
/// (`Ok(())`): topics carry several types, and new ones appear.
pub trait EventHandler: Send + Sync + 'static {
    fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        event: &ReceivedEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Runs after the effect of `event` has committed (never for duplicates or failures):
    /// the place for side effects that must not run before the change is visible, such as
    /// invalidating a cache. It cannot fail the event; the default does nothing.
    fn committed(&self, event: &ReceivedEvent) -> impl Future<Output = ()> + Send {
        let _ = event;
        async {}
    }
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The consumer group; also names the dead-letter topics and the inbox rows.
    pub group: String,
    /// Logical topics to read.
    pub topics: Vec<String>,
    /// `CONSUMER_MAX_ATTEMPTS` (default 5): handler attempts before dead-lettering.
    pub max_attempts: u32,
    /// `CONSUMER_RETRY_INITIAL` (default 100ms) and `CONSUMER_RETRY_MAX` (default 10s):
    /// backoff between attempts.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// `INBOX_RETENTION` (default 7d): how long applied event ids are remembered. A
    /// redelivery older than this (an offset reset, a replayed topic) would apply again.
    pub inbox_retention: Duration,
    /// `CONSUMER_STALL_TIMEOUT` (default 30s): how long the group may stay behind without
    /// committing while this member waits before the member is rebuilt (see [`Watchdog`]).
    pub stall_timeout: Duration,
}

impl ConsumerConfig {
    /// Settings from the environment. The group is `group` behind `KAFKA_TOPIC_PREFIX`, so
    /// environments sharing a cluster (or tests sharing a broker) never share a group.
    pub fn from_env(env: &Env, group: &str, topics: &[&str]) -> Result<Self, ConfigError> {
        let group = format!(
            "{}{group}",
            env.raw("KAFKA_TOPIC_PREFIX").unwrap_or_default()
        );
        Ok(Self {
            max_attempts: in_range(
                "CONSUMER_MAX_ATTEMPTS",
                env.or("CONSUMER_MAX_ATTEMPTS", 5)?,
                1..=100,
            )?,
            retry_initial: env.duration_or("CONSUMER_RETRY_INITIAL", Duration::from_millis(100))?,
            retry_max: env.duration_or("CONSUMER_RETRY_MAX", Duration::from_secs(10))?,
            inbox_retention: env
                .duration_or("INBOX_RETENTION", Duration::from_secs(7 * 24 * 3600))?,
            stall_timeout: env.duration_or("CONSUMER_STALL_TIMEOUT", Duration::from_secs(30))?,
            ..Self::new(&group, topics)
        })
    }

    /// Settings with the defaults above.
    pub fn new(group: &str, topics: &[&str]) -> Self {
        Self {
            group: group.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            max_attempts: 5,
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            inbox_retention: Duration::from_secs(7 * 24 * 3600),
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Duplicate,
    DeadLettered,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

/// Why [`InboxConsumer::consume`] returned.
#[derive(Debug)]
enum Ended {
    Shutdown,
    Stalled(Stall),
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("{0}")]
    Handler(HandlerError),
    #[error("database: {0}")]
    Database(String),
}

impl From<diesel::result::Error> for AttemptError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(error.to_string())
    }
}

/// Why the consumer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("cannot create the Kafka client: {0}")]
    Kafka(#[from] KafkaError),
}

#[derive(Debug, Clone)]
struct ConsumerMetrics {
    events: IntCounterVec,
    failures: IntCounterVec,
    lag: IntGaugeVec,
    assigned: IntGaugeVec,
    stalled: IntGaugeVec,
    restarts: IntCounterVec,
}

impl ConsumerMetrics {
    fn register(metrics: &Metrics) -> Self {
        let this = Self {
            events: IntCounterVec::new(
                Opts::new("consumer_events_total", "Events consumed, by outcome"),
                &["group", "topic", "outcome"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            failures: IntCounterVec::new(
                Opts::new("consumer_handler_failures_total", "Failed handler attempts"),
                &["group", "topic"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            lag: IntGaugeVec::new(
                Opts::new("consumer_lag", "Records behind the end of the partition"),
                &["group", "topic", "partition"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            assigned: IntGaugeVec::new(
                Opts::new(
                    "consumer_assigned_partitions",
                    "Partitions assigned to this member",
                ),
                &["group"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            stalled: IntGaugeVec::new(
                Opts::new(
                    "consumer_stalled",
                    "1 from a stall until the rebuilt member receives a record",
                ),
                &["group"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            restarts: IntCounterVec::new(
                Opts::new(
                    "consumer_restarts_total",
                    "Consumers closed and built again because they stalled",
                ),
                &["group"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
        };
        metrics.register(this.assigned.clone());
        metrics.register(this.stalled.clone());
        metrics.register(this.restarts.clone());
        metrics.register(this.events.clone());
        metrics.register(this.failures.clone());
        metrics.register(this.lag.clone());
        this
    }
}

/// A consumer group member that applies events exactly once. See the module docs.
pub struct InboxConsumer<H> {
    pool: PgPool,
    kafka: KafkaConfig,
    config: ConsumerConfig,
    handler: H,
    metrics: ConsumerMetrics,
}

impl<H> std::fmt::Debug for InboxConsumer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxConsumer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<H: EventHandler> InboxConsumer<H> {
    pub fn new(
        pool: PgPool,
        kafka: KafkaConfig,
        config: ConsumerConfig,
        handler: H,
        metrics: &Metrics,
    ) -> Self {
        Self {
            pool,
            kafka,
            config,
            handler,
            metrics: ConsumerMetrics::register(metrics),
        }
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.config.group
    }

    /// [`InboxConsumer::run`] as a background task of a service: a consumer that cannot
    /// start (bad configuration) is logged and stops the whole process through `shutdown`,
    /// so the orchestrator notices instead of a replica serving without it.
    pub async fn run_or_stop(self, shutdown: CancellationToken) {
        let group = self.config.group.clone();
        if let Err(error) = self.run(shutdown.clone()).await {
            tracing::error!(%error, %group, "consumer could not start; shutting down");
            shutdown.cancel();
        }
    }

    /// Consumes until `shutdown` is cancelled, then commits the stored offsets and leaves the
    /// group. A member the [`Watchdog`] finds stalled is closed and built again. Fails only
    /// if the clients cannot be created (bad configuration).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ConsumerError> {
        let dead_letters = self.kafka.producer()?;
        let topics: Vec<String> = self
            .config
            .topics
            .iter()
            .map(|t| self.kafka.topic(t))
            .collect();
        let mut watchdog = Watchdog::new(
            &self.kafka,
            &self.config.group,
            topics.clone(),
            self.config.stall_timeout,
        )?;
        let stalled = self
            .metrics
            .stalled
            .with_label_values(&[&self.config.group]);
        loop {
            let consumer = self.join(&topics)?;
            watchdog.reset();
            let ended = self
                .consume(&consumer, &dead_letters, &mut watchdog, &shutdown)
                .await;
            consumer.close(true).await;
            match ended {
                Ended::Shutdown => break,
                Ended::Stalled(stall) => {
                    tracing::error!(group = %self.config.group, %stall, "consumer stalled; rebuilding it to rejoin the group");
                    stalled.set(1);
                    self.metrics
                        .restarts
                        .with_label_values(&[&self.config.group])
                        .inc();
                }
            }
        }
        stalled.set(0);
        tracing::info!(group = %self.config.group, "consumer stopped");
        Ok(())
    }

    /// A new member of the group, subscribed to `topics`.
    fn join(&self, topics: &[String]) -> Result<ConsumerGuard<KafkaContext>, ConsumerError> {
        let context = KafkaContext::for_consumer(ConsumerGauges {
            group: self.config.group.clone(),
            lag: self.metrics.lag.clone(),
            assigned: self
                .metrics
                .assigned
                .with_label_values(&[&self.config.group]),
        });
        let consumer: Consumer = self
            .kafka
            .consumer_config(&self.config.group)
            .create_with_context(context)?;
        let consumer = ConsumerGuard::new(consumer, &self.config.group);
        consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
        tracing::info!(group = %self.config.group, ?topics, "consumer started");
        Ok(consumer)
    }

    /// Applies records until `shutdown`, or until the watchdog finds the member stalled.
    async fn consume(
        &self,
        consumer: &ConsumerGuard<KafkaContext>,
        dead_letters: &Producer,
        watchdog: &mut Watchdog,
        shutdown: &CancellationToken,
    ) -> Ended {
        let stalled = self
            .metrics
            .stalled
            .with_label_values(&[&self.config.group]);
        let mut receive_backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut sweep = tokio::time::interval(INBOX_SWEEP_INTERVAL);
        let mut watch = tokio::time::interval(watchdog.interval());
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut idle_since = Instant::now();
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return Ended::Shutdown,
                _ = sweep.tick() => {
                    self.sweep_inbox().await;
                    continue;
                }
                _ = watch.tick() => {
                    if let Some(stall) = watchdog.check(idle_since).await {
                        return Ended::Stalled(stall);
                    }
                    continue;
                }
                message = consumer.recv() => message,
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "receiving from the broker failed");
                    if sleep_or_shutdown(receive_backoff.next_delay(), shutdown).await {
                        return Ended::Shutdown;
                    }
                    continue;
                }
            };
            receive_backoff.reset();
            stalled.set(0);
            let Some(outcome) = self.process(&message, dead_letters, shutdown).await else {
                // Shut down mid-event: its offset stays unstored, it will be redelivered.
                return Ended::Shutdown;
            };
            idle_since = Instant::now();
            self.metrics
                .events
                .with_label_values(&[
                    &self.config.group,
                    self.kafka.logical_topic(message.topic()),
                    outcome.label(),
                ])
                .inc();
            if let Err(error) = consumer.store_offset_from_message(&message) {
                // The partition was revoked meanwhile; its new owner redelivers the event and
                // the inbox recognises it.
                tracing::warn!(%error, "storing the offset failed");
            }
        }
    }

    /// Forgets applied event ids older than the retention.
    async fn sweep_inbox(&self) {
        let cutoff = chrono::Utc::now() - self.config.inbox_retention;
        let result = async {
            let mut conn = db::connection(&self.pool).await?;
            let deleted = diesel::delete(
                inbox::table
                    .filter(inbox::consumer_group.eq(&self.config.group))
                    .filter(inbox::processed_at.lt(cutoff)),
            )
            .execute(&mut conn)
            .await?;
            Ok::<_, db::DbError>(deleted)
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "swept the inbox"),
            Err(error) => tracing::warn!(%error, "sweeping the inbox failed; will retry"),
        }
    }

    /// Applies one record; `None` if shutdown interrupted it.
    async fn process(
        &self,
        message: &BorrowedMessage<'_>,
        dead_letters: &Producer,
        shutdown: &CancellationToken,
    ) -> Option<Outcome> {
        let event = match ReceivedEvent::from_message(message) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, topic = message.topic(), offset = message.offset(), "not a Marquee event");
                return self
                    .dead_letter(message, &error.to_string(), 0, dead_letters, shutdown)
                    .await;
            }
        };
        let span = tracing::info_span!(
            "consume",
            otel.kind = "consumer",
            group = %self.config.group,
            ce_type = %event.ce_type(),
            ce_id = %event.id(),
            topic = %event.topic,
            partition = event.partition,
            offset = event.offset,
        );
        telemetry::set_remote_parent(
            &span,
            telemetry::extract(
                event
                    .attributes
                    .trace_headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
        );
        self.apply_with_retries(message, &event, dead_letters, shutdown)
            .instrument(span)
            .await
    }

    async fn apply_with_retries(
        &self,
        message: &BorrowedMessage<'_>,
        event: &ReceivedEvent,
        dead_letters: &Producer,
        shutdown: &CancellationToken,
    ) -> Option<Outcome> {
        let mut backoff = Backoff::new(self.config.retry_initial, self.config.retry_max);
        let mut attempts = 0;
        loop {
            match self.apply(event).await {
                Ok(outcome) => {
                    if outcome == Outcome::Applied {
                        self.handler.committed(event).await;
                    }
                    return Some(outcome);
                }
                Err(AttemptError::Database(error)) => {
                    tracing::warn!(%error, "database unavailable; retrying the event");
                }
                Err(AttemptError::Handler(error)) if error.database_unavailable => {
                    tracing::warn!(%error, "database connection lost; retrying the event");
                }
                Err(AttemptError::Handler(error)) => {
                    attempts += 1;
                    self.metrics
                        .failures
                        .with_label_values(&[
                            &self.config.group,
                            self.kafka.logical_topic(&event.topic),
                        ])
                        .inc();
                    if error.is_permanent() || attempts >= self.config.max_attempts {
                        tracing::error!(%error, attempts, "event failed; dead-lettering it");
                        return self
                            .dead_letter(
                                message,
                                &error.to_string(),
                                attempts,
                                dead_letters,
                                shutdown,
                            )
                            .await;
                    }
                    tracing::warn!(%error, attempts, "handler failed; retrying");
                }
            }
            if sleep_or_shutdown(backoff.next_delay(), shutdown).await {
                return None;
            }
        }
    }

    /// One attempt: inbox row and effect in one transaction.
    async fn apply(&self, event: &ReceivedEvent) -> Result<Outcome, AttemptError> {
        let mut conn = db::connection(&self.pool)
            .await
            .map_err(|e| AttemptError::Database(e.to_string()))?;
        let group = self.config.group.as_str();
        let logical_topic = self.kafka.logical_topic(&event.topic);
        let handler = &self.handler;
        super::outbox::wake_after_commit(conn.transaction(async move |conn| {
            let inserted = diesel::insert_into(inbox::table)
                .values((
                    inbox::consumer_group.eq(group),
                    inbox::event_id.eq(event.id()),
                    inbox::ce_type.eq(event.ce_type()),
                    inbox::topic.eq(logical_topic),
                ))
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if inserted == 0 {
                return Ok(Outcome::Duplicate);
            }
            handler
                .handle(conn, event)
                .await
                .map_err(AttemptError::Handler)?;
            Ok(Outcome::Applied)
        }))
        .await
    }

    /// Publishes the record to the group's dead-letter topic, retrying until the broker takes
    /// it (the offset must not move past an event that is neither applied nor kept).
    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        error: &str,
        attempts: u32,
        producer: &Producer,
        shutdown: &CancellationToken,
    ) -> Option<Outcome> {
        let topic = marquee_proto_events::topics::dead_letter(message.topic(), &self.config.group);
        let error: String = error.chars().take(1024).collect();
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let attempts = attempts.to_string();
        let failed_at = chrono::Utc::now().to_rfc3339();
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        loop {
            let mut headers = OwnedHeaders::new();
            if let Some(original) = message.headers() {
                for header in original.iter() {
                    headers = headers.insert(Header {
                        key: header.key,
                        value: header.value,
                    });
                }
            }
            for (key, value) in [
                (dlq_headers::ERROR, error.as_str()),
                (dlq_headers::ORIGIN_TOPIC, message.topic()),
                (dlq_headers::ORIGIN_PARTITION, partition.as_str()),
                (dlq_headers::ORIGIN_OFFSET, offset.as_str()),
                (dlq_headers::GROUP, self.config.group.as_str()),
                (dlq_headers::ATTEMPTS, attempts.as_str()),
                (dlq_headers::FAILED_AT, failed_at.as_str()),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(&topic).headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = message.payload() {
                record = record.payload(payload);
            }
            match producer.send(record, Duration::from_secs(5)).await {
                Ok(_) => return Some(Outcome::DeadLettered),
                Err((error, _)) => {
                    tracing::error!(%error, %topic, "cannot publish to the dead-letter topic; retrying");
                }
            }
            if sleep_or_shutdown(backoff.next_delay(), shutdown).await {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod handler_error_tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    #[test]
    fn a_lost_connection_does_not_count_as_a_failed_attempt() {
        let lost = HandlerError::from(Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_owned()),
        ));
        assert!(lost.database_unavailable && !lost.is_permanent());
        let conflict = HandlerError::from(Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key value".to_owned()),
        ));
        assert!(!conflict.database_unavailable && !conflict.is_permanent());
    }
}
