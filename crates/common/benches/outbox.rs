//! The event backbone's speed on this machine, against the real broker and PostgreSQL:
//!
//! 1. **raw producer**: N records with CloudEvents headers sent straight to the broker with the
//!    same idempotent producer settings the relay uses — the ceiling;
//! 2. **relay**: N events already committed to the outbox, published by the relay (read in
//!    batches, sent, acknowledged, deleted) — DESIGN §9 asks for ≥ 80 % of (1);
//! 3. **commit → effect latency**: events committed one transaction at a time at a steady
//!    rate, relayed, consumed by an inbox consumer; the time from the event's `ce_time` (just
//!    before its commit) to the consumer's handler — DESIGN §9 asks for p99 ≤ 50 ms.
//!
//! Run it with `cargo xtask bench` (dependencies started for you). `BENCH_EVENTS` (default
//! 100000) sets N; `BENCH_LATENCY_EVENTS` (default 2000) and `BENCH_LATENCY_RATE` (default 200
//! per second) shape (3).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use marquee_common::{
    db,
    http::metrics::Metrics,
    kafka::{
        consumer::{ConsumerConfig, EventHandler, HandlerError, InboxConsumer},
        envelope::{Attributes, ReceivedEvent},
        outbox::{self, NewOutboxEvent},
        relay::{OutboxRelay, RelayConfig},
    },
    shutdown::CancellationToken,
};
use marquee_proto_events::{Event, topics, users::v1::UserUpdated};
use marquee_testkit::{RecordCollector, TestDatabase, TestTopics, eventually};
use rdkafka::producer::FutureRecord;

const GROUP: &str = "bench";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(i: usize) -> UserUpdated {
    UserUpdated {
        user_id: format!("user-{}", i % 1000),
        version: i as u64,
        display_name: Some(format!("User number {i}")),
        ..Default::default()
    }
}

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

#[tokio::main]
async fn main() {
    let n = env_number("BENCH_EVENTS", 100_000);
    let latency_events = env_number("BENCH_LATENCY_EVENTS", 2_000);
    let latency_rate = env_number("BENCH_LATENCY_RATE", 200);
    println!(
        "outbox benchmark: {n} events; latency over {latency_events} events at {latency_rate}/s"
    );
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let raw = raw_producer_rate(n).await;
    let relay = relay_rate(n).await;
    let latencies = commit_to_effect(latency_events, latency_rate).await;

    println!();
    println!("| measure | result |");
    println!("|---|---|");
    println!("| raw idempotent producer | {raw:.0} events/s |");
    println!(
        "| outbox relay | {relay:.0} events/s ({:.0} % of raw) |",
        relay / raw * 100.0
    );
    for (name, q) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)] {
        println!(
            "| commit → effect {name} | {:.1} ms |",
            quantile(&latencies, q)
        );
    }
    println!(
        "| commit → effect max | {:.1} ms |",
        quantile(&latencies, 1.0)
    );
}

