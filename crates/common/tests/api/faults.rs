//! The backbone through broker faults, against a private tansu process: what a stalled
//! broker does to the relay and the consumers, and that they recover by themselves.

use std::time::Duration;

use marquee_common::kafka::consumer::ConsumerConfig;
use marquee_proto_events::topics;
use marquee_testkit::{BrokerProcess, TestTopics};

use crate::fixtures::*;

/// How long the broker stays away: well past the consumer's session timeout (10 s) and the
/// client's request timeouts, as in the stalls that left members without partitions for good.
const OUTAGE: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_applies_everything_after_its_broker_was_away_past_the_session_timeout() {
    let broker = BrokerProcess::start().await;
    let db = database().await;
    let topics = TestTopics::create_on(&broker.brokers(), &[topics::USERS_V1], &[GROUP]).await;
    let relay = start_relay(&db, &topics);
    let stall_timeout = Duration::from_secs(10);
    let consumer = start_consumer_with(
        &db,
        &topics,
        ConsumerConfig {
            stall_timeout,
            ..consumer_config(&topics)
        },
    );
    enqueue_each(&db, (1..=20).map(|v| update(&format!("user-{}", v % 7), v))).await;
    wait_for_applied(&db, 20, WAIT).await;

    broker.cut().await;
    enqueue_each(
        &db,
        (21..=60).map(|v| update(&format!("user-{}", v % 7), v)),
    )
    .await;
    // The outage itself: nothing to wait for, the broker is simply gone this long.
    tokio::time::sleep(OUTAGE).await;
    broker.restore();
    enqueue_each(
        &db,
        (61..=80).map(|v| update(&format!("user-{}", v % 7), v)),
    )
    .await;

    // Recovery is bounded: the watchdog rebuilds a member that waits while its group is
    // behind for `stall_timeout`; the rest is a rejoin and a few fetches.
    let (total, distinct) = wait_for_applied(&db, 80, stall_timeout * 4).await;
    assert_eq!(
        (total, distinct),
        (80, 80),
        "every event applied exactly once after the stall"
    );
    consumer.stop().await;
    relay.stop().await;
}
