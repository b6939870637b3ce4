//! Reading topics as a broadcast: every process sees every record.
//!
//! A [`TopicTail`] is the opposite of a consumer group member: it joins no group, commits no
//! offsets and shares no partitions. It assigns itself every partition of its topics at their
//! current end and hands each new record to a [`TailHandler`]. Chat instances use it to fan
//! messages out to their own WebSockets and to hear about revoked sessions — work that every
//! instance must do for itself and that means nothing for records from before it started
//! (clients catch up from the database, not from the topic).
//!
//! Partitions are looked up once, at start: partitions added to a topic later are not read
//! until the process restarts. [`TopicTail::readiness`] reports ready only once the positions
//! are assigned, so a load balancer does not route sockets to an instance that would miss
//! their messages.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _, StreamConsumer},
    message::Message as _,
};
use tokio_util::sync::CancellationToken;

use super::{KafkaConfig, KafkaContext, envelope::ReceivedEvent};
use crate::{
    http::health::{CheckFuture, ReadinessCheck},
    retry::Backoff,
    shutdown::sleep_or_shutdown,
};

/// How long one metadata or watermark request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Receives every record of the tailed topics, in partition order. It runs on the tail's
/// only task: return quickly (hand work to channels) or the tail falls behind.
pub trait TailHandler: Send + Sync + 'static {
    fn handle(&self, event: ReceivedEvent) -> impl Future<Output = ()> + Send;
}

/// Reads topics from their end, without a consumer group. See the module docs.
#[derive(Debug)]
pub struct TopicTail {
    kafka: KafkaConfig,
    /// Logical topic names.
    topics: Vec<String>,
    assigned: Arc<AtomicBool>,
}

impl TopicTail {
    pub fn new(kafka: KafkaConfig, topics: &[&str]) -> Self {
        Self {
            kafka,
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            assigned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A readiness check that passes once the tail reads from the end of every partition.
    pub fn readiness(&self) -> TailCheck {
        TailCheck {
            assigned: Arc::clone(&self.assigned),
        }
    }

    /// Assigns the partitions (retrying while the broker is unreachable), then hands records
    /// to `handler` until `shutdown` is cancelled.
    pub async fn run(self, handler: impl TailHandler, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let consumer = loop {
            match self.assign().await {
                Ok(consumer) => break super::ConsumerGuard::new(consumer, "topic tail"),
                Err(error) => {
                    tracing::warn!(%error, topics = ?self.topics, "cannot tail the topics yet; retrying");
                    if sleep_or_shutdown(backoff.next_delay(), &shutdown).await {
                        return;
                    }
                }
            }
        };
        self.assigned.store(true, Ordering::Release);
        tracing::info!(topics = ?self.topics, "tailing topics from their end");
        backoff.reset();
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => break,
                message = consumer.recv() => message,
            };
            match message {
                Ok(message) => {
                    backoff.reset();
                    match ReceivedEvent::from_message(&message) {
                        Ok(event) => handler.handle(event).await,
                        Err(error) => tracing::warn!(
                            %error, topic = message.topic(), offset = message.offset(),
                            "skipping a record that is not a Marquee event"
                        ),
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "receiving from the broker failed");
                    if sleep_or_shutdown(backoff.next_delay(), &shutdown).await {
                        break;
                    }
                }
            }
        }
        self.assigned.store(false, Ordering::Release);
        consumer.close(false).await;
    }

    /// A consumer positioned at the current end of every partition of the topics.
    async fn assign(&self) -> Result<StreamConsumer<KafkaContext>, rdkafka::error::KafkaError> {
        let mut config = self.kafka.client_config();
        config
            // Required by librdkafka, never joined: partitions are assigned, not subscribed.
            .set("group.id", format!("{}-tail", self.kafka.client_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set(
                "fetch.wait.max.ms",
                self.kafka.fetch_wait_max.as_millis().to_string(),
            );
        let physical: Vec<String> = self.topics.iter().map(|t| self.kafka.topic(t)).collect();
        // Metadata and watermarks are blocking calls: look them up off the async workers.
        let probe_config = config.clone();
        let positions = tokio::task::spawn_blocking(move || {
            let probe: BaseConsumer = probe_config.create()?;
            let mut positions = TopicPartitionList::new();
            for topic in &physical {
                let metadata = probe.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
                let partitions = metadata
                    .topics()
                    .iter()
                    .filter(|t| t.name() == topic && t.error().is_none())
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect::<Vec<_>>();
                if partitions.is_empty() {
                    return Err(rdkafka::error::KafkaError::MetadataFetch(
                        rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                    ));
                }
                for partition in partitions {
                    let (_, high) = probe.fetch_watermarks(topic, partition, METADATA_TIMEOUT)?;
                    positions.add_partition_offset(topic, partition, Offset::Offset(high))?;
                }
            }
            Ok(positions)
        })
        .await
        .map_err(|_| rdkafka::error::KafkaError::Canceled)??;
        let consumer: StreamConsumer<KafkaContext> =
            config.create_with_context(KafkaContext::default())?;
        consumer.assign(&positions)?;
        Ok(consumer)
    }
}

/// Readiness of a [`TopicTail`]: named `kafka_tail`.
#[derive(Debug, Clone)]
pub struct TailCheck {
    assigned: Arc<AtomicBool>,
}

impl ReadinessCheck for TailCheck {
    fn name(&self) -> &'static str {
        "kafka_tail"
    }

    fn check(&self) -> CheckFuture<'_> {
        let assigned = self.assigned.load(Ordering::Acquire);
        Box::pin(async move {
            if assigned {
                Ok(())
            } else {
                Err("not yet reading the topics' ends".to_owned())
            }
        })
    }
}
