//! The event backbone (DESIGN §2): Kafka records with CloudEvents headers and protobuf
//! values, written through a transactional outbox and read by idempotent consumers.
//!
//! - [`envelope`]: the CloudEvents binary binding (`ce_*` headers, `traceparent`) both ways;
//! - [`outbox`]: [`outbox::enqueue`] an event inside the caller's database transaction;
//! - [`relay`]: publishes the outbox in id order with an idempotent producer, one active
//!   relay per service (PostgreSQL advisory lock), woken by LISTEN/NOTIFY;
//! - [`consumer`]: applies each event exactly once (inbox table in the handler's
//!   transaction), commits offsets only after that, dead-letters poison events;
//! - [`tail`]: reads topics from their end without a group, for per-instance broadcast
//!   (chat fan-out);
//! - [`watchdog`]: rebuilds a consumer whose group stopped making progress while it waits;
//! - [`admin`]: topic creation for tools and tests.
//!
//! [`KafkaConfig`] holds the connection and producer settings; every client here is built
//! from it, so `KAFKA_BROKERS` can point at tansu locally and at a real Kafka (or MSK) in
//! production with the same code.

pub mod admin;
pub mod consumer;
pub mod context;
pub mod envelope;
pub mod outbox;
pub mod relay;
pub mod tail;
pub mod watchdog;

use std::time::Duration;

use rdkafka::{
    ClientConfig,
    admin::AdminClient,
    config::RDKafkaLogLevel,
    consumer::{CommitMode, Consumer as _, ConsumerContext, StreamConsumer},
    producer::FutureProducer,
};
use secrecy::{ExposeSecret, SecretString};

pub use context::KafkaContext;
pub use rdkafka::error::KafkaError;

use crate::{
    config::{ConfigError, Env, in_range},
    http::health::{CheckFuture, ReadinessCheck},
};

/// The producer every Marquee component uses (see [`KafkaConfig::producer`]).
pub type Producer = FutureProducer<KafkaContext>;
/// The consumer every Marquee component uses.
pub type Consumer = StreamConsumer<KafkaContext>;

/// Broker connection and client settings.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `KAFKA_BROKERS` (default `127.0.0.1:9092`): bootstrap servers, comma-separated.
    pub brokers: String,
    /// `KAFKA_TOPIC_PREFIX` (default empty): put in front of every logical topic name, so
    /// environments (or tests) can share one cluster.
    pub topic_prefix: String,
    /// `KAFKA_CLIENT_ID` (default: the service name).
    pub client_id: String,
    /// `KAFKA_SECURITY_PROTOCOL` (default `plaintext`; `ssl`, `sasl_plaintext`, `sasl_ssl`).
    pub security_protocol: String,
    /// `KAFKA_SASL_MECHANISM` (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`), with
    /// `KAFKA_SASL_USERNAME` and `KAFKA_SASL_PASSWORD`.
    pub sasl: Option<SaslConfig>,
    /// `KAFKA_PRODUCER_LINGER_MS` (default 0): how long the producer waits to fill a batch.
    /// Keep 0–1 against tansu, which slows down sharply with larger values; 5 suits Kafka.
    pub linger_ms: u32,
    /// `KAFKA_PRODUCER_BATCH_SIZE` (default: librdkafka's): maximum batch size in bytes.
    pub batch_size: Option<u32>,
    /// `KAFKA_PRODUCER_COMPRESSION` (default `none`; `gzip`, `snappy`, `lz4`).
    pub compression: String,
    /// `KAFKA_DELIVERY_TIMEOUT` (default 30s): how long the producer keeps retrying one
    /// record before reporting it failed (the outbox relay then retries the row itself).
    pub delivery_timeout: Duration,
    /// `KAFKA_SESSION_TIMEOUT` (default 10s): consumer group session timeout.
    pub session_timeout: Duration,
    /// `KAFKA_MAX_POLL_INTERVAL` (default 30s): also the group's rebalance timeout, how long
    /// the coordinator waits for every known member to rejoin before it assigns partitions to
    /// those that did. librdkafka's 5 minutes left a group without any assignment for that
    /// long after a broker stall (members that never rejoined were waited for). A member
    /// busy with one event longer than this (retrying it through a database outage) leaves
    /// the group and rejoins when it is done; the inbox makes the redelivery harmless.
    pub max_poll_interval: Duration,
    /// `KAFKA_FETCH_WAIT_MAX` (default 100ms): how long the broker may hold a fetch that has
    /// no data. Kafka answers as soon as data arrives, but brokers that do not (tansu) add up
    /// to this much latency to every event.
    pub fetch_wait_max: Duration,
    /// `KAFKA_TOPIC_PARTITIONS` (default 3) and `KAFKA_TOPIC_REPLICATION` (default 1): used
    /// only by tools that create topics.
    pub topic_partitions: i32,
    pub topic_replication: i32,
    /// `KAFKA_DEBUG` (default unset): librdkafka debug contexts (`broker,topic,msg,eos`, …),
    /// logged at debug level, for diagnosing client behaviour.
    pub debug: Option<String>,
}