async fn raw_producer_rate(n: usize) -> f64 {
    let topics = TestTopics::create(&[topics::USERS_V1], &[]).await;
    let producer = topics.config.producer().expect("producer");
    let topic = topics.config.topic(topics::USERS_V1);
    let records: Vec<(String, Vec<u8>, Attributes)> = (0..n)
        .map(|i| {
            let e = event(i);
            let attributes = Attributes {
                id: uuid::Uuid::now_v7(),
                ce_type: UserUpdated::CE_TYPE.into(),
                source: "bench".into(),
                time: Utc::now(),
                trace_headers: Default::default(),
            };
            (
                e.key().to_owned(),
                prost::Message::encode_to_vec(&e),
                attributes,
            )
        })
        .collect();
    // Warm up: connect and get a producer id before the clock starts.
    let (key, payload, attributes) = &records[0];
    producer
        .send(
            FutureRecord::to(&topic)
                .key(key)
                .payload(payload)
                .headers(attributes.to_headers()),
            Duration::from_secs(30),
        )
        .await
        .expect("warm-up record");
    let started = Instant::now();
    let deliveries: Vec<_> = records
        .iter()
        .map(|(key, payload, attributes)| {
            producer
                .send_result(
                    FutureRecord::to(&topic)
                        .key(key)
                        .payload(payload)
                        .headers(attributes.to_headers()),
                )
                .map_err(|(e, _)| e)
                .expect("enqueue")
        })
        .collect();
    for delivery in deliveries {
        delivery.await.expect("delivery").expect("acknowledged");
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    println!("raw producer: {n} in {:.2?}", started.elapsed());
    rate
}

async fn relay_rate(n: usize) -> f64 {
    let db = TestDatabase::create(None).await;
    let topics = TestTopics::create(&[topics::USERS_V1], &[]).await;
    let pool = db.pool();
    let metrics = Metrics::new();
    let relay = bench_relay(&db, &topics, &metrics);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    let published = |count: usize| {
        let metrics = metrics.clone();
        move || (metrics.value("outbox_published_total", &[]) >= Some(count as f64)).then_some(())
    };

    // Warm up: the relay becomes active and its producer connects on the first event.
    let first = event(0);
    enqueue_one(&pool, first).await;
    eventually(
        Duration::from_secs(60),
        "the warm-up event published",
        published(1),
    )
    .await;

    // All N committed at once, then the clock runs until the relay has published them.
    let rows: Vec<NewOutboxEvent> = (0..n).map(|i| NewOutboxEvent::new(&event(i))).collect();
    db::transaction::<_, BenchError, _>(&pool, |conn| {
        Box::pin(async move {
            for chunk in rows.chunks(5000) {
                outbox::enqueue_all(conn, chunk.to_vec()).await?;
            }
            Ok(())
        })
    })
    .await
    .expect("enqueue");
    let started = Instant::now();
    eventually(
        Duration::from_secs(600),
        "the relay to publish everything",
        published(n + 1),
    )
    .await;
    let elapsed = started.elapsed();
    shutdown.cancel();
    task.await.expect("relay stops");
    println!("relay: {n} in {elapsed:.2?}");
    n as f64 / elapsed.as_secs_f64()
}

/// Records, for each event, how long after its `ce_time` the handler ran.
#[derive(Clone, Default)]
struct LatencyRecorder(Arc<Mutex<Vec<f64>>>);

impl EventHandler for LatencyRecorder {
    async fn handle(
        &self,
        _conn: &mut AsyncPgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandlerError> {
        let latency = Utc::now() - event.attributes.time;
        self.0
            .lock()
            .expect("lock")
            .push(latency.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0);
        Ok(())
    }
}

async fn commit_to_effect(events: usize, rate: usize) -> Vec<f64> {
    let db = TestDatabase::create(None).await;
    let mut topics = TestTopics::create(&[topics::USERS_V1], &[GROUP]).await;
    if let Some(wait) = std::env::var("KAFKA_FETCH_WAIT_MAX")
        .ok()
        .and_then(|v| humantime::parse_duration(&v).ok())
    {
        topics.config.fetch_wait_max = wait;
    }
    println!(
        "consumer fetch.wait.max.ms: {:?}",
        topics.config.fetch_wait_max
    );
    let metrics = Metrics::new();
    let shutdown = CancellationToken::new();
    let relay = bench_relay(&db, &topics, &metrics);
    let relay_task = tokio::spawn(relay.run(shutdown.clone()));
    let recorder = LatencyRecorder::default();
    let consumer = InboxConsumer::new(
        db.pool(),
        topics.config.clone(),
        ConsumerConfig::new(&topics.group(GROUP), &[topics::USERS_V1]),
        recorder.clone(),
        &metrics,
    );
    let consumer_task = tokio::spawn(consumer.run(shutdown.clone()));
    let collector =
        RecordCollector::start(&topics.config, &topics.config.topic(topics::USERS_V1)).await;
    eventually(
        Duration::from_secs(60),
        "the consumer to be assigned",
        || (metrics.value("consumer_assigned_partitions", &[]) == Some(3.0)).then_some(()),
    )
    .await;

    let pool = db.pool();
    // Warm up: the relay's producer connects and gets its producer id on its first send,
    // which is start-up cost, not steady-state latency. Reported separately.
    let warm_up = Instant::now();
    let first = event(usize::MAX / 2);
    enqueue_one(&pool, first).await;
    eventually(Duration::from_secs(60), "the warm-up event applied", || {
        (!recorder.0.lock().expect("lock").is_empty()).then_some(())
    })
    .await;
    println!(
        "first event after start-up: {:.0?} from commit to effect",
        warm_up.elapsed()
    );
    recorder.0.lock().expect("lock").clear();
    let measured_from = Utc::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for i in 0..events {
        ticker.tick().await;
        enqueue_one(&pool, event(i)).await;
    }
    eventually(Duration::from_secs(120), "every event applied", || {
        (recorder.0.lock().expect("lock").len() >= events).then_some(())
    })
    .await;
    let mut visible: Vec<f64> = collector
        .wait_for(events + 1, Duration::from_secs(60))
        .await
        .iter()
        .filter_map(|r| {
            let ce_time =
                chrono::DateTime::parse_from_rfc3339(&r.headers["ce_time"]).expect("ce_time");
            let ce_time = ce_time.with_timezone(&Utc);
            let received: chrono::DateTime<Utc> = r.received_at.into();
            (ce_time >= measured_from)
                .then(|| (received - ce_time).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        })
        .collect();
    visible.sort_by(f64::total_cmp);
    println!(
        "commit → readable on the topic: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        quantile(&visible, 0.5),
        quantile(&visible, 0.99),
        quantile(&visible, 1.0)
    );
    shutdown.cancel();
    relay_task.await.expect("relay stops");
    consumer_task
        .await
        .expect("consumer stops")
        .expect("consumer ran");
    let mut latencies = recorder.0.lock().expect("lock").clone();
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn bench_relay(db: &TestDatabase, topics: &TestTopics, metrics: &Metrics) -> OutboxRelay {
    OutboxRelay::new(
        db.secret_url(),
        topics.config.clone(),
        "bench",
        RelayConfig::default(),
        metrics,
    )
}

/// Commits one event in its own transaction, as a service would.
async fn enqueue_one(pool: &db::PgPool, event: UserUpdated) {
    db::transaction::<_, BenchError, _>(pool, |conn| {
        Box::pin(async move { Ok(outbox::enqueue(conn, &event).await?) })
    })
    .await
    .expect("enqueue");
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index]
}
