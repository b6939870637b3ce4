//! `rooms` and `room_members`.

use chrono::{DateTime, Utc};
use diesel::{dsl::exists, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{directory, room_members, rooms};

/// A room as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rooms)]
pub struct RoomRow {
    pub id: Uuid,
    pub name: String,
    pub topic: String,
    pub visibility: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_seq: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = rooms)]
pub struct NewRoom<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub name_key: &'a str,
    pub topic: &'a str,
    pub visibility: &'a str,
    pub created_by: Uuid,
}

/// A member of a room, with their current display name (if the directory knows them).
#[derive(Debug, Clone, Queryable)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub role: String,
    pub joined_at: DateTime<Utc>,
    pub display_name: Option<String>,
}

pub async fn insert(conn: &mut AsyncPgConnection, room: &NewRoom<'_>) -> QueryResult<RoomRow> {
    diesel::insert_into(rooms::table)
        .values(room)
        .returning(RoomRow::as_returning())
        .get_result(conn)
        .await
}

/// The room and the caller's role in it (`None` when not a member).
pub async fn find_with_role(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    user: Uuid,
) -> QueryResult<Option<(RoomRow, Option<String>)>> {
    rooms::table
        .left_join(
            room_members::table.on(room_members::room_id
                .eq(rooms::id)
                .and(room_members::user_id.eq(user))),
        )
        .filter(rooms::id.eq(room))
        .select((RoomRow::as_select(), room_members::role.nullable()))
        .first(conn)
        .await
        .optional()
}

/// Rooms whose lower-cased name matches `pattern` (a `LIKE` pattern, `\` escapes) that
/// `user` may see — public ones and private ones they are in — in name order, after `after`.
pub async fn search(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    pattern: &str,
    after: Option<&(String, Uuid)>,
    fetch: i64,
) -> QueryResult<Vec<(RoomRow, String)>> {
    let visible = rooms::visibility.eq("public").or(exists(
        room_members::table
            .filter(room_members::room_id.eq(rooms::id))
            .filter(room_members::user_id.eq(user)),
    ));
    let mut query = rooms::table
        .filter(rooms::name_key.like(pattern).escape('\\'))
        .filter(visible)
        .select((RoomRow::as_select(), rooms::name_key))
        .order((rooms::name_key.asc(), rooms::id.asc()))
        .limit(fetch)
        .into_boxed();
    if let Some((key, id)) = after {
        query = query.filter(
            rooms::name_key
                .gt(key.clone())
                .or(rooms::name_key.eq(key.clone()).and(rooms::id.gt(*id))),
        );
    }
    query.load(conn).await
}

/// Adds `user` with `role`; `false` if they were already a member.
pub async fn add_member(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    user: Uuid,
    role: &str,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(room_members::table)
        .values((
            room_members::room_id.eq(room),
            room_members::user_id.eq(user),
            room_members::role.eq(role),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted > 0)
}

/// Removes `user`; `false` if they were not a member.
pub async fn remove_member(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    user: Uuid,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        room_members::table
            .filter(room_members::room_id.eq(room))
            .filter(room_members::user_id.eq(user)),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}

/// Every membership of `user` (a deleted account's cleanup), returning the rooms.
pub async fn remove_user_everywhere(
    conn: &mut AsyncPgConnection,
    user: Uuid,
) -> QueryResult<Vec<Uuid>> {
    diesel::delete(room_members::table.filter(room_members::user_id.eq(user)))
        .returning(room_members::room_id)
        .get_results(conn)
        .await
}

/// `user`'s rooms with how far they have read, by room id, after `after`.
pub async fn of_user(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    after: Option<Uuid>,
    fetch: i64,
) -> QueryResult<Vec<(RoomRow, i64)>> {
    let mut query = rooms::table
        .inner_join(room_members::table)
        .filter(room_members::user_id.eq(user))
        .select((RoomRow::as_select(), room_members::last_read_seq))
        .order(rooms::id.asc())
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(rooms::id.gt(after));
    }
    query.load(conn).await
}

/// The ids of every room `user` is in (a connecting socket's notification subscriptions).
pub async fn ids_of_user(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Vec<Uuid>> {
    room_members::table
        .filter(room_members::user_id.eq(user))
        .select(room_members::room_id)
        .load(conn)
        .await
}

/// A room's members in the order they joined (then by id), after `after`.
pub async fn members(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    after: Option<&(DateTime<Utc>, Uuid)>,
    fetch: i64,
) -> QueryResult<Vec<MemberRow>> {
    let mut query = room_members::table
        .left_join(directory::table.on(directory::user_id.eq(room_members::user_id)))
        .filter(room_members::room_id.eq(room))
        .select((
            room_members::user_id,
            room_members::role,
            room_members::joined_at,
            directory::display_name.nullable(),
        ))
        .order((room_members::joined_at.asc(), room_members::user_id.asc()))
        .limit(fetch)
        .into_boxed();
    if let Some((joined_at, user)) = after {
        query = query.filter(
            room_members::joined_at
                .gt(*joined_at)
                .or(room_members::joined_at
                    .eq(*joined_at)
                    .and(room_members::user_id.gt(*user))),
        );
    }
    query.load(conn).await
}

/// Records that `user` has read `room` up to `seq` (never backwards, never past the newest
/// message); `false` if they are not a member.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    user: Uuid,
    seq: i64,
) -> QueryResult<bool> {
    let updated = diesel::sql_query(
        "UPDATE room_members m SET last_read_seq = GREATEST(m.last_read_seq, LEAST($3, r.last_seq)) \
         FROM rooms r WHERE r.id = m.room_id AND m.room_id = $1 AND m.user_id = $2",
    )
    .bind::<diesel::sql_types::Uuid, _>(room)
    .bind::<diesel::sql_types::Uuid, _>(user)
    .bind::<diesel::sql_types::BigInt, _>(seq)
    .execute(conn)
    .await?;
    Ok(updated > 0)
}