/// SASL credentials.
#[derive(Debug, Clone)]
pub struct SaslConfig {
    pub mechanism: String,
    pub username: String,
    pub password: SecretString,
}

impl KafkaConfig {
    pub fn from_env(env: &Env, service_name: &str) -> Result<Self, ConfigError> {
        let brokers = env
            .raw("KAFKA_BROKERS")
            .unwrap_or("127.0.0.1:9092")
            .to_owned();
        if brokers.split(',').any(|b| !b.trim().contains(':')) {
            return Err(ConfigError::new(
                "KAFKA_BROKERS",
                "must be comma-separated host:port pairs, e.g. kafka-0:9092,kafka-1:9092",
            ));
        }
        let security_protocol = env
            .raw("KAFKA_SECURITY_PROTOCOL")
            .unwrap_or("plaintext")
            .to_ascii_lowercase();
        if !["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"].contains(&security_protocol.as_str())
        {
            return Err(ConfigError::new(
                "KAFKA_SECURITY_PROTOCOL",
                "must be plaintext, ssl, sasl_plaintext or sasl_ssl",
            ));
        }
        let sasl = match env.raw("KAFKA_SASL_MECHANISM") {
            None => None,
            Some(mechanism) => Some(SaslConfig {
                mechanism: mechanism.to_owned(),
                username: env.required("KAFKA_SASL_USERNAME")?,
                password: env.required_secret("KAFKA_SASL_PASSWORD")?,
            }),
        };
        if security_protocol.starts_with("sasl") && sasl.is_none() {
            return Err(ConfigError::new(
                "KAFKA_SASL_MECHANISM",
                "is required when KAFKA_SECURITY_PROTOCOL uses SASL",
            ));
        }
        let compression = env
            .raw("KAFKA_PRODUCER_COMPRESSION")
            .unwrap_or("none")
            .to_ascii_lowercase();
        if !["none", "gzip", "snappy", "lz4"].contains(&compression.as_str()) {
            return Err(ConfigError::new(
                "KAFKA_PRODUCER_COMPRESSION",
                "must be none, gzip, snappy or lz4",
            ));
        }
        let session_timeout = env.duration_or("KAFKA_SESSION_TIMEOUT", Duration::from_secs(10))?;
        let max_poll_interval =
            env.duration_or("KAFKA_MAX_POLL_INTERVAL", Duration::from_secs(30))?;
        if max_poll_interval < session_timeout {
            return Err(ConfigError::new(
                "KAFKA_MAX_POLL_INTERVAL",
                "must be at least KAFKA_SESSION_TIMEOUT",
            ));
        }
        Ok(Self {
            brokers,
            topic_prefix: env.raw("KAFKA_TOPIC_PREFIX").unwrap_or_default().to_owned(),
            client_id: env
                .raw("KAFKA_CLIENT_ID")
                .unwrap_or(service_name)
                .to_owned(),
            security_protocol,
            sasl,
            linger_ms: in_range(
                "KAFKA_PRODUCER_LINGER_MS",
                env.or("KAFKA_PRODUCER_LINGER_MS", 0)?,
                0..=1000,
            )?,
            batch_size: env.optional("KAFKA_PRODUCER_BATCH_SIZE")?,
            compression,
            delivery_timeout: env.duration_or("KAFKA_DELIVERY_TIMEOUT", Duration::from_secs(30))?,
            session_timeout,
            max_poll_interval,
            fetch_wait_max: env.duration_or("KAFKA_FETCH_WAIT_MAX", Duration::from_millis(100))?,
            topic_partitions: in_range(
                "KAFKA_TOPIC_PARTITIONS",
                env.or("KAFKA_TOPIC_PARTITIONS", 3)?,
                1..=1024,
            )?,
            topic_replication: in_range(
                "KAFKA_TOPIC_REPLICATION",
                env.or("KAFKA_TOPIC_REPLICATION", 1)?,
                1..=16,
            )?,
            debug: env.raw("KAFKA_DEBUG").map(str::to_owned),
        })
    }

