//! The outbox relay: publishes outbox rows to the broker, in id order, marking each row
//! published only after the broker acknowledged it.
//!
//! One relay runs in every replica of a service, but only one is active: it holds a
//! PostgreSQL session-level advisory lock on its own connection. The others wait as standbys,
//! retrying the lock every poll interval; when the active one dies, its connection closes,
//! the lock is released, and a standby takes over within one interval.
//!
//! The active relay is woken as soon as a transaction that wrote outbox rows commits: in
//! process when the commit happened in its own replica, by `NOTIFY marquee_outbox` from the
//! standby relay of the replica where it happened (see [`outbox`](super::outbox#waking-the-relay)).
//! It also polls every `OUTBOX_POLL_INTERVAL`, so a lost wake-up delays an event but never
//! strands it. It reads the oldest
//! rows, sends them all with an idempotent producer (`acks=all`), awaits every acknowledgement
//! and deletes the acknowledged rows — the outbox holds only what is not yet published. Two
//! batches overlap: while the broker acknowledges one, the next is read and sent. A
//! failed delivery (broker down, topic missing) leaves its row in place; the relay rebuilds
//! its producer and retries with exponential backoff, forever, so nothing enqueued is ever
//! dropped.
//!
//! Delivery is at least once: a crash between the broker's ack and the delete republishes the
//! row with the same `ce_id`, which consumers recognise. Order holds per record key as long as
//! the writes of one aggregate are serialised by the database (they lock the same row).
//!
//! Metrics: `outbox_pending`, `outbox_oldest_age_seconds`, `outbox_relay_active`,
//! `outbox_published_total`, `outbox_publish_failures_total`.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::{FutureExt, StreamExt};
use prometheus::{Gauge, IntCounter, IntGauge};
use rdkafka::{
    error::KafkaError,
    producer::{DeliveryFuture, FutureRecord},
};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{
    KafkaConfig, Producer,
    envelope::Attributes,
    outbox::{self, PendingEvent, WAKE_CHANNEL as CHANNEL},
};
use crate::{
    config::{ConfigError, Env, in_range},
    http::metrics::Metrics,
    retry::Backoff,
    shutdown::sleep_or_shutdown,
    telemetry,
};

/// Advisory-lock key of the active relay ("marquee-o" in ASCII). One per database, and every
/// service has its own database, so one constant serves all.
const RELAY_LOCK_KEY: i64 = 0x6d61_7271_7565_656f;

/// How often the backlog gauges are refreshed while the relay is busy.
const BACKLOG_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `OUTBOX_POLL_INTERVAL` (default 1s): fallback poll when no notification arrives, and
    /// how often a standby tries to become active.
    pub poll_interval: Duration,
    /// `OUTBOX_BATCH_SIZE` (default 1000): rows read and sent per round.
    pub batch_size: i64,
    /// `OUTBOX_RETRY_MAX` (default 30s): the longest wait between retries while the broker
    /// or database is unavailable (starting at 100ms, doubling).
    pub retry_max: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            batch_size: 1000,
            retry_max: Duration::from_secs(30),
        }
    }
}

impl RelayConfig {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            poll_interval: env.duration_or("OUTBOX_POLL_INTERVAL", defaults.poll_interval)?,
            batch_size: in_range(
                "OUTBOX_BATCH_SIZE",
                env.or("OUTBOX_BATCH_SIZE", defaults.batch_size)?,
                1..=10_000,
            )?,
            retry_max: env.duration_or("OUTBOX_RETRY_MAX", defaults.retry_max)?,
        })
    }
}

/// The relay's metrics.
#[derive(Debug, Clone)]
struct RelayMetrics {
    pending: IntGauge,
    oldest_age: Gauge,
    active: IntGauge,
    published: IntCounter,
    failures: IntCounter,
    /// Events handed to the producer whose acknowledgement is awaited.
    in_flight: IntGauge,
}

