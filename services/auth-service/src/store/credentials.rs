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
    pub email: String,
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

pub async fn find_by_id(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Option<Credentials>> {
    credentials::table
        .find(user_id)
        .select(Credentials::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn set_password(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    password_hash: &str,
) -> QueryResult<()> {
    diesel::update(credentials::table.find(user_id))
        .set((
            credentials::password_hash.eq(password_hash),
            credentials::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// What changing the login e-mail did.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailChange {
    Changed,
    /// No such account, or it already has this address.
    Unchanged,
    /// Another account signs in with this address.
    Taken,
}

pub async fn set_email(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    email: &Email,
) -> QueryResult<EmailChange> {
    let updated = diesel::update(
        credentials::table
            .find(user_id)
            .filter(credentials::email.ne(email.as_str())),
    )
    .set((
        credentials::email.eq(email.as_str()),
        credentials::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await;
    match updated {
        Ok(0) => Ok(EmailChange::Unchanged),
        Ok(_) => Ok(EmailChange::Changed),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(EmailChange::Taken),
        Err(other) => Err(other),
    }
}

/// Disables the account (the user was deleted); returns whether it was enabled.
pub async fn disable(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<bool> {
    diesel::update(
        credentials::table
            .find(user_id)
            .filter(credentials::disabled_at.is_null()),
    )
    .set((
        credentials::disabled_at.eq(diesel::dsl::now),
        credentials::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await
    .map(|rows| rows > 0)
}

/// Replaces the account's roles.
pub async fn set_roles(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    roles: Vec<String>,
) -> QueryResult<()> {
    diesel::update(credentials::table.find(user_id))
        .set((
            credentials::roles.eq(roles),
            credentials::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await
        .map(drop)
}
