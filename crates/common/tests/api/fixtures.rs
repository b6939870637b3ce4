//! What the backbone tests share: a database with an `applied` table that the test handler
//! writes to, events to publish, and ways to run relays and consumers under a test's control.

use std::time::Duration;

use chrono::Utc;
use diesel::{prelude::*, sql_types::BigInt};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marquee_common::{
    db::PgPool,
    http::metrics::Metrics,
    kafka::{
        KafkaConfig,
        consumer::{ConsumerConfig, EventHandler, HandlerError, InboxConsumer},
        envelope::{Attributes, ReceivedEvent},
        outbox,
        relay::{OutboxRelay, RelayConfig},
    },
    shutdown::CancellationToken,
};
use marquee_proto_events::{Event, topics, users::v1::UserUpdated};
use marquee_testkit::{RecordCollector, TestDatabase, TestTopics};
use rdkafka::producer::FutureRecord;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const GROUP: &str = "profiles";
pub const WAIT: Duration = Duration::from_secs(30);

/// A database with the backbone tables plus `applied`, one row per handler effect (no unique
/// constraint on purpose: a double effect shows up as two rows).
pub async fn database() -> TestDatabase {
    let db = TestDatabase::create(None).await;
    let mut conn = db.connection().await;
    diesel::sql_query(
        "CREATE TABLE applied (event_id UUID NOT NULL, user_id TEXT NOT NULL, version BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .expect("create applied");
    db
}

/// A fresh database and a topic namespace in which the users topic and its dead-letter topic
/// for [`GROUP`] exist.
pub async fn backbone() -> (TestDatabase, TestTopics) {
    (
        database().await,
        TestTopics::create(&[topics::USERS_V1], &[GROUP]).await,
    )
}

/// Everything published on the users topic.
pub async fn collect_published(topics: &TestTopics) -> RecordCollector {
    RecordCollector::start(&topics.config, &topics.config.topic(topics::USERS_V1)).await
}

/// Everything [`GROUP`] dead-letters from the users topic.
pub async fn collect_dead_letters(topics: &TestTopics) -> RecordCollector {
    let topic = topics::dead_letter(&topics.config.topic(topics::USERS_V1), &topics.group(GROUP));
    RecordCollector::start(&topics.config, &topic).await
}

/// `UserUpdated` for `user`, with `version` as a sequence number tests can order by.
pub fn update(user: &str, version: u64) -> UserUpdated {
    UserUpdated {
        user_id: user.to_owned(),
        version,
        ..Default::default()
    }
}

/// Enqueues each event in its own committed transaction (through `db::transaction`, the
/// helper services use).
pub async fn enqueue_each(db: &TestDatabase, events: impl IntoIterator<Item = UserUpdated>) {
    let pool = db.pool();
    for event in events {
        marquee_common::db::transaction::<_, TestError, _>(&pool, |conn| {
            Box::pin(async move {
                outbox::enqueue(conn, &event).await?;
                Ok(())
            })
        })
        .await
        .expect("enqueue");
    }
}

/// The error type of the test transactions.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error(transparent)]
    Db(#[from] marquee_common::db::DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Publishes events straight to the broker with CloudEvents headers and chosen ids, bypassing
/// the outbox (to simulate redelivery and foreign producers).
pub struct DirectPublisher {
    producer: marquee_common::kafka::Producer,
    topic: String,
}

impl DirectPublisher {
    pub fn new(config: &KafkaConfig) -> Self {
        Self {
            producer: config.producer().expect("producer"),
            topic: config.topic(topics::USERS_V1),
        }
    }

    pub async fn publish(&self, event: &UserUpdated, id: Uuid) {
        let headers = Attributes {
            id,
            ce_type: UserUpdated::CE_TYPE.into(),
            source: "test".into(),
            time: Utc::now(),
            trace_headers: Default::default(),
        }
        .to_headers();
        let payload = prost::Message::encode_to_vec(event);
        self.publish_raw(
            FutureRecord::to(&self.topic)
                .key(event.key())
                .payload(payload.as_slice())
                .headers(headers),
        )
        .await;
    }

    pub async fn publish_raw<K: rdkafka::message::ToBytes + ?Sized>(
        &self,
        record: FutureRecord<'_, K, [u8]>,
    ) {
        self.producer
            .send(record, Duration::from_secs(5))
            .await
            .expect("publish");
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// Records each `UserUpdated` in `applied`; fails on purpose for the user id `poison`.
#[derive(Debug, Clone, Copy)]
pub struct RecordingHandler;

impl EventHandler for RecordingHandler {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandlerError> {
        let update: UserUpdated = event.decode()?;
        if update.user_id == "poison" {
            return Err(HandlerError::transient("this user cannot be processed"));
        }
        diesel::sql_query("INSERT INTO applied (event_id, user_id, version) VALUES ($1, $2, $3)")
            .bind::<diesel::sql_types::Uuid, _>(event.id())
            .bind::<diesel::sql_types::Text, _>(&update.user_id)
            .bind::<BigInt, _>(update.version as i64)
            .execute(conn)
            .await?;
        Ok(())
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `(rows in applied, distinct event ids in applied)`.
pub async fn applied_counts(pool: &PgPool) -> (i64, i64) {
    let mut conn = pool.get().await.expect("connection");
    let conn = &mut *conn;
    let total: Count = diesel::sql_query("SELECT count(*) AS n FROM applied")
        .get_result(conn)
        .await
        .expect("count");
    let distinct: Count = diesel::sql_query("SELECT count(DISTINCT event_id) AS n FROM applied")
        .get_result(conn)
        .await
        .expect("count");
    (total.n, distinct.n)
}

/// A relay or consumer running on its own task, stoppable by the test.
pub struct Running {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
    pub metrics: Metrics,
}

impl Running {
    /// Stops it cleanly and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("task ends cleanly");
    }
}

pub fn fast_relay_config() -> RelayConfig {
    RelayConfig {
        retry_max: Duration::from_millis(500),
        ..marquee_testkit::relay_config()
    }
}

pub fn start_relay(db: &TestDatabase, topics: &TestTopics) -> Running {
    start_relay_with(db, topics, fast_relay_config())
}

pub fn start_relay_with(db: &TestDatabase, topics: &TestTopics, config: RelayConfig) -> Running {
    marquee_testkit::init_logs();
    let metrics = Metrics::new();
    let relay = OutboxRelay::new(
        db.secret_url(),
        topics.config.clone(),
        "test-service",
        config,
        &metrics,
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    Running {
        shutdown,
        task,
        metrics,
    }
}

pub fn consumer_config(topics: &TestTopics) -> ConsumerConfig {
    ConsumerConfig {
        max_attempts: 3,
        retry_max: Duration::from_millis(100),
        ..topics.consumer_config(GROUP, &[topics::USERS_V1])
    }
}

pub fn start_consumer(db: &TestDatabase, topics: &TestTopics) -> Running {
    start_consumer_with(db, topics, consumer_config(topics))
}

/// [`start_consumer`] with settings of the test's own.
pub fn start_consumer_with(
    db: &TestDatabase,
    topics: &TestTopics,
    config: ConsumerConfig,
) -> Running {
    marquee_testkit::init_logs();
    let metrics = Metrics::new();
    let consumer = InboxConsumer::new(
        db.pool(),
        topics.config.clone(),
        config,
        RecordingHandler,
        &metrics,
    );
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        consumer.run(stop).await.expect("consumer runs");
    });
    Running {
        shutdown,
        task,
        metrics,
    }
}

/// The consumer's `consumer_events_total` for one outcome.
pub fn consumed(running: &Running, topics: &TestTopics, outcome: &str) -> f64 {
    running
        .metrics
        .value(
            "consumer_events_total",
            &[("group", &topics.group(GROUP)), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
}

/// Waits until `applied` holds at least `n` rows; returns `(rows, distinct event ids)`.
pub async fn wait_for_applied(db: &TestDatabase, n: i64, timeout: Duration) -> (i64, i64) {
    let pool = db.pool();
    let pool = &pool;
    marquee_testkit::eventually_async(timeout, &format!("{n} effects applied"), || async move {
        Some(applied_counts(pool).await).filter(|(total, _)| *total >= n)
    })
    .await
}
