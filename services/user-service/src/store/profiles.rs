//! The `profiles` table (and the tombstones of deleted ones).

use chrono::{DateTime, Utc};
use diesel::{
    dsl::{exists, sql},
    prelude::*,
    sql_types::{BigInt, Bool, Nullable, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schema::{profile_tombstones, profiles};

/// A profile row. Serialisable because it is also what the cache holds.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Queryable,
    QueryableByName,
    Selectable,
    Insertable,
    Serialize,
    Deserialize,
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

/// Whether an address another profile may already use is free for this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailClaim {
    Free,
    /// Another profile uses it.
    Taken,
}

/// Claims `email` (already normalised) for profile `claimant` until the transaction ends: a
/// transaction-scoped advisory lock on the address, so two changes to the same address
/// serialise and the second sees the first once it commits; then whether another profile
/// uses it. (There is no unique constraint on purpose: auth-service decides who signs in
/// with an address, and a `UserCreated` must always be able to create its profile.)
pub async fn claim_email(
    conn: &mut AsyncPgConnection,
    email: &str,
    claimant: Uuid,
) -> QueryResult<EmailClaim> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<Text, _>(format!("profile-email:{email}"))
        .execute(conn)
        .await?;
    let taken: bool = diesel::select(exists(
        profiles::table.filter(profiles::id.ne(claimant)).filter(
            sql::<Bool>(r#"lower(email) COLLATE "C" = lower("#)
                .bind::<Text, _>(email)
                .sql(")"),
        ),
    ))
    .get_result(conn)
    .await?;
    Ok(if taken {
        EmailClaim::Taken
    } else {
        EmailClaim::Free
    })
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
/// registration order): one range scan on the primary key, however deep the page.
pub async fn list(
    conn: &mut AsyncPgConnection,
    after: Option<Uuid>,
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
    query.load(conn).await
}

/// A profile found by [`search`], with the text it matched and is ordered by.
#[derive(Debug, Clone, QueryableByName, Serialize, Deserialize)]
pub struct SearchHit {
    #[diesel(embed)]
    pub profile: Profile,
    /// The lower-cased e-mail, or display name, that starts with the prefix.
    #[diesel(sql_type = Text)]
    pub sort_key: String,
}

/// Up to `fetch` profiles whose e-mail or display name starts with `prefix`
/// (case-insensitively, as PostgreSQL's `lower` folds case), ordered by the matching text
/// (the e-mail when both match) and then the id, after `after` (a previous hit's
/// `(sort_key, id)`).
///
/// Each branch of the union is one range scan on its `(lower(…) COLLATE "C", id)` index that
/// starts at the cursor and stops after `fetch` rows; a merge keeps the order. The only lower
/// bound is the row comparison with the cursor (the prefix itself on the first page): given two,
/// PostgreSQL may start the scan at the looser one, and the cost would grow with the depth.
pub async fn search(
    conn: &mut AsyncPgConnection,
    prefix: &str,
    after: Option<(String, Uuid)>,
    fetch: i64,
) -> QueryResult<Vec<SearchHit>> {
    let (after_key, after_id) = after.unzip();
    // Every text starting with the prefix sorts, byte-wise, before prefix + U+10FFFF.
    diesel::sql_query(
        r#"(SELECT p.*, lower(p.email) COLLATE "C" AS sort_key FROM profiles p
             WHERE lower(p.email) COLLATE "C" < lower($1) || chr(1114111)
               AND (lower(p.email) COLLATE "C", p.id)
                   > (COALESCE($2, lower($1)), COALESCE($3, '00000000-0000-0000-0000-000000000000'::uuid))
             ORDER BY lower(p.email) COLLATE "C", p.id
             LIMIT $4)
           UNION ALL
           (SELECT p.*, lower(p.display_name) COLLATE "C" AS sort_key FROM profiles p
             WHERE lower(p.display_name) COLLATE "C" < lower($1) || chr(1114111)
               AND NOT (lower(p.email) COLLATE "C" >= lower($1)
                        AND lower(p.email) COLLATE "C" < lower($1) || chr(1114111))
               AND (lower(p.display_name) COLLATE "C", p.id)
                   > (COALESCE($2, lower($1)), COALESCE($3, '00000000-0000-0000-0000-000000000000'::uuid))
             ORDER BY lower(p.display_name) COLLATE "C", p.id
             LIMIT $4)
           ORDER BY sort_key, id
           LIMIT $4"#,
    )
    .bind::<Text, _>(prefix)
    .bind::<Nullable<Text>, _>(after_key)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(after_id)
    .bind::<BigInt, _>(fetch)
    .load(conn)
    .await
}
