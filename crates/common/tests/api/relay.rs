//! The outbox and its relay: what is committed is published, in order per key, exactly when
//! committed, whoever is the active relay and whatever the broker does meanwhile.

use std::{collections::HashMap, time::Duration};

use diesel_async::AsyncConnection;
use marquee_common::{
    kafka::outbox,
    telemetry::{self, LogFormat, TelemetryConfig},
};
use marquee_proto_events::{Event, topics, users::v1::UserUpdated};
use marquee_testkit::{BrokerProcess, TestTopics, eventually};
use prost::Message;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::fixtures::*;

fn decode(payload: &[u8]) -> UserUpdated {
    UserUpdated::decode(payload).expect("a UserUpdated payload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_events_are_published_in_order_per_key_with_cloudevents_headers() {
    let (db, topics) = backbone().await;
    let collector = collect_published(&topics).await;
    let relay = start_relay(&db, &topics);

    let users = ["ada", "grace", "alan"];
    enqueue_each(&db, (1..=20).flat_map(|v| users.map(|u| update(u, v)))).await;

    let records = collector.wait_for(60, WAIT).await;
    assert_eq!(records.len(), 60, "every event exactly once");
    let mut last_version: HashMap<String, u64> = HashMap::new();
    let mut partitions: HashMap<String, i32> = HashMap::new();
    let mut by_partition = records.clone();
    by_partition.sort_by_key(|r| (r.partition, r.offset));
    for record in &by_partition {
        let event = decode(&record.payload);
        assert_eq!(
            record.key.as_deref(),
            Some(event.user_id.as_str()),
            "keyed by aggregate id"
        );
        let previous = last_version
            .insert(event.user_id.clone(), event.version)
            .unwrap_or(0);
        assert_eq!(
            event.version,
            previous + 1,
            "per-key order for {}",
            event.user_id
        );
        let partition = *partitions
            .entry(event.user_id.clone())
            .or_insert(record.partition);
        assert_eq!(partition, record.partition, "one key, one partition");
        assert_eq!(record.headers["ce_specversion"], "1.0");
        assert_eq!(record.headers["ce_type"], UserUpdated::CE_TYPE);
        assert_eq!(record.headers["ce_source"], "test-service");
        assert_eq!(record.headers["content-type"], "application/protobuf");
        let id = uuid::Uuid::parse_str(&record.headers["ce_id"]).expect("ce_id is a UUID");
        assert_eq!(id.get_version_num(), 7, "ce_id is a UUIDv7");
        chrono::DateTime::parse_from_rfc3339(&record.headers["ce_time"])
            .expect("ce_time is RFC 3339");
    }

    eventually(WAIT, "outbox_pending back to 0", || {
        (relay.metrics.value("outbox_pending", &[]) == Some(0.0)).then_some(())
    })
    .await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_publishes_nothing() {
    let (db, topics) = backbone().await;
    let collector = collect_published(&topics).await;
    let relay = start_relay(&db, &topics);

    let pool = db.pool();
    let rolled_back = marquee_common::db::transaction::<(), TestError, _>(&pool, |conn| {
        Box::pin(async move {
            outbox::enqueue(conn, &update("ghost", 1)).await?;
            Err(diesel::result::Error::RollbackTransaction.into())
        })
    })
    .await;
    assert!(rolled_back.is_err());
    // A committed event for the same key, enqueued afterwards: same partition, so had the
    // rolled-back event been published it would be read before this one.
    enqueue_each(&db, [update("ghost", 2)]).await;

    let records = collector.wait_for(1, WAIT).await;
    let versions: Vec<u64> = records.iter().map(|r| decode(&r.payload).version).collect();
    assert_eq!(versions, [2], "only the committed event is published");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_while_the_broker_is_down_all_arrive_and_apply_once() {
    let broker = BrokerProcess::start().await;
    let db = database().await;
    let topics = TestTopics::create_on(&broker.brokers(), &[topics::USERS_V1], &[GROUP]).await;
    let relay = start_relay(&db, &topics);
    let consumer = start_consumer(&db, &topics);
    // Events flow before the outage, so both clients are connected and positioned.
    enqueue_each(
        &db,
        (1..=20).map(|v| update(&format!("user-{}", v % 17), v)),
    )
    .await;
    wait_for_applied(&db, 20, WAIT).await;

    broker.cut().await;
    enqueue_each(
        &db,
        (21..=220).map(|v| update(&format!("user-{}", v % 17), v)),
    )
    .await;
    let pending = eventually(WAIT, "the relay to report the backlog", || {
        relay
            .metrics
            .value("outbox_pending", &[])
            .filter(|p| *p >= 200.0)
    })
    .await;
    assert_eq!(
        pending, 200.0,
        "all 200 are held in the outbox while the broker is down"
    );

    broker.restore();
    let (total, distinct) = wait_for_applied(&db, 220, WAIT).await;
    assert_eq!(
        (total, distinct),
        (220, 220),
        "each event applied exactly once"
    );
    eventually(WAIT, "outbox_pending back to 0", || {
        (relay.metrics.value("outbox_pending", &[]) == Some(0.0)).then_some(())
    })
    .await;
    assert_eq!(
        relay.metrics.value("outbox_oldest_age_seconds", &[]),
        Some(0.0)
    );

    consumer.stop().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_relay_takes_over_when_the_active_one_dies() {
    let (db, topics) = backbone().await;
    let collector = collect_published(&topics).await;

    let first = start_relay(&db, &topics);
    eventually(WAIT, "the first relay to become active", || {
        (first.metrics.value("outbox_relay_active", &[]) == Some(1.0)).then_some(())
    })
    .await;
    let second = start_relay(&db, &topics);

    enqueue_each(&db, (1..=50).map(|v| update("ada", v))).await;
    collector.wait_for(50, WAIT).await;
    assert_eq!(
        second.metrics.value("outbox_relay_active", &[]),
        Some(0.0),
        "one active relay"
    );
    assert_eq!(
        second.metrics.value("outbox_published_total", &[]),
        Some(0.0),
        "the standby published nothing"
    );

    // Kill the active relay without a clean shutdown: its task and connection just vanish.
    first.task.abort();
    let _ = first.task.await;
    enqueue_each(&db, (51..=100).map(|v| update("ada", v))).await;

    eventually(WAIT, "the standby to take over", || {
        (second.metrics.value("outbox_relay_active", &[]) == Some(1.0)).then_some(())
    })
    .await;
    let records = collector.wait_for(100, WAIT).await;
    let mut versions: Vec<u64> = records.iter().map(|r| decode(&r.payload).version).collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions, (1..=100).collect::<Vec<_>>(), "no event lost");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_wakes_the_active_relay_at_once_and_a_standby_forwards_the_wake_up() {
    use futures::StreamExt;

    let (db, topics) = backbone().await;
    let collector = collect_published(&topics).await;
    // Polls so rare that only a wake-up can publish within the test's bound.
    let poll = Duration::from_secs(120);
    let sleepy = marquee_common::kafka::relay::RelayConfig {
        poll_interval: poll,
        ..fast_relay_config()
    };
    let active = start_relay_with(&db, &topics, sleepy.clone());
    eventually(WAIT, "the first relay to become active", || {
        (active.metrics.value("outbox_relay_active", &[]) == Some(1.0)).then_some(())
    })
    .await;
    let bound = poll / 4;
    let started = std::time::Instant::now();
    enqueue_each(&db, [update("ada", 1)]).await;
    collector.wait_for(1, bound).await;
    assert!(started.elapsed() < bound, "woken, not polled");

    // A standby relay forwards its replica's commits to the active one (here it would have
    // heard them in process anyway): what another replica's active relay listens for.
    let standby = start_relay_with(&db, &topics, sleepy);
    let mut listener = db.connection().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!("LISTEN {}", outbox::WAKE_CHANNEL)),
        &mut listener,
    )
    .await
    .expect("listen");
    let mut notifications = std::pin::pin!(listener.notifications_stream());
    let started = std::time::Instant::now();
    let mut version = 1;
    // The standby hears commits once it has connected; until then, commit again.
    let forwarded = loop {
        version += 1;
        enqueue_each(&db, [update("ada", version)]).await;
        let heard = tokio::time::timeout(Duration::from_millis(500), notifications.next()).await;
        if let Ok(notification) = heard {
            break notification;
        }
        assert!(
            started.elapsed() < bound,
            "the standby never forwarded a commit"
        );
    };
    assert!(matches!(forwarded, Some(Ok(_))), "{forwarded:?}");
    collector.wait_for(version as usize, bound).await;
    assert_eq!(
        standby.metrics.value("outbox_published_total", &[]),
        Some(0.0),
        "published by the active relay"
    );
    active.stop().await;
    standby.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_context_at_enqueue_time_travels_as_traceparent() {
    let (db, topics) = backbone().await;
    let collector = collect_published(&topics).await;
    let relay = start_relay(&db, &topics);

    let config = TelemetryConfig {
        service_name: "test".into(),
        otlp_endpoint: None,
        log_format: LogFormat::Json,
        log_filter: "info".into(),
    };
    let (subscriber, _guard) = telemetry::subscriber(&config).expect("subscriber");
    let mut conn = db.connection().await;
    let trace_id = {
        let _default = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("register_user");
        let trace_id = {
            use opentelemetry::trace::TraceContextExt;
            span.context().span().span_context().trace_id().to_string()
        };
        let event = update("traced", 1);
        let row = {
            let _entered = span.enter();
            outbox::NewOutboxEvent::new(&event)
        };
        conn.transaction::<_, diesel::result::Error, _>(async |conn| {
            outbox::enqueue_row(conn, row).await
        })
        .await
        .expect("enqueue");
        trace_id
    };
    assert_ne!(trace_id, "00000000000000000000000000000000");

    let records = collector.wait_for(1, WAIT).await;
    let traceparent = &records[0].headers["traceparent"];
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent} carries {trace_id}"
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_stops_promptly_while_the_broker_cannot_take_its_events() {
    let broker = BrokerProcess::start().await;
    let db = database().await;
    let mut topics = TestTopics::create_on(&broker.brokers(), &[topics::USERS_V1], &[]).await;
    // Far longer than any shutdown may take: the relay must not wait for it.
    topics.config.delivery_timeout = Duration::from_secs(300);
    let relay = start_relay(&db, &topics);
    eventually(WAIT, "the relay to be active", || {
        (relay.metrics.value("outbox_relay_active", &[]) == Some(1.0)).then_some(())
    })
    .await;

    broker.cut().await;
    enqueue_each(&db, (1..=10).map(|v| update("user-1", v))).await;
    eventually(WAIT, "the relay to wait for an acknowledgement", || {
        (relay.metrics.value("outbox_in_flight", &[]) >= Some(1.0)).then_some(())
    })
    .await;

    // A pod gets 30 s between SIGTERM and SIGKILL.
    tokio::time::timeout(Duration::from_secs(30), relay.stop())
        .await
        .expect("the relay stops without waiting out the delivery timeout");
    let mut conn = db.connection().await;
    let (pending, _) = marquee_common::kafka::outbox::backlog(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending, 10, "unacknowledged events stay in the outbox");
}
