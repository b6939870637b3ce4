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

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use marquee_proto_events::Event;
use uuid::Uuid;

use crate::{schema::outbox, telemetry};

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
    Ok(ids)
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
