//! The consumer stall watchdog: a group member that waits for records while its group makes
//! no progress rebuilds its client.
//!
//! librdkafka recovers from most broker trouble by itself, but not from all: after a broker
//! stall longer than the session timeout, members have been seen to log `Consumer group
//! session timed out … rejoining group`, then `GroupCoordinator: ApiVersionRequest failed:
//! Local: Timed out`, and stay with no partitions for good while the group's records piled
//! up. Whatever the cause (a client state machine stuck, a coordinator that forgot a member),
//! the symptom is the same and can be seen from outside the client: **records wait in a
//! partition, the group's committed offsets do not move, and this member is idle.** That is
//! what [`Watchdog::check`] looks for, with a client of its own (so it does not depend on the
//! state of the one it watches): the group's committed offset and the end of every partition
//! of its topics, sampled while the member waits. When the group has been behind without
//! committing anything for `CONSUMER_STALL_TIMEOUT` (default 30 s) while this member waited,
//! the consumer is closed and built again, which rejoins the group (the inbox makes any
//! redelivery harmless).
//!
//! A group behind because one member is busy (an event retried through a database outage)
//! looks the same to its idle members; their rebuild costs a rebalance, never an event. While
//! the broker does not answer the samples, nothing is decided.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer as _},
    error::KafkaError,
};

use super::{KafkaConfig, KafkaContext};

/// How long one metadata, watermark or committed-offsets request of a sample may take.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a member is considered stalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// How long the group has been behind without committing.
    pub for_: Duration,
    /// Records between the group's committed offsets and the partitions' ends.
    pub waiting: i64,
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} record(s) have waited {:?} while the group committed nothing and this member received nothing",
            self.waiting, self.for_
        )
    }
}

/// The group's committed offsets and how far behind the partitions' ends they are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    /// The committed offset of every partition, in a fixed order (`-1`: none yet).
    committed: Vec<i64>,
    /// Records past the committed offsets.
    waiting: i64,
}

/// Samples the group's progress; see the module docs.
pub struct Watchdog {
    client: Arc<BaseConsumer<KafkaContext>>,
    /// Physical topic names.
    topics: Vec<String>,
    stall_after: Duration,
    /// Since when the group has been behind with these committed offsets.
    behind: Option<(Instant, Sample)>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchdog")
            .field("topics", &self.topics)
            .field("stall_after", &self.stall_after)
            .finish_non_exhaustive()
    }
}

impl Watchdog {
    /// A watchdog for `group` on the physical `topics`. Its client carries the group id to
    /// read the group's committed offsets, and never joins the group.
    pub fn new(
        kafka: &KafkaConfig,
        group: &str,
        topics: Vec<String>,
        stall_after: Duration,
    ) -> Result<Self, KafkaError> {
        let mut config = kafka.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        let client = config.create_with_context(KafkaContext::default())?;
        Ok(Self {
            client: Arc::new(client),
            topics,
            stall_after,
            behind: None,
        })
    }

    /// How often [`Watchdog::check`] should run: a few samples per stall timeout.
    pub fn interval(&self) -> Duration {
        (self.stall_after / 3).max(Duration::from_secs(1))
    }

    /// Forgets what it saw (a rebuilt member starts its own clock).
    pub fn reset(&mut self) {
        self.behind = None;
    }

    /// Whether the member, idle since `idle_since`, is stalled. Samples the group (off the
    /// async workers); a sample the broker does not answer decides nothing.
    pub async fn check(&mut self, idle_since: Instant) -> Option<Stall> {
        let client = Arc::clone(&self.client);
        let topics = self.topics.clone();
        let sample = tokio::task::spawn_blocking(move || sample(&client, &topics))
            .await
            .ok()?;
        let sample = match sample {
            Ok(sample) => sample,
            Err(error) => {
                tracing::debug!(%error, "the stall watchdog cannot sample the group");
                return None;
            }
        };
        self.judge(sample, idle_since, Instant::now())
    }

