//! Publishing events straight to the broker, as another service's relay would.

use std::time::Duration;

use chrono::Utc;
use marquee_common::kafka::{KafkaConfig, Producer, envelope::Attributes};
use marquee_proto_events::Event;
use rdkafka::producer::FutureRecord;
use uuid::Uuid;

/// A producer that writes CloudEvents-enveloped events to a test's topics.
pub struct TestPublisher {
    producer: Producer,
    config: KafkaConfig,
}

impl std::fmt::Debug for TestPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPublisher")
            .field("prefix", &self.config.topic_prefix)
            .finish_non_exhaustive()
    }
}

impl TestPublisher {
    pub fn new(config: &KafkaConfig) -> Self {
        Self {
            producer: config.producer().expect("producer"),
            config: config.clone(),
        }
    }

    /// Publishes `event` to its topic with a fresh event id; returns the id.
    pub async fn publish<E: Event>(&self, event: &E) -> Uuid {
        let id = Uuid::now_v7();
        let headers = Attributes {
            id,
            ce_type: E::CE_TYPE.into(),
            source: "test".into(),
            time: Utc::now(),
            trace_headers: Default::default(),
        }
        .to_headers();
        let payload = prost::Message::encode_to_vec(event);
        let topic = self.config.topic(E::TOPIC);
        let key = event.key();
        self.producer
            .send(
                FutureRecord::to(&topic)
                    .key(key.as_bytes())
                    .payload(payload.as_slice())
                    .headers(headers),
                Duration::from_secs(5),
            )
            .await
            .expect("publish");
        id
    }
}
