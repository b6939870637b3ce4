//! The transactional outbox: events are rows written in the same database transaction as the
//! state change they describe, so either both happen or neither does (no dual writes).
//!
//! ```ignore
//! db::transaction(&pool, |conn| Box::pin(async move {
//!     store::insert_user(conn, &user).await?;
//!     outbox::enqueue(conn, &UserCreated { .. }).await?;
//!     Ok(())
//! })).await?;
//! ```
//!
//! The event id (`ce_id`), time and the current trace context are fixed here, at enqueue
//! time; the [`relay`](super::relay) publishes the row later, as often as it must, with the
//! same id, which is what lets consumers drop duplicates.
//!
//! ## Waking the relay
//!
//! A transaction run by [`db::transaction`](crate::db::transaction) (or by the inbox consumer)
//! that enqueued events wakes this process's relay as soon as it has committed, in process
//! ([`wake_after_commit`]). When the active relay runs in another replica, the local standby
//! forwards the wake-up with one `NOTIFY marquee_outbox` for every burst of commits. Rows
//! written any other way are published at the relay's next poll (`OUTBOX_POLL_INTERVAL`) or on
//! an explicit `NOTIFY marquee_outbox`.
//!
//! Why not a trigger that notifies: PostgreSQL serialises the commits of every transaction
//! that issued a `NOTIFY`, cluster-wide (one lock held through the commit's WAL flush), so a
//! notifying trigger on the outbox made every event-writing commit of every service queue
//! behind the others.

use std::{cell::Cell, future::Future, sync::LazyLock};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marquee_proto_events::Event;
use uuid::Uuid;

use crate::{schema::outbox, telemetry};

/// The `LISTEN`/`NOTIFY` channel that wakes the active relay from another process.
pub const WAKE_CHANNEL: &str = "marquee_outbox";

/// Commits that wrote outbox rows in this process; relays wait on it.
static COMMITTED: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

tokio::task_local! {
    /// Set by every enqueue inside [`wake_after_commit`].
    static ENQUEUED: Cell<bool>;
}

/// Runs `transaction` (a future that commits when it returns `Ok`); when it committed and
/// enqueued events, wakes this process's relays.
pub async fn wake_after_commit<R, E>(
    transaction: impl Future<Output = Result<R, E>>,
) -> Result<R, E> {
    let (result, enqueued) = ENQUEUED
        .scope(Cell::new(false), async {
            let result = transaction.await;
            (result, ENQUEUED.with(Cell::get))
        })
        .await;
    if enqueued && result.is_ok() {
        COMMITTED.notify_waiters();
    }
    result
}

/// The signal [`wake_after_commit`] raises, for the relay.
pub(crate) fn commits() -> &'static tokio::sync::Notify {
    &COMMITTED
}

fn note_enqueued() {
    let _ = ENQUEUED.try_with(|enqueued| enqueued.set(true));
}

/// An event ready to be written to the outbox.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = outbox)]
pub struct NewOutboxEvent {
    pub event_id: Uuid,
    /// Logical topic; the relay applies `KAFKA_TOPIC_PREFIX`.
    pub topic: String,
    pub record_key: String,
    pub ce_type: String,
    pub payload: Vec<u8>,
    pub trace_headers: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl NewOutboxEvent {
    /// The outbox row for `event`, stamped with a new UUIDv7, the current time and the
    /// current span's trace context.
    pub fn new<E: Event>(event: &E) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            topic: E::TOPIC.to_owned(),
            record_key: event.key().to_owned(),
            ce_type: E::CE_TYPE.to_owned(),
            payload: event.encode_to_vec(),
            trace_headers: serde_json::to_value(telemetry::current_context_headers())
                .unwrap_or_default(),
            created_at: Utc::now(),
        }
    }
}

/// Writes `event` to the outbox on `conn`, which should be inside the transaction that makes
/// the change the event describes. Returns the event id.
pub async fn enqueue<E: Event>(conn: &mut AsyncPgConnection, event: &E) -> QueryResult<Uuid> {
    enqueue_row(conn, NewOutboxEvent::new(event)).await
}

/// Writes a prepared row to the outbox.
pub async fn enqueue_row(conn: &mut AsyncPgConnection, row: NewOutboxEvent) -> QueryResult<Uuid> {
    let event_id = row.event_id;
    diesel::insert_into(outbox::table)
        .values(row)
        .execute(conn)
        .await?;
    note_enqueued();
    Ok(event_id)
}

/// Writes several events at once (one statement).
pub async fn enqueue_all(
    conn: &mut AsyncPgConnection,
    rows: Vec<NewOutboxEvent>,
) -> QueryResult<Vec<Uuid>> {
    let ids = rows.iter().map(|r| r.event_id).collect();
    diesel::insert_into(outbox::table)
        .values(rows)
        .execute(conn)
        .await?;
    note_enqueued();
    Ok(ids)
}

/// One unpublished outbox row.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub(crate) struct PendingEvent {
    pub(crate) id: i64,
    pub(crate) event_id: Uuid,
    pub(crate) topic: String,
    pub(crate) record_key: String,
    pub(crate) ce_type: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) trace_headers: serde_json::Value,
    pub(crate) created_at: DateTime<Utc>,
}

/// The oldest rows waiting to be published, at most `limit`, skipping `in_flight` (the ids
/// of the batch the relay has sent and not yet settled).
pub(crate) async fn oldest(
    conn: &mut AsyncPgConnection,
    in_flight: &[i64],
    limit: i64,
) -> QueryResult<Vec<PendingEvent>> {
    outbox::table
        .filter(outbox::id.ne_all(in_flight))
        .order(outbox::id)
        .limit(limit)
        .select(PendingEvent::as_select())
        .load(conn)
        .await
}

/// Deletes the published rows `ids`.
pub(crate) async fn delete(conn: &mut AsyncPgConnection, ids: &[i64]) -> QueryResult<usize> {
    diesel::delete(outbox::table.filter(outbox::id.eq_any(ids)))
        .execute(conn)
        .await
}

/// How many events wait to be published (every row of the outbox), and the age of the
/// oldest, in seconds.
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<(i64, f64)> {
    let (pending, oldest): (i64, Option<DateTime<Utc>>) = outbox::table
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(outbox::created_at),
        ))
        .first(conn)
        .await?;
    let age = oldest.map(|t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0);
    Ok((pending, age.unwrap_or(0.0)))
}
