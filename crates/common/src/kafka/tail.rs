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
//! until the process restarts. A tail that stops receiving while records wait (seen after a
//! minute-long broker outage: librdkafka never fetched again) is rebuilt where it stopped. [`TopicTail::readiness`] reports ready only once the positions
//! are assigned, so a load balancer does not route sockets to an instance that would miss
//! their messages.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
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
    /// How long the tail may receive nothing while records wait before it is rebuilt.
    stall_timeout: Duration,
}

/// The next offset to read, by (physical topic, partition).
type Positions = HashMap<(String, i32), i64>;

impl TopicTail {
    pub fn new(kafka: KafkaConfig, topics: &[&str]) -> Self {
        Self {
            kafka,
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            assigned: Arc::new(AtomicBool::new(false)),
            stall_timeout: Duration::from_secs(30),
        }
    }

    /// Rebuilds the tail after `timeout` without a record while records wait (default 30 s;
    /// services pass `CONSUMER_STALL_TIMEOUT`).
    pub fn with_stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// A readiness check that passes once the tail reads from the end of every partition.
    pub fn readiness(&self) -> TailCheck {
        TailCheck {
            assigned: Arc::clone(&self.assigned),
        }
    }

    /// Assigns the partitions (retrying while the broker is unreachable), then hands records
    /// to `handler` until `shutdown` is cancelled.
    ///
    /// A tail that has received nothing for [`TopicTail::stall_timeout`] while its partitions
    /// hold records past its position is stalled (librdkafka has been seen not to resume
    /// fetching after a long broker outage): it is rebuilt at the position it had reached, so
    /// nothing is skipped (error log `topic tail stalled`).
    pub async fn run(self, handler: impl TailHandler, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let (mut positions, mut consumer) = loop {
            let assigned = match self.end_positions().await {
                Ok(positions) => self
                    .consumer_at(&positions)
                    .map(|consumer| (positions, consumer)),
                Err(error) => Err(error),
            };
            match assigned {
                Ok((positions, consumer)) => {
                    break (positions, super::ConsumerGuard::new(consumer, "topic tail"));
                }
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
        let mut last_received = Instant::now();
        let mut check = tokio::time::interval(self.stall_timeout);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        check.tick().await;
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => break,
                _ = check.tick() => {
                    if last_received.elapsed() >= self.stall_timeout
                        && self.behind(&positions).await
                    {
                        tracing::error!(
                            topics = ?self.topics,
                            quiet_for = ?last_received.elapsed(),
                            "topic tail stalled; rebuilding it where it stopped"
                        );
                        match self.consumer_at(&positions) {
                            Ok(rebuilt) => {
                                consumer.close(false).await;
                                consumer = super::ConsumerGuard::new(rebuilt, "topic tail");
                                last_received = Instant::now();
                            }
                            Err(error) => tracing::warn!(%error, "cannot rebuild the topic tail"),
                        }
                    }
                    continue;
                }
                message = consumer.recv() => message,
            };
            match message {
                Ok(message) => {
                    backoff.reset();
                    last_received = Instant::now();
                    positions.insert(
                        (message.topic().to_owned(), message.partition()),
                        message.offset() + 1,
                    );
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

    fn client_config(&self) -> rdkafka::ClientConfig {
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
        config
    }

    /// The current end of every partition of the topics: where the tail starts.
    async fn end_positions(&self) -> Result<Positions, rdkafka::error::KafkaError> {
        let config = self.client_config();
        let physical: Vec<String> = self.topics.iter().map(|t| self.kafka.topic(t)).collect();
        // Metadata and watermarks are blocking calls: look them up off the async workers.
        tokio::task::spawn_blocking(move || {
            let probe: BaseConsumer = config.create()?;
            let mut positions = Positions::new();
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
                    positions.insert((topic.clone(), partition), high);
                }
            }
            Ok(positions)
        })
        .await
        .map_err(|_| rdkafka::error::KafkaError::Canceled)?
    }

    /// Whether some partition holds records past `positions` (false when that cannot be
    /// told: the broker is away, and a rebuilt consumer would not fare better).
    async fn behind(&self, positions: &Positions) -> bool {
        let config = self.client_config();
        let positions = positions.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(probe) = config.create::<BaseConsumer>() else {
                return false;
            };
            positions.iter().any(|((topic, partition), next)| {
                probe
                    .fetch_watermarks(topic, *partition, METADATA_TIMEOUT)
                    .is_ok_and(|(_, high)| high > *next)
            })
        })
        .await
        .unwrap_or(false)
    }

    /// A consumer assigned at `positions`.
    fn consumer_at(
        &self,
        positions: &Positions,
    ) -> Result<StreamConsumer<KafkaContext>, rdkafka::error::KafkaError> {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in positions {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        let consumer: StreamConsumer<KafkaContext> = self
            .client_config()
            .create_with_context(KafkaContext::default())?;
        consumer.assign(&list)?;
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
