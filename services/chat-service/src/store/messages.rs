//! `messages`: each room's history, by gap-free `seq`.

use chrono::{DateTime, Utc};
use diesel::{dsl::exists, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{attachments, directory, messages, room_members, rooms};

/// A stored message with its sender's current display name.
#[derive(Debug, Clone, Queryable)]
pub struct MessageRow {
    pub room_id: Uuid,
    pub seq: i64,
    pub id: Uuid,
    pub sender_id: Uuid,
    pub body: String,
    pub attachment_ids: Vec<Uuid>,
    pub sent_at: DateTime<Utc>,
    pub display_name: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage<'a> {
    pub room_id: Uuid,
    pub seq: i64,
    pub id: Uuid,
    pub sender_id: Uuid,
    pub client_msg_id: &'a str,
    pub body: &'a str,
    pub attachment_ids: &'a [Uuid],
    pub sent_at: DateTime<Utc>,
}

type Columns = (
    messages::room_id,
    messages::seq,
    messages::id,
    messages::sender_id,
    messages::body,
    messages::attachment_ids,
    messages::sent_at,
    diesel::dsl::Nullable<directory::display_name>,
);

/// The columns of a [`MessageRow`] (messages left-joined with the directory).
fn columns() -> Columns {
    (
        messages::room_id,
        messages::seq,
        messages::id,
        messages::sender_id,
        messages::body,
        messages::attachment_ids,
        messages::sent_at,
        directory::display_name.nullable(),
    )
}

/// The message `sender` already sent to `room` under `client_msg_id`, if any.
pub async fn find_sent(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    sender: Uuid,
    client_msg_id: &str,
) -> QueryResult<Option<MessageRow>> {
    messages::table
        .left_join(directory::table.on(directory::user_id.eq(messages::sender_id)))
        .filter(messages::room_id.eq(room))
        .filter(messages::sender_id.eq(sender))
        .filter(messages::client_msg_id.eq(client_msg_id))
        .select(columns())
        .first(conn)
        .await
        .optional()
}

/// Takes the room's next `seq` if `sender` is a member, with the sender's display name (if
/// the directory knows it) in the same round trip: the room row stays locked until the
/// transaction ends, which orders concurrent senders, and a rollback returns the number.
pub async fn next_seq(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    sender: Uuid,
) -> QueryResult<Option<(i64, Option<String>)>> {
    diesel::update(
        rooms::table.filter(rooms::id.eq(room)).filter(exists(
            room_members::table
                .filter(room_members::room_id.eq(room))
                .filter(room_members::user_id.eq(sender)),
        )),
    )
    .set(rooms::last_seq.eq(rooms::last_seq + 1))
    .returning((
        rooms::last_seq,
        directory::table
            .find(sender)
            .select(directory::display_name)
            .single_value(),
    ))
    .get_result(conn)
    .await
    .optional()
}

/// Stores a message; `false` when the sender's `client_msg_id` is already stored (a
/// concurrent retry won).
pub async fn insert(conn: &mut AsyncPgConnection, message: &NewMessage<'_>) -> QueryResult<bool> {
    let inserted = diesel::insert_into(messages::table)
        .values(message)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted > 0)
}

/// Ties `ids` to `message`: each must be an unused upload of `uploader` in `room`. Returns
/// how many were tied.
pub async fn attach(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    uploader: Uuid,
    message: Uuid,
    ids: &[Uuid],
) -> QueryResult<usize> {
    diesel::update(
        attachments::table
            .filter(attachments::id.eq_any(ids))
            .filter(attachments::room_id.eq(room))
            .filter(attachments::uploader_id.eq(uploader))
            .filter(attachments::message_id.is_null()),
    )
    .set(attachments::message_id.eq(message))
    .execute(conn)
    .await
}

/// Up to `limit` messages of `room` before `before` (newest first).
pub async fn before(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<MessageRow>> {
    let mut query = messages::table
        .left_join(directory::table.on(directory::user_id.eq(messages::sender_id)))
        .filter(messages::room_id.eq(room))
        .select(columns())
        .order(messages::seq.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(messages::seq.lt(before));
    }
    query.load(conn).await
}

/// Up to `limit` messages of `room` after `after`, up to `through` (oldest first).
pub async fn after(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    after: i64,
    through: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<MessageRow>> {
    let mut query = messages::table
        .left_join(directory::table.on(directory::user_id.eq(messages::sender_id)))
        .filter(messages::room_id.eq(room))
        .filter(messages::seq.gt(after))
        .select(columns())
        .order(messages::seq.asc())
        .limit(limit)
        .into_boxed();
    if let Some(through) = through {
        query = query.filter(messages::seq.le(through));
    }
    query.load(conn).await
}
