//! The `profiles` table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::profiles;

/// A profile row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
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

/// Creates the profile unless it exists (a redelivered `UserCreated` changes nothing).
pub async fn create(conn: &mut AsyncPgConnection, profile: &Profile) -> QueryResult<bool> {
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