impl RelayMetrics {
    fn register(metrics: &Metrics) -> Self {
        let relay = Self {
            pending: IntGauge::new("outbox_pending", "Outbox events not yet published")
                .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            oldest_age: Gauge::new(
                "outbox_oldest_age_seconds",
                "Age of the oldest unpublished outbox event (0 when none)",
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            active: IntGauge::new(
                "outbox_relay_active",
                "1 while this replica's relay is the active one",
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            published: IntCounter::new("outbox_published_total", "Outbox events published")
                .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            failures: IntCounter::new(
                "outbox_publish_failures_total",
                "Outbox rounds that ended with a failed delivery",
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            in_flight: IntGauge::new(
                "outbox_in_flight",
                "Outbox events sent to the broker and awaiting its acknowledgement",
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
        };
        metrics.register(relay.in_flight.clone());
        metrics.register(relay.pending.clone());
        metrics.register(relay.oldest_age.clone());
        metrics.register(relay.active.clone());
        metrics.register(relay.published.clone());
        metrics.register(relay.failures.clone());
        relay
    }
}

/// Why a relay session ended; the relay reconnects after any of them.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot create the producer: {0}")]
    Producer(#[from] KafkaError),
}

/// How a batch in flight ended.
#[derive(Debug)]
enum Settled {
    /// Every row acknowledged and deleted.
    Delivered,
    /// The acknowledged rows deleted; the others stay, and this is the first failure.
    Failed(KafkaError),
    /// Shutdown came and the broker did not answer in time: unacknowledged rows stay in the
    /// outbox for the next active relay.
    Abandoned,
}

/// A batch handed to the producer whose acknowledgements are not settled yet.
struct InFlight {
    /// Every row of the batch, sent or not: excluded from the next read until settled.
    ids: Vec<i64>,
    deliveries: Vec<(i64, DeliveryFuture)>,
    /// Why the producer refused a row outright (queue full, producer failed), if it did.
    refused: Option<KafkaError>,
}

/// Publishes one service's outbox. See the module docs.
#[derive(Debug)]
pub struct OutboxRelay {
    database_url: SecretString,
    kafka: KafkaConfig,
    /// `ce_source` of every event: the service's name.
    source: String,
    config: RelayConfig,
    metrics: RelayMetrics,
}

impl OutboxRelay {
    pub fn new(
        database_url: SecretString,
        kafka: KafkaConfig,
        source: impl Into<String>,
        config: RelayConfig,
        metrics: &Metrics,
    ) -> Self {
        Self {
            database_url,
            kafka,
            source: source.into(),
            config,
            metrics: RelayMetrics::register(metrics),
        }
    }

    /// Runs until `shutdown` is cancelled, reconnecting after any failure.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(100), self.config.retry_max);
        loop {
            let result = self.session(&shutdown).await;
            self.metrics.active.set(0);
            match result {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(%error, "outbox relay session ended; reconnecting");
                    if sleep_or_shutdown(backoff.next_delay(), &shutdown).await {
                        break;
                    }
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// One database session: wait to become active, then publish until shutdown (`Ok`) or
    /// a failure of the session's connection (`Err`).
    async fn session(&self, shutdown: &CancellationToken) -> Result<(), SessionError> {
        let mut conn = crate::db::connect(self.database_url.expose_secret()).await?;
        if self.become_active(&mut conn, shutdown).await? {
            self.publish(&mut conn, shutdown).await?;
        }
        Ok(())
    }

    /// Waits as a standby until this relay holds the lock, then prepares its connection to
    /// publish; `Ok(false)` when shutdown came first.
    async fn become_active(
        &self,
        conn: &mut AsyncPgConnection,
        shutdown: &CancellationToken,
    ) -> Result<bool, SessionError> {
        if self.stand_by(conn, shutdown).await? {
            return Ok(false);
        }
        tracing::info!("outbox relay is active");
        self.metrics.active.set(1);
        diesel::sql_query(format!("LISTEN {CHANNEL}"))
            .execute(&mut *conn)
            .await?;
        // The read skips the batch in flight with `id <> ALL($1)`, up to `batch_size` ids.
        // After five runs of a prepared statement PostgreSQL may settle on its generic plan,
        // which compares each row with every id of the array (1 000 × 1 000 comparisons: 3.9
        // ms a read); planned for the actual array it hashes it (0.4 ms, planning included).
        diesel::sql_query("SET plan_cache_mode = force_custom_plan")
            .execute(&mut *conn)
            .await?;
        Ok(true)
    }

    /// Publishes the outbox, as the active relay, until shutdown (`Ok`) or a failure of the
    /// connection (`Err`).
    async fn publish(
        &self,
        conn: &mut AsyncPgConnection,
        shutdown: &CancellationToken,
    ) -> Result<(), SessionError> {
        let mut producer = self.kafka.producer()?;
        warm_up(&producer).await;
        let mut backoff = Backoff::new(Duration::from_millis(100), self.config.retry_max);
        let mut last_backlog_refresh = Instant::now();
        // Two batches overlap: while the broker acknowledges one, the next is read and sent.
        let mut unsettled: Option<InFlight> = None;
        // Armed before every read, so a commit that lands after the read still wakes the wait.
        let mut committed = std::pin::pin!(outbox::commits().notified());
        committed.as_mut().enable();
        while !shutdown.is_cancelled() {
            let sending: &[i64] = unsettled.as_ref().map_or(&[], |batch| &batch.ids);
            let batch = outbox::oldest(&mut *conn, sending, self.config.batch_size).await?;
            let previous = if batch.is_empty() {
                let Some(previous) = unsettled.take() else {
                    self.refresh_backlog(conn).await?;
                    last_backlog_refresh = Instant::now();
                    let poll = self.config.poll_interval;
                    if wait_for_wakeup(conn, committed.as_mut(), poll, shutdown).await? {
                        return Ok(());
                    }
                    committed.set(outbox::commits().notified());
                    committed.as_mut().enable();
                    continue;
                };
                previous
            } else {
                match unsettled.replace(self.send(&producer, &batch)) {
                    Some(previous) => previous,
                    None => continue,
                }
            };

            let failure = match self.settle_unless_stopped(conn, previous, shutdown).await? {
                Settled::Abandoned => return Ok(()),
                Settled::Delivered => None,
                Settled::Failed(error) => Some(error),
            };
            if failure.is_some() {
                // The batch sent after the failed one shares its producer's fate: settle it
                // too, then start over from the oldest row left.
                if let Some(later) = unsettled.take() {
                    match self.settle_unless_stopped(conn, later, shutdown).await? {
                        Settled::Abandoned => return Ok(()),
                        Settled::Delivered | Settled::Failed(_) => {}
                    }
                }
            }
            // Counting the backlog costs a scan of it: while draining a large one, once a
            // second is enough for the gauges.
            if failure.is_some() || last_backlog_refresh.elapsed() >= BACKLOG_REFRESH_INTERVAL {
                self.refresh_backlog(conn).await?;
                last_backlog_refresh = Instant::now();
            }
            match failure {
                None => backoff.reset(),
                Some(error) => {
                    self.metrics.failures.inc();
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        %error,
                        retry_in_ms = delay.as_millis() as u64,
                        "outbox delivery failed; will retry"
                    );
                    // A fresh producer starts a fresh idempotence session: after a broker
                    // restart the old producer id may be unknown to it.
                    producer = self.kafka.producer()?;
                    if sleep_or_shutdown(delay, shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits until this relay holds the advisory lock (`Ok(false)`) or shutdown (`Ok(true)`),
    /// trying every poll interval. Meanwhile every burst of local commits that enqueued
    /// events is forwarded to the active relay with one `NOTIFY`.
    async fn stand_by(
        &self,
        conn: &mut AsyncPgConnection,
        shutdown: &CancellationToken,
    ) -> Result<bool, SessionError> {
        let mut committed = std::pin::pin!(outbox::commits().notified());
        committed.as_mut().enable();
        loop {
            let locked = diesel::select(pg_try_advisory_lock(RELAY_LOCK_KEY))
                .get_result(&mut *conn)
                .await?;
            if locked {
                return Ok(false);
            }
            self.refresh_backlog(conn).await?;
            let next_attempt = tokio::time::Instant::now() + self.config.poll_interval;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(true),
                    () = tokio::time::sleep_until(next_attempt) => break,
                    () = committed.as_mut() => {
                        // Re-armed first: commits during the NOTIFY are forwarded by the next.
                        committed.set(outbox::commits().notified());
                        committed.as_mut().enable();
                        diesel::sql_query(format!("NOTIFY {CHANNEL}")).execute(&mut *conn).await?;
                    }
                }
            }
        }
    }

    /// Hands every row of `batch` to the producer without waiting for the broker.
    fn send(&self, producer: &Producer, batch: &[PendingEvent]) -> InFlight {
        let mut in_flight = InFlight {
            ids: batch.iter().map(|row| row.id).collect(),
            deliveries: Vec::with_capacity(batch.len()),
            refused: None,
        };
        for row in batch {
            let trace_headers = publish_trace_headers(&row.trace_headers, &row.topic);
            let headers = Attributes {
                id: row.event_id,
                ce_type: row.ce_type.clone(),
                source: self.source.clone(),
                time: row.created_at,
                trace_headers,
            }
            .to_headers();
            let topic = self.kafka.topic(&row.topic);
            let record = FutureRecord::to(&topic)
                .key(&row.record_key)
                .payload(&row.payload)
                .headers(headers)
                .timestamp(row.created_at.timestamp_millis());
            match producer.send_result(record) {
                Ok(delivery) => in_flight.deliveries.push((row.id, delivery)),
                Err((error, _)) => {
                    // The rest stays in the outbox for the next round, in order.
                    in_flight.refused = Some(error);
                    break;
                }
            }
        }
        self.metrics
            .in_flight
            .add(in_flight.deliveries.len() as i64);
        in_flight
    }

    /// [`Self::settle`], unless shutdown was requested and the broker has not answered within
    /// [`SHUTDOWN_SETTLE_GRACE`] ([`Settled::Abandoned`]): a pod must not hang for the whole delivery
    /// timeout while the broker is down. Rows whose acknowledgement was not awaited stay in
    /// the outbox and are published again by the next active relay — consumers skip the
    /// duplicates by event id.
    async fn settle_unless_stopped(
        &self,
        conn: &mut AsyncPgConnection,
        batch: InFlight,
        shutdown: &CancellationToken,
    ) -> Result<Settled, SessionError> {
        let gave_up = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_SETTLE_GRACE).await;
        };
        tokio::select! {
            settled = self.settle(conn, batch) => settled,
            () = gave_up => {
                tracing::warn!("stopping with unacknowledged events; they stay in the outbox");
                self.metrics.in_flight.set(0);
                Ok(Settled::Abandoned)
            }
        }
    }

    /// Awaits every acknowledgement of `batch`, deletes the rows the broker acknowledged and
    /// says whether all were ([`Settled::Delivered`]) or which failure came first. While it waits (up to the delivery timeout when the
    /// broker is away) the backlog gauges keep being refreshed, so an outage shows on
    /// `outbox_pending` and `outbox_oldest_age_seconds` within a second.
    async fn settle(
        &self,
        conn: &mut AsyncPgConnection,
        batch: InFlight,
    ) -> Result<Settled, SessionError> {
        let mut acknowledgements = std::pin::pin!(self.acknowledgements(batch));
        let mut refresh = tokio::time::interval_at(
            tokio::time::Instant::now() + BACKLOG_REFRESH_INTERVAL,
            BACKLOG_REFRESH_INTERVAL,
        );
        let (delivered, failure) = loop {
            tokio::select! {
                settled = &mut acknowledgements => break settled,
                _ = refresh.tick() => self.refresh_backlog(conn).await?,
            }
        };
        if !delivered.is_empty() {
            outbox::delete(conn, &delivered).await?;
            self.metrics.published.inc_by(delivered.len() as u64);
        }
        Ok(failure.map_or(Settled::Delivered, Settled::Failed))
    }

    /// The rows of `batch` the broker acknowledged, and the first failure.
    async fn acknowledgements(&self, batch: InFlight) -> (Vec<i64>, Option<KafkaError>) {
        let mut failure = batch.refused;
        let mut delivered = Vec::with_capacity(batch.deliveries.len());
        for (id, delivery) in batch.deliveries {
            let answer = delivery.await;
            self.metrics.in_flight.dec();
            match answer {
                Ok(Ok(_)) => delivered.push(id),
                Ok(Err((error, _))) => {
                    failure.get_or_insert(error);
                }
                Err(_) => {
                    failure.get_or_insert(KafkaError::Canceled);
                }
            }
        }
        (delivered, failure)
    }

    async fn refresh_backlog(&self, conn: &mut AsyncPgConnection) -> QueryResult<()> {
        let (pending, oldest_age) = outbox::backlog(conn).await?;
        self.metrics.pending.set(pending);
        self.metrics.oldest_age.set(oldest_age);
        Ok(())
    }
}

diesel::define_sql_function! {
    fn pg_try_advisory_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}

/// Connects a new producer to the brokers before the first event needs it, so the first
/// publish after a relay becomes active does not also pay for the connection. Best effort.
async fn warm_up(producer: &Producer) {
    use rdkafka::producer::Producer as _;
    let producer = producer.clone();
    let _ = tokio::task::spawn_blocking(move || {
        producer
            .client()
            .fetch_metadata(None, Duration::from_secs(2))
    })
    .await;
}

/// How long a stopping relay still waits for the broker to acknowledge what it sent.
const SHUTDOWN_SETTLE_GRACE: Duration = Duration::from_secs(2);

/// Waits for a local commit, a notification from another replica, the poll interval, or
/// shutdown (`Ok(true)`).
async fn wait_for_wakeup(
    conn: &mut AsyncPgConnection,
    committed: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    poll_interval: Duration,
    shutdown: &CancellationToken,
) -> QueryResult<bool> {
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    tokio::select! {
        () = shutdown.cancelled() => return Ok(true),
        () = tokio::time::sleep(poll_interval) => {}
        () = committed => {}
        notification = notifications.next() => {
            if let Some(Err(error)) = notification {
                return Err(error);
            }
        }
    }
    // One round serves every notification that arrived meanwhile.
    while let Some(Some(Ok(_))) = notifications.next().now_or_never() {}
    Ok(false)
}

/// The trace headers a record carries: when the row was enqueued inside a trace, a `publish`
/// span (kind producer) is recorded as a child of that context, and the record carries the
/// span's own context, so the consumer's span hangs under the publish, which hangs under the
/// request that caused it. Rows enqueued outside a trace carry nothing.
fn publish_trace_headers(stored: &serde_json::Value, topic: &str) -> HashMap<String, String> {
    let stored: HashMap<String, String> = stored
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
        .collect();
    if stored.is_empty() {
        return stored;
    }
    let span = tracing::info_span!("publish", otel.kind = "producer", topic = %topic);
    telemetry::set_remote_parent(
        &span,
        telemetry::extract(stored.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    );
    let headers = telemetry::inject(&span.context());
    if headers.is_empty() { stored } else { headers }
}