    /// Settings for local brokers with every default (tests and tools).
    pub fn local(brokers: impl Into<String>, topic_prefix: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic_prefix: topic_prefix.into(),
            client_id: "marquee".into(),
            security_protocol: "plaintext".into(),
            sasl: None,
            linger_ms: 0,
            batch_size: None,
            compression: "none".into(),
            delivery_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(10),
            max_poll_interval: Duration::from_secs(30),
            fetch_wait_max: Duration::from_millis(100),
            topic_partitions: 3,
            topic_replication: 1,
            debug: None,
        }
    }

    /// The physical name of a logical topic.
    pub fn topic(&self, logical: &str) -> String {
        format!("{}{logical}", self.topic_prefix)
    }

    /// The logical name of a physical topic (the prefix removed).
    pub fn logical_topic<'a>(&self, physical: &'a str) -> &'a str {
        physical
            .strip_prefix(self.topic_prefix.as_str())
            .unwrap_or(physical)
    }

    /// Connection settings shared by every client.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("security.protocol", &self.security_protocol)
            .set("allow.auto.create.topics", "false")
            // After an outage, reconnect within a second of the broker's return (librdkafka
            // backs off up to 10 s by default); an attempt per second while it is away costs
            // nothing.
            .set("reconnect.backoff.max.ms", "1000")
            .set_log_level(RDKafkaLogLevel::Warning);
        if let Some(debug) = &self.debug {
            config
                .set("debug", debug)
                .set_log_level(RDKafkaLogLevel::Debug);
        }
        if let Some(sasl) = &self.sasl {
            config
                .set("sasl.mechanism", &sasl.mechanism)
                .set("sasl.username", &sasl.username)
                .set("sasl.password", sasl.password.expose_secret());
        }
        config
    }

    /// An idempotent producer (`acks=all`, `enable.idempotence=true`): retries inside
    /// librdkafka can neither duplicate nor reorder records of a partition.
    pub fn producer(&self) -> Result<Producer, rdkafka::error::KafkaError> {
        let mut config = self.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", self.linger_ms.to_string())
            .set("compression.type", &self.compression)
            .set(
                "message.timeout.ms",
                self.delivery_timeout.as_millis().to_string(),
            );
        if let Some(batch_size) = self.batch_size {
            config.set("batch.size", batch_size.to_string());
        }
        config.create_with_context(KafkaContext::default())
    }

    /// Consumer settings for `group`: offsets are stored by the application only after an
    /// event's effect is committed (`enable.auto.offset.store=false`) and then committed in
    /// the background; a new group starts from the earliest record.
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set(
                "session.timeout.ms",
                self.session_timeout.as_millis().to_string(),
            )
            .set(
                "max.poll.interval.ms",
                self.max_poll_interval.as_millis().to_string(),
            )
            .set("enable.partition.eof", "false")
            .set(
                "fetch.wait.max.ms",
                self.fetch_wait_max.as_millis().to_string(),
            )
            // Feeds the consumer_lag gauge (see `context`).
            .set("statistics.interval.ms", "5000");
        config
    }

    pub fn admin(&self) -> Result<AdminClient<KafkaContext>, rdkafka::error::KafkaError> {
        self.client_config()
            .create_with_context(KafkaContext::default())
    }
}

