//! The `profiles` table (and the tombstones of deleted ones).

use chrono::{DateTime, Utc};
use diesel::{
    dsl::{exists, sql},
    prelude::*,
    sql_types::{Bool, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::{profile_tombstones, profiles};

/// A profile row. Serialisable because it is also what the cache holds.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize, Deserialize,
)]
#[diesel(table_name = profiles)]
pub struct Profile {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub locale: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The columns a change writes: `None` leaves a column alone, `Some(None)` sets it NULL.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = profiles)]
pub struct ProfileUpdate {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub bio: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub locale: Option<Option<String>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub version: Option<i64>,
}

/// Creates the profile unless it exists or was deleted (a redelivered or replayed
/// `UserCreated` changes nothing). Returns whether a row was created.
pub async fn create(conn: &mut AsyncPgConnection, profile: &Profile) -> QueryResult<bool> {
    let deleted: bool = diesel::select(exists(profile_tombstones::table.find(profile.id)))
        .get_result(conn)
        .await?;
    if deleted {
        return Ok(false);
    }
    diesel::insert_into(profiles::table)
        .values(profile)
        .on_conflict(profiles::id)
        .do_nothing()
        .execute(conn)
        .await
        .map(|rows| rows > 0)
}

pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Profile>> {
    profiles::table
        .find(id)
        .select(Profile::as_select())
        .first(conn)
        .await
        .optional()
}

/// The profile, locked until the end of the transaction (for a read-modify-write).
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<Profile>> {
    profiles::table
        .find(id)
        .select(Profile::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Writes `update` and returns the row as it now is.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    update: &ProfileUpdate,
) -> QueryResult<Profile> {
    diesel::update(profiles::table.find(id))
        .set(update)
        .returning(Profile::as_returning())
        .get_result(conn)
        .await
}

/// Whether another profile uses `email` (already normalised).
pub async fn email_in_use(
    conn: &mut AsyncPgConnection,
    email: &str,
    except: Uuid,
) -> QueryResult<bool> {
    diesel::select(exists(
        profiles::table
            .filter(profiles::id.ne(except))
            .filter(sql::<Bool>(r#"lower(email) COLLATE "C" = "#).bind::<Text, _>(email)),
    ))
    .get_result(conn)
    .await
}

/// Deletes the profile and leaves a tombstone. Returns whether it existed.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> QueryResult<bool> {
    let deleted = diesel::delete(profiles::table.find(id))
        .execute(conn)
        .await?;
    diesel::insert_into(profile_tombstones::table)
        .values((
            profile_tombstones::id.eq(id),
            profile_tombstones::deleted_at.eq(at),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}

/// Up to `fetch` profiles with ids after `after`, in id order (ids are UUIDv7, so this is
/// registration order), optionally only those whose lower-cased e-mail or display name starts
/// with `prefix` (already lower-cased). Every page is an index range scan: on the primary key,
/// or on the two prefix indexes.
pub async fn list(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
    prefix: Option<&str>,
    fetch: i64,
) -> QueryResult<Vec<Profile>> {
    let mut query = profiles::table
        .select(Profile::as_select())
        .order(profiles::id)
        .limit(fetch)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(profiles::id.gt(after));
    }
    if let Some(prefix) = prefix {
        // Every text starting with `prefix` sorts, byte-wise, in [prefix, prefix + U+10FFFF).
        let upper = format!("{prefix}\u{10FFFF}");
        query = query.filter(
            sql::<Bool>(r#"((lower(email) COLLATE "C" >= "#)
                .bind::<Text, _>(prefix.to_owned())
                .sql(r#" AND lower(email) COLLATE "C" < "#)
                .bind::<Text, _>(upper.clone())
                .sql(r#") OR (lower(display_name) COLLATE "C" >= "#)
                .bind::<Text, _>(prefix.to_owned())
                .sql(r#" AND lower(display_name) COLLATE "C" < "#)
                .bind::<Text, _>(upper)
                .sql("))"),
        );
    }
    query.load(conn).await
}
