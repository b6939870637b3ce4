//! Topic administration for tools and tests. Production clusters get their topics from the
//! deployment (a Kubernetes Job or Strimzi `KafkaTopic`s); `cargo xtask` and the test kit
//! create them here, since neither tansu nor a well-run Kafka auto-creates topics.

use std::time::Duration;

use rdkafka::{
    admin::{AdminOptions, NewTopic, TopicReplication},
    error::KafkaError,
    types::RDKafkaErrorCode,
};

use super::KafkaConfig;

/// Creates each physical topic that does not exist yet, with the configured partitions and
/// replication. Existing topics are left as they are.
pub async fn ensure_topics(
    config: &KafkaConfig,
    physical_topics: &[String],
) -> Result<(), KafkaError> {
    let admin = config.admin()?;
    let new_topics: Vec<NewTopic<'_>> = physical_topics
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                config.topic_partitions,
                TopicReplication::Fixed(config.topic_replication),
            )
        })
        .collect();
    // Both bounds: the broker's own (operation) and the request's, which would otherwise be
    // librdkafka's `socket.timeout.ms` (60 s).
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                tracing::error!(%topic, ?code, "topic creation failed");
                return Err(KafkaError::AdminOp(code));
            }
        }
    }
    Ok(())
}

/// The physical names of every platform topic and, for each consumer group given, the
/// dead-letter topics of the topics it reads.
pub fn platform_topics(config: &KafkaConfig, consumer_groups: &[(&str, &[&str])]) -> Vec<String> {
    let mut topics: Vec<String> = marquee_proto_events::topics::ALL
        .iter()
        .map(|t| config.topic(t))
        .collect();
    for (group, group_topics) in consumer_groups {
        for topic in *group_topics {
            topics.push(marquee_proto_events::topics::dead_letter(
                &config.topic(topic),
                group,
            ));
        }
    }
    topics
}
