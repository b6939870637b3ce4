//! The first administrator: `auth-service admin create|promote` and the
//! `BOOTSTRAP_ADMIN_EMAIL` / `BOOTSTRAP_ADMIN_PASSWORD` variables (DESIGN §5).
//!
//! Creating an admin is registering with the roles `user` and `admin` (and the same
//! `UserCreated` event). An existing account is never promoted implicitly — someone could
//! have registered the bootstrap address first — only by `admin promote`, run by an
//! operator. A role change reaches access tokens at the account's next sign-in or refresh.

use marquee_common::db::{self, PgPool};
use secrecy::SecretString;
use uuid::Uuid;

use crate::{
    accounts::{create_account, parse_roles, role_names},
    domain::{DisplayName, Email, Invalid, Password},
    error::ApiError,
    hashing::PasswordHasher,
    store::credentials,
};

/// What `ensure_admin` found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOutcome {
    Created(Uuid),
    /// The address already belongs to an admin: nothing to do.
    AlreadyAdmin(Uuid),
}

/// Why no admin was created or promoted.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(Invalid),
    #[error(
        "{0} belongs to an account without the admin role; promote it deliberately with `auth-service admin promote --email {0}`"
    )]
    NotAdmin(String),
    #[error("no account signs in with {0}")]
    NoSuchAccount(String),
    #[error("{0}")]
    Failed(ApiError),
}

impl From<ApiError> for AdminError {
    fn from(error: ApiError) -> Self {
        Self::Failed(error)
    }
}

impl From<diesel::result::Error> for AdminError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Failed(error.into())
    }
}

/// Creates the admin `email` unless it exists; an existing non-admin account is an error.
pub async fn ensure_admin(
    pool: &PgPool,
    hasher: &PasswordHasher,
    email: &str,
    password: SecretString,
    display_name: &str,
) -> Result<AdminOutcome, AdminError> {
    let email = Email::parse("email", email).map_err(AdminError::Invalid)?;
    let password = Password::parse("password", password).map_err(AdminError::Invalid)?;
    let display_name =
        DisplayName::parse("display_name", display_name).map_err(AdminError::Invalid)?;
    let mut conn = db::connection(pool).await.map_err(ApiError::from)?;
    if let Some(account) = credentials::find_by_email(&mut conn, &email).await? {
        return if account.roles.iter().any(|r| r == "admin") {
            Ok(AdminOutcome::AlreadyAdmin(account.user_id))
        } else {
            Err(AdminError::NotAdmin(email.as_str().to_owned()))
        };
    }
    drop(conn);
    match create_account(pool, hasher, email.clone(), password, display_name, true).await {
        Ok(user_id) => Ok(AdminOutcome::Created(user_id)),
        // Registered between the lookup and the insert: decide as above.
        Err(ApiError::EmailTaken) => Err(AdminError::NotAdmin(email.as_str().to_owned())),
        Err(other) => Err(other.into()),
    }
}

/// Gives the existing account `email` the admin role; returns its id.
pub async fn promote(pool: &PgPool, email: &str) -> Result<Uuid, AdminError> {
    let email = Email::parse("email", email).map_err(AdminError::Invalid)?;
    let mut conn = db::connection(pool).await.map_err(ApiError::from)?;
    let account = credentials::find_by_email(&mut conn, &email)
        .await?
        .ok_or_else(|| AdminError::NoSuchAccount(email.as_str().to_owned()))?;
    let mut roles = parse_roles(&account.roles);
    if !roles.contains(&marquee_common::auth::Role::Admin) {
        roles.push(marquee_common::auth::Role::Admin);
        credentials::set_roles(&mut conn, account.user_id, role_names(&roles)).await?;
    }
    Ok(account.user_id)
}
