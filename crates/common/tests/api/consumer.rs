//! The idempotent consumer: effects apply once, poison goes to the dead-letter topic, and a
//! restart resumes where the last committed event left off.

use std::time::Duration;

use marquee_common::kafka::consumer::dlq_headers;
use marquee_proto_events::topics;
use marquee_testkit::eventually;
use rdkafka::producer::FutureRecord;
use uuid::Uuid;

use crate::fixtures::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_is_applied_once() {
    let (db, topics) = backbone().await;
    let consumer = start_consumer(&db, &topics);
    let publisher = DirectPublisher::new(&topics.config);

    let id = Uuid::now_v7();
    publisher.publish(&update("ada", 1), id).await;
    publisher.publish(&update("ada", 1), id).await;
    publisher.publish(&update("ada", 2), Uuid::now_v7()).await;

    eventually(WAIT, "three records consumed", || {
        (consumed(&consumer, &topics, "applied") + consumed(&consumer, &topics, "duplicate") >= 3.0)
            .then_some(())
    })
    .await;
    assert_eq!(consumed(&consumer, &topics, "duplicate"), 1.0);
    let (total, distinct) = wait_for_applied(&db, 2, WAIT).await;
    assert_eq!(
        (total, distinct),
        (2, 2),
        "the redelivered event had no second effect"
    );
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_event_is_dead_lettered_with_its_error_and_later_events_still_apply() {
    let (db, topics) = backbone().await;
    let dead_letters = collect_dead_letters(&topics).await;
    let consumer = start_consumer(&db, &topics);
    let publisher = DirectPublisher::new(&topics.config);

    let poison_id = Uuid::now_v7();
    publisher.publish(&update("poison", 1), poison_id).await;
    publisher
        .publish(&update("poison", 2), Uuid::now_v7())
        .await;
    publisher.publish(&update("ada", 1), Uuid::now_v7()).await;

    let records = dead_letters.wait_for(2, WAIT).await;
    let first = records
        .iter()
        .find(|r| r.headers["ce_id"] == poison_id.to_string())
        .expect("poison in the DLQ");
    assert_eq!(
        first.headers[dlq_headers::ERROR],
        "this user cannot be processed"
    );
    assert_eq!(
        first.headers[dlq_headers::ATTEMPTS],
        "3",
        "after the configured attempts"
    );
    assert_eq!(
        first.headers[dlq_headers::ORIGIN_TOPIC],
        topics.config.topic(topics::USERS_V1)
    );
    assert_eq!(first.headers[dlq_headers::GROUP], topics.group(GROUP));
    assert!(first.headers.contains_key(dlq_headers::ORIGIN_OFFSET));
    assert_eq!(first.key.as_deref(), Some("poison"), "original key kept");
    assert_eq!(
        first.headers["ce_type"], "marquee.users.v1.UserUpdated",
        "original headers kept"
    );

    let (total, _) = wait_for_applied(&db, 1, WAIT).await;
    assert_eq!(total, 1, "the healthy event was applied");
    assert_eq!(consumed(&consumer, &topics, "dead_lettered"), 2.0);
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_is_not_a_marquee_event_is_dead_lettered_at_once() {
    let (db, topics) = backbone().await;
    let dead_letters = collect_dead_letters(&topics).await;
    let consumer = start_consumer(&db, &topics);
    let publisher = DirectPublisher::new(&topics.config);

    let record = FutureRecord::to(publisher.topic())
        .key("x")
        .payload(b"not protobuf".as_slice());
    publisher.publish_raw(record).await;
    publisher.publish(&update("ada", 1), Uuid::now_v7()).await;

    let records = dead_letters.wait_for(1, WAIT).await;
    assert_eq!(
        records[0].headers[dlq_headers::ERROR],
        "missing header ce_specversion"
    );
    assert_eq!(records[0].headers[dlq_headers::ATTEMPTS], "0");
    let (total, _) = wait_for_applied(&db, 1, WAIT).await;
    assert_eq!(total, 1);
    consumer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_resumes_after_the_last_committed_event() {
    let (db, topics) = backbone().await;

    let first = start_consumer(&db, &topics);
    let publisher = DirectPublisher::new(&topics.config);
    for version in 1..=30 {
        publisher
            .publish(
                &update(&format!("u{}", version % 5), version),
                Uuid::now_v7(),
            )
            .await;
    }
    wait_for_applied(&db, 30, WAIT).await;
    first.stop().await;

    for version in 31..=60 {
        publisher
            .publish(
                &update(&format!("u{}", version % 5), version),
                Uuid::now_v7(),
            )
            .await;
    }
    let second = start_consumer(&db, &topics);
    let (total, distinct) = wait_for_applied(&db, 60, WAIT).await;
    assert_eq!(
        (total, distinct),
        (60, 60),
        "nothing skipped, nothing applied twice"
    );
    eventually(
        WAIT,
        "the second consumer to apply the 30 new events",
        || (consumed(&second, &topics, "applied") >= 30.0).then_some(()),
    )
    .await;
    let group = topics.group(GROUP);
    eventually(WAIT, "consumer_lag to report caught-up partitions", || {
        let lags = second.metrics.values("consumer_lag", &[("group", &group)]);
        (!lags.is_empty() && lags.iter().all(|lag| *lag == 0.0)).then_some(())
    })
    .await;
    assert_eq!(
        consumed(&second, &topics, "duplicate"),
        0.0,
        "the second consumer started after the committed offsets, not from the beginning"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stopped_while_it_joins_its_group_stops_within_the_close_bound() {
    // Stopped as soon as it subscribed: its JoinGroup is still in flight, and librdkafka's
    // close waits for it (the broker may hold it for max.poll.interval.ms, five minutes).
    let (db, topics) = backbone().await;
    let consumer = start_consumer(&db, &topics);
    consumer.shutdown.cancel();
    let bound = marquee_common::kafka::CONSUMER_CLOSE_TIMEOUT + Duration::from_secs(5);
    tokio::time::timeout(bound, consumer.task)
        .await
        .unwrap_or_else(|_| panic!("the consumer was still stopping after {bound:?}"))
        .expect("the consumer task ends cleanly");
}
