//! Unique topics per test on the shared broker, and a reader for asserting on them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use marquee_common::kafka::{
    ConsumerGuard, KafkaConfig, admin, consumer::ConsumerConfig, envelope::header_map,
    relay::RelayConfig,
};
use marquee_proto_events::Event;
use rdkafka::{
    ClientConfig, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    message::Message,
};

/// The shared broker's bootstrap servers: `KAFKA_BROKERS`, default `127.0.0.1:9092`.
pub fn shared_brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// A per-test topic namespace: a [`KafkaConfig`] whose `topic_prefix` is unique.
#[derive(Debug, Clone)]
pub struct TestTopics {
    pub config: KafkaConfig,
}

impl TestTopics {
    /// A unique prefix on `brokers` with the given logical topics (and the dead-letter topics
    /// of the consumer groups `groups` — names before [`TestTopics::group`] — reading them)
    /// created.
    pub async fn create_on(brokers: &str, logical: &[&str], groups: &[&str]) -> Self {
        crate::init_logs();
        let prefix = format!("t{}.", uuid::Uuid::now_v7().simple());
        let mut config = KafkaConfig::local(brokers, prefix);
        config.delivery_timeout = Duration::from_secs(5);
        config.session_timeout = Duration::from_secs(6);
        config.debug = std::env::var("KAFKA_DEBUG").ok();
        let topics = Self { config };
        topics.create_topics(logical, groups).await;
        topics
    }

    /// Like [`TestTopics::create_on`], on the shared broker.
    pub async fn create(logical: &[&str], groups: &[&str]) -> Self {
        Self::create_on(&shared_brokers(), logical, groups).await
    }

    async fn create_topics(&self, logical: &[&str], groups: &[&str]) {
        let mut physical: Vec<String> = logical.iter().map(|t| self.config.topic(t)).collect();
        for group in groups {
            for topic in logical {
                physical.push(marquee_proto_events::topics::dead_letter(
                    &self.config.topic(topic),
                    &self.group(group),
                ));
            }
        }
        admin::ensure_topics(&self.config, &physical).await.unwrap_or_else(|e| {
            panic!(
                "cannot create topics on {} ({e}); is the broker running? `cargo xtask test` starts one",
                self.config.brokers
            )
        });
    }

    /// A consumer group name unique to this test.
    pub fn group(&self, name: &str) -> String {
        format!("{}{name}", self.config.topic_prefix)
    }

    /// Consumer settings for group `name` (made unique to this test) reading `logical`
    /// topics, retrying quickly.
    pub fn consumer_config(&self, name: &str, logical: &[&str]) -> ConsumerConfig {
        ConsumerConfig {
            retry_initial: Duration::from_millis(20),
            ..ConsumerConfig::new(&self.group(name), logical)
        }
    }
}

/// Outbox relay settings for tests: a short fallback poll, so a missed NOTIFY costs little.
pub fn relay_config() -> RelayConfig {
    RelayConfig {
        poll_interval: Duration::from_millis(100),
        ..RelayConfig::default()
    }
}

/// The shared Redis: `REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct CollectedRecord {
    /// When the collector read it.
    pub received_at: std::time::SystemTime,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: HashMap<String, String>,
}

/// Reads every partition of one physical topic from the beginning, in the background.
#[derive(Debug, Clone)]
pub struct RecordCollector {
    records: Arc<Mutex<Vec<CollectedRecord>>>,
}

impl RecordCollector {
    pub async fn start(config: &KafkaConfig, physical_topic: &str) -> Self {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set(
                "group.id",
                format!("collector-{}", uuid::Uuid::now_v7().simple()),
            )
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()
            .expect("collector consumer");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..config.topic_partitions {
            assignment
                .add_partition_offset(physical_topic, partition, Offset::Beginning)
                .expect("partition offset");
        }
        consumer.assign(&assignment).expect("assign partitions");
        // Dropped with the test's runtime: closed off its workers.
        let consumer = ConsumerGuard::new(consumer, "record collector");
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&records);
        tokio::spawn(async move {
            loop {
                match consumer.recv().await {
                    Ok(message) => {
                        let record = CollectedRecord {
                            received_at: std::time::SystemTime::now(),
                            partition: message.partition(),
                            offset: message.offset(),
                            key: message
                                .key()
                                .map(|k| String::from_utf8_lossy(k).into_owned()),
                            payload: message.payload().unwrap_or_default().to_vec(),
                            headers: header_map(message.headers()),
                        };
                        sink.lock().expect("collector lock").push(record);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
                if Arc::strong_count(&sink) == 1 {
                    break; // every collector handle is gone
                }
            }
        });
        Self { records }
    }

    /// What was read so far.
    pub fn records(&self) -> Vec<CollectedRecord> {
        self.records.lock().expect("collector lock").clone()
    }

    /// Every event of type `E` read so far, decoded (records of other `ce_type`s skipped).
    pub fn events<E: Event>(&self) -> Vec<E> {
        self.records()
            .into_iter()
            .filter(|r| r.headers.get("ce_type").map(String::as_str) == Some(E::CE_TYPE))
            .map(|r| E::decode(r.payload.as_slice()).expect("a well-formed event"))
            .collect()
    }

    /// Waits until at least `n` events of type `E` for which `about` holds were read;
    /// returns them.
    pub async fn wait_for_events<E: Event>(&self, n: usize, about: impl Fn(&E) -> bool) -> Vec<E> {
        crate::eventually(
            Duration::from_secs(30),
            &format!("{n} {} events", E::CE_TYPE),
            || {
                let events: Vec<E> = self.events::<E>().into_iter().filter(&about).collect();
                (events.len() >= n).then_some(events)
            },
        )
        .await
    }

    /// Waits until at least `n` records were read; returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<CollectedRecord> {
        crate::eventually(timeout, &format!("{n} records on the topic"), || {
            let records = self.records();
            (records.len() >= n).then_some(records)
        })
        .await
    }
}
