//! Registering and signing in: the rules, between the HTTP routes and the stores.

use std::sync::Arc;

use chrono::Utc;
use marquee_common::{
    auth::{AccessClaims, Role},
    db::{self, PgPool},
    kafka::outbox,
};
use marquee_proto_events::users::v1::UserCreated;
use uuid::Uuid;

use crate::{
    config::TokenConfig,
    domain::{DisplayName, Email, Password},
    error::ApiError,
    hashing::PasswordHasher,
    keys::SigningKeys,
    sessions::{Origin, SessionStore},
    store::credentials::{self, Inserted, NewCredentials},
};

/// What the account operations need.
#[derive(Clone)]
pub struct Accounts {
    pub pool: PgPool,
    pub hasher: PasswordHasher,
    pub keys: Arc<SigningKeys>,
    pub sessions: SessionStore,
    pub tokens: TokenConfig,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// A new session's tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub session_id: Uuid,
}

impl Accounts {
    /// Creates the account and, in the same transaction, the `UserCreated` event.
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        display_name: DisplayName,
    ) -> Result<Uuid, ApiError> {
        let password_hash = self.hasher.hash(&password).await?;
        let user_id = Uuid::now_v7();
        let now = Utc::now();
        let event = UserCreated {
            user_id: user_id.to_string(),
            email: email.as_str().to_owned(),
            display_name: display_name.as_str().to_owned(),
            created_at: Some(prost_types::Timestamp {
                seconds: now.timestamp(),
                nanos: now.timestamp_subsec_nanos() as i32,
            }),
            roles: vec!["user".to_owned()],
        };
        db::transaction(&self.pool, |conn| {
            Box::pin(async move {
                let row = NewCredentials {
                    user_id,
                    email: email.as_str(),
                    password_hash: &password_hash,
                    roles: vec!["user".to_owned()],
                    created_at: now,
                    updated_at: now,
                };
                match credentials::insert(conn, row).await? {
                    Inserted::EmailTaken => return Err(ApiError::EmailTaken),
                    Inserted::Yes => {}
                }
                outbox::enqueue(conn, &event).await?;
                Ok(user_id)
            })
        })
        .await
    }

    /// Checks the password and opens a session. Unknown e-mail, wrong password and disabled
    /// account give the same error after the same work.
    pub async fn login(
        &self,
        email: Email,
        password: Password,
        origin: Origin,
    ) -> Result<Tokens, ApiError> {
        let mut conn = db::connection(&self.pool).await?;
        let account = credentials::find_by_email(&mut conn, &email).await?;
        drop(conn);
        let matches = self
            .hasher
            .verify(
                &password,
                account.as_ref().map(|a| a.password_hash.as_str()),
            )
            .await?;
        let account = match account {
            Some(account) if matches && account.disabled_at.is_none() => account,
            _ => return Err(ApiError::InvalidCredentials),
        };
        let (session_id, refresh_token) = self
            .sessions
            .create(account.user_id, origin)
            .await
            .map_err(|e| ApiError::SessionsUnavailable(e.to_string()))?;
        let roles = account.roles.iter().filter_map(|r| parse_role(r)).collect();
        let access_token = self.access_token(account.user_id, session_id, roles)?;
        Ok(Tokens {
            access_token,
            refresh_token,
            expires_in: self.tokens.access_ttl.as_secs(),
            session_id,
        })
    }

    fn access_token(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        roles: Vec<Role>,
    ) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id,
            sid: session_id,
            roles,
            iss: self.tokens.issuer.clone(),
            aud: self.tokens.audience.clone(),
            iat: now,
            exp: now + self.tokens.access_ttl.as_secs() as i64,
            jti: Uuid::now_v7(),
        };
        self.keys
            .sign(&claims)
            .map_err(|e| ApiError::Internal(format!("signing failed: {e}")))
    }
}

fn parse_role(role: &str) -> Option<Role> {
    match role {
        "user" => Some(Role::User),
        "admin" => Some(Role::Admin),
        _ => None,
    }
}
