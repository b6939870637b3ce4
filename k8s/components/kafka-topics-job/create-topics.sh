#!/bin/sh
# Creates Marquee's Kafka topics with the Apache Kafka CLI. Idempotent: an existing topic is
# left as it is (--if-not-exists), so re-running the Job is harmless; it never changes the
# partitions or settings of an existing topic (use kafka-topics.sh --alter / kafka-configs.sh).
#
# Environment:
#   KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM
#                           from the ConfigMap marquee-common (the services' own values)
#   /etc/marquee/kafka/KAFKA_SASL_USERNAME, .../KAFKA_SASL_PASSWORD
#                           files of the Secret marquee-kafka (optional, mounted read-only)
#   TOPICS, DLQ_TOPICS, TOPIC_PARTITIONS, TOPIC_REPLICATION, TOPIC_MIN_INSYNC_REPLICAS,
#   TOPIC_RETENTION_MS, DLQ_RETENTION_MS      from the ConfigMap kafka-topics-settings
set -eu

config=/tmp/client.properties
umask 077

# The services spell the protocol in lower case (librdkafka); the Java client wants upper.
protocol=$(printf '%s' "${KAFKA_SECURITY_PROTOCOL:-plaintext}" | tr '[:lower:]' '[:upper:]')
printf 'security.protocol=%s\n' "$protocol" > "$config"
case "$protocol" in
  SASL_*)
    mechanism=${KAFKA_SASL_MECHANISM:?KAFKA_SASL_MECHANISM is required with $protocol}
    case "$mechanism" in
      PLAIN) module=org.apache.kafka.common.security.plain.PlainLoginModule ;;
      SCRAM-SHA-256 | SCRAM-SHA-512) module=org.apache.kafka.common.security.scram.ScramLoginModule ;;
      *) echo "unsupported KAFKA_SASL_MECHANISM $mechanism" >&2; exit 2 ;;
    esac
    secrets=/etc/marquee/kafka
    for key in KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD; do
      [ -s "$secrets/$key" ] || { echo "$key missing from the Secret marquee-kafka" >&2; exit 2; }
    done
    # The password must not contain a double quote or a backslash (JAAS/properties syntax).
    printf 'sasl.mechanism=%s\nsasl.jaas.config=%s required username="%s" password="%s";\n' \
      "$mechanism" "$module" "$(cat "$secrets/KAFKA_SASL_USERNAME")" \
      "$(cat "$secrets/KAFKA_SASL_PASSWORD")" >> "$config"
    ;;
esac

# create TOPIC RETENTION_MS
create() {
  topic="${KAFKA_TOPIC_PREFIX:-}$1"
  echo "topic $topic: partitions=$TOPIC_PARTITIONS replication=$TOPIC_REPLICATION retention.ms=$2"
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$KAFKA_BROKERS" \
    --command-config "$config" \
    --create --if-not-exists --topic "$topic" \
    --partitions "$TOPIC_PARTITIONS" --replication-factor "$TOPIC_REPLICATION" \
    --config "retention.ms=$2" \
    --config "min.insync.replicas=$TOPIC_MIN_INSYNC_REPLICAS"
}

for topic in $TOPICS; do
  create "$topic" "$TOPIC_RETENTION_MS"
done
for topic in $DLQ_TOPICS; do
  create "$topic" "$DLQ_RETENTION_MS"
done

echo "topics now on the cluster:"
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$KAFKA_BROKERS" --command-config "$config" --list
