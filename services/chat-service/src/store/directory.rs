//! `directory`: the display names of users, kept from `users.v1`.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::directory;

/// Records a new user's name; an entry that already exists (a later update applied first)
/// is kept.
pub async fn created(conn: &mut AsyncPgConnection, user: Uuid, name: &str) -> QueryResult<()> {
    diesel::insert_into(directory::table)
        .values((
            directory::user_id.eq(user),
            directory::display_name.eq(name),
            directory::version.eq(0),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a renamed user at profile `version`; an update older than the one applied is
/// ignored.
pub async fn renamed(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    name: &str,
    version: i64,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO directory (user_id, display_name, version) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE \
         SET display_name = EXCLUDED.display_name, version = EXCLUDED.version, updated_at = now() \
         WHERE directory.version < EXCLUDED.version",
    )
    .bind::<diesel::sql_types::Uuid, _>(user)
    .bind::<diesel::sql_types::Text, _>(name)
    .bind::<diesel::sql_types::BigInt, _>(version)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<()> {
    diesel::delete(directory::table.filter(directory::user_id.eq(user)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn name(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Option<String>> {
    directory::table
        .find(user)
        .select(directory::display_name)
        .first(conn)
        .await
        .optional()
}

/// The names of `users` that the directory knows.
pub async fn names(
    conn: &mut AsyncPgConnection,
    users: &[Uuid],
) -> QueryResult<Vec<(Uuid, String)>> {
    directory::table
        .filter(directory::user_id.eq_any(users))
        .select((directory::user_id, directory::display_name))
        .load(conn)
        .await
}
