//! What librdkafka reports, routed where an operator looks: its log lines and errors go to
//! `tracing` at sensible levels (a broker that is down is a warning that repeats, not an error
//! per connection attempt), rebalances are logged, and consumer lag from librdkafka's
//! statistics becomes the `consumer_lag` gauge.

use prometheus::{IntGauge, IntGaugeVec};
use rdkafka::{
    ClientContext, Statistics,
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, ConsumerContext, Rebalance},
    error::KafkaError,
    types::RDKafkaErrorCode,
};

/// The context of every Kafka client Marquee creates.
#[derive(Debug, Clone, Default)]
pub struct KafkaContext {
    /// For consumers: where the group's lag and assignment are reported.
    consumer: Option<ConsumerGauges>,
}

/// A consumer group member's gauges.
#[derive(Debug, Clone)]
pub struct ConsumerGauges {
    pub group: String,
    /// `consumer_lag{group,topic,partition}`.
    pub lag: IntGaugeVec,
    /// `consumer_assigned_partitions{group}` of this member: 0 means it reads nothing.
    pub assigned: IntGauge,
}

impl KafkaContext {
    /// A consumer's context.
    pub fn for_consumer(gauges: ConsumerGauges) -> Self {
        Self {
            consumer: Some(gauges),
        }
    }
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            // Transient by nature; the clients reconnect by themselves and the callers retry.
            Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown) => {
                tracing::warn!(target: "librdkafka", %error, reason, "broker unreachable")
            }
            _ => tracing::error!(target: "librdkafka", %error, reason, "Kafka client error"),
        }
    }

    fn stats(&self, statistics: Statistics) {
        let Some(ConsumerGauges { group, lag, .. }) = &self.consumer else {
            return;
        };
        for (topic, stats) in &statistics.topics {
            for (partition, stats) in &stats.partitions {
                // -1 is librdkafka's "unknown" and partition -1 its internal UA partition.
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    lag.with_label_values(&[group.as_str(), topic, &partition.to_string()])
                        .set(stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for KafkaContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions assigned");
                if let Some(gauges) = &self.consumer {
                    gauges.assigned.set(partitions.count() as i64);
                }
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = partitions.count(), "partitions revoked");
                if let Some(gauges) = &self.consumer {
                    gauges.assigned.set(0);
                }
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
        }
    }
}