/// How long a stopping consumer may take to commit its offsets and leave its group.
pub const CONSUMER_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Owns a consumer and makes sure closing it never blocks an async worker.
///
/// librdkafka's commit and close block until the broker answers, with no deadline of their
/// own: a close while the broker holds the group's JoinGroup waits for the rebalance timeout
/// (`max.poll.interval.ms`, five minutes), and rdkafka closes a consumer when it is dropped.
/// Done on an async worker, that froze the worker — and a test runtime's shutdown, which drops
/// the tasks still running — for as long. So the consumer is closed on a thread of its own:
/// [`ConsumerGuard::close`] commits and closes it there and waits at most
/// [`CONSUMER_CLOSE_TIMEOUT`]; a guard dropped without `close` (its task aborted) hands the
/// consumer to such a thread without waiting. A consumer still closing is left to finish by
/// itself, or to end with the process; its partitions then move to another member after the
/// session timeout, and the inbox makes any redelivery harmless.
pub struct ConsumerGuard<C: ConsumerContext + 'static> {
    consumer: Option<StreamConsumer<C>>,
    /// For the log: the group, or what the consumer is for.
    name: String,
}

impl<C: ConsumerContext + 'static> std::fmt::Debug for ConsumerGuard<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerGuard")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<C: ConsumerContext + 'static> ConsumerGuard<C> {
    pub fn new(consumer: StreamConsumer<C>, name: &str) -> Self {
        Self {
            consumer: Some(consumer),
            name: name.to_owned(),
        }
    }

    /// Commits the stored offsets (when `commit`) and closes the consumer, leaving its group;
    /// waits at most [`CONSUMER_CLOSE_TIMEOUT`].
    pub async fn close(mut self, commit: bool) {
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
        self.close_on_own_thread(commit, Some(closed_tx));
        if tokio::time::timeout(CONSUMER_CLOSE_TIMEOUT, closed_rx)
            .await
            .is_err()
        {
            tracing::warn!(
                consumer = %self.name,
                timeout = ?CONSUMER_CLOSE_TIMEOUT,
                "the consumer did not close in time; leaving it to finish by itself"
            );
        }
    }

    fn close_on_own_thread(
        &mut self,
        commit: bool,
        closed: Option<tokio::sync::oneshot::Sender<()>>,
    ) {
        let Some(consumer) = self.consumer.take() else {
            return;
        };
        let closing = std::thread::Builder::new()
            .name("kafka-close".into())
            .spawn(move || {
                if commit && let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
                    // Nothing stored since the last commit, or the broker is gone: the inbox
                    // makes any redelivery harmless.
                    tracing::debug!(%error, "final offset commit did not happen");
                }
                drop(consumer);
                if let Some(closed) = closed {
                    let _ = closed.send(());
                }
            });
        if let Err(error) = closing {
            // The consumer went down with the closure: closed here, whatever it costs.
            tracing::warn!(%error, consumer = %self.name, "cannot start a thread to close the consumer");
        }
    }
}

impl<C: ConsumerContext + 'static> std::ops::Deref for ConsumerGuard<C> {
    type Target = StreamConsumer<C>;

    fn deref(&self) -> &StreamConsumer<C> {
        // Present until `close` or drop take it, and neither leaves the guard usable.
        self.consumer
            .as_ref()
            .unwrap_or_else(|| unreachable!("a ConsumerGuard is used after it was closed"))
    }
}

impl<C: ConsumerContext + 'static> Drop for ConsumerGuard<C> {
    fn drop(&mut self) {
        self.close_on_own_thread(false, None);
    }
}

/// Readiness: the broker answers a metadata request.
#[derive(Clone)]
pub struct KafkaCheck {
    producer: Producer,
}

impl std::fmt::Debug for KafkaCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCheck").finish_non_exhaustive()
    }
}

impl KafkaCheck {
    /// Checks through `producer`'s connections (no extra client is opened).
    pub fn new(producer: Producer) -> Self {
        Self { producer }
    }
}

impl ReadinessCheck for KafkaCheck {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn check(&self) -> CheckFuture<'_> {
        use rdkafka::producer::Producer;
        let producer = self.producer.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(None, Duration::from_millis(1500))
                    .map(drop)
            })
            .await
            .map_err(|_| "check aborted".to_owned())?
            .map_err(|_| "no metadata from the brokers".to_owned())
        })
    }
}
