//! The `credentials` table.

use chrono::{DateTime, Utc};
use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::{domain::Email, schema::credentials};

/// A new account's row.
#[derive(Debug, Insertable)]
#[diesel(table_name = credentials)]
pub struct NewCredentials<'a> {
    pub user_id: Uuid,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An account as sign-in needs it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = credentials)]
pub struct Credentials {
    pub user_id: Uuid,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// Inserted, or the e-mail is taken.
#[derive(Debug)]
pub enum Inserted {
    Yes,
    EmailTaken,
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    row: NewCredentials<'_>,
) -> QueryResult<Inserted> {
    match diesel::insert_into(credentials::table)
        .values(row)
        .execute(conn)
        .await
    {
        Ok(_) => Ok(Inserted::Yes),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(Inserted::EmailTaken)
        }
        Err(other) => Err(other),
    }
}

pub async fn find_by_email(
    conn: &mut AsyncPgConnection,
    email: &Email,
) -> QueryResult<Option<Credentials>> {
    credentials::table
        .filter(credentials::email.eq(email.as_str()))
        .select(Credentials::as_select())
        .first(conn)
        .await
        .optional()
}