    fn judge(&mut self, sample: Sample, idle_since: Instant, now: Instant) -> Option<Stall> {
        if sample.waiting <= 0 {
            self.behind = None;
            return None;
        }
        let since = match &self.behind {
            Some((since, seen)) if seen.committed == sample.committed => *since,
            _ => {
                self.behind = Some((now, sample.clone()));
                now
            }
        };
        let behind_for = now.duration_since(since);
        let idle_for = now.duration_since(idle_since);
        (behind_for >= self.stall_after && idle_for >= self.stall_after).then_some(Stall {
            for_: behind_for,
            waiting: sample.waiting,
        })
    }
}

/// The group's committed offsets and the partitions' ends (blocking).
fn sample(client: &BaseConsumer<KafkaContext>, topics: &[String]) -> Result<Sample, KafkaError> {
    // Serve the client's queued events (errors, logs): it never subscribes, so nothing else
    // polls it, and an outage would queue an error a second.
    if let Some(Err(error)) = client.poll(Duration::ZERO) {
        tracing::debug!(%error, "the stall watchdog's client reported an error");
    }
    let mut partitions = TopicPartitionList::new();
    for topic in topics {
        let metadata = client.fetch_metadata(Some(topic), SAMPLE_TIMEOUT)?;
        for t in metadata.topics().iter().filter(|t| t.name() == topic) {
            for p in t.partitions() {
                partitions.add_partition(topic, p.id());
            }
        }
    }
    let committed = client.committed_offsets(partitions, SAMPLE_TIMEOUT)?;
    let mut offsets = Vec::new();
    let mut waiting = 0;
    for element in committed.elements() {
        let (low, high) =
            client.fetch_watermarks(element.topic(), element.partition(), SAMPLE_TIMEOUT)?;
        let position = match element.offset() {
            Offset::Offset(offset) => offset,
            // Nothing committed yet: the group starts from the earliest record.
            _ => low,
        };
        offsets.push(match element.offset() {
            Offset::Offset(offset) => offset,
            _ => -1,
        });
        waiting += (high - position).max(0);
    }
    Ok(Sample {
        committed: offsets,
        waiting,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watchdog(stall_after: Duration) -> Watchdog {
        Watchdog::new(
            &KafkaConfig::local("127.0.0.1:1", ""),
            "group",
            vec!["topic".into()],
            stall_after,
        )
        .expect("a client is created without connecting")
    }

    fn sample(committed: &[i64], waiting: i64) -> Sample {
        Sample {
            committed: committed.to_vec(),
            waiting,
        }
    }

    #[test]
    fn a_group_behind_without_progress_while_the_member_idles_is_a_stall() {
        let mut dog = watchdog(Duration::from_secs(30));
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        assert_eq!(dog.judge(sample(&[5, 7], 3), start, at(0)), None);
        assert_eq!(dog.judge(sample(&[5, 7], 3), start, at(20)), None);
        assert_eq!(
            dog.judge(sample(&[5, 7], 4), start, at(30)),
            Some(Stall {
                for_: Duration::from_secs(30),
                waiting: 4
            })
        );
    }

    #[test]
    fn progress_a_caught_up_group_or_a_busy_member_is_no_stall() {
        let mut dog = watchdog(Duration::from_secs(30));
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        dog.judge(sample(&[5, 7], 3), start, at(0));
        assert_eq!(
            dog.judge(sample(&[6, 7], 3), start, at(30)),
            None,
            "the group committed: the clock starts again"
        );
        assert_eq!(dog.judge(sample(&[6, 7], 3), start, at(59)), None);
        assert!(dog.judge(sample(&[6, 7], 3), start, at(60)).is_some());
        assert_eq!(
            dog.judge(sample(&[6, 7], 0), start, at(61)),
            None,
            "nothing waits"
        );

        dog.judge(sample(&[6, 7], 2), start, at(100));
        assert_eq!(
            dog.judge(sample(&[6, 7], 2), at(120), at(140)),
            None,
            "this member received a record 20 s ago"
        );
    }
}
