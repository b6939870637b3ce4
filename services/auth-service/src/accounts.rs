//! Accounts: registering, signing in, changing the password, creating admins. The rules
//! between the HTTP routes and the stores; sessions have their own file (`sessions.rs`).

use std::{sync::Arc, time::SystemTime};

use chrono::{DateTime, Utc};
use marquee_common::{
    auth::{AccessClaims, AuthUser, Role, TokenVerifier},
    db::{self, PgPool},
    kafka::outbox,
};
use marquee_proto_events::{sessions::v1::RevocationReason, users::v1::UserCreated};
use uuid::Uuid;

use crate::{
    config::TokenConfig,
    domain::{DisplayName, Email, Password},
    error::ApiError,
    hashing::PasswordHasher,
    keys::SigningKeys,
    store::{
        credentials::{self, Inserted, NewCredentials},
        sessions::{Origin, RefreshToken, SessionStore},
        throttle::LoginThrottle,
    },
};

/// Everything the account and session operations need; one per process, shared by the
/// HTTP workers and the event consumer.
#[derive(Clone)]
pub struct Accounts {
    pub pool: PgPool,
    pub hasher: PasswordHasher,
    pub keys: Arc<SigningKeys>,
    pub sessions: SessionStore,
    pub throttle: LoginThrottle,
    /// This service's own verifier: told about revocations at once, so a revoked token is
    /// refused by this replica immediately.
    pub verifier: TokenVerifier,
    pub tokens: TokenConfig,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// A session's tokens, as login and refresh return them.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub session_id: Uuid,
}

/// The roles of a new account.
fn roles(admin: bool) -> Vec<Role> {
    if admin {
        vec![Role::User, Role::Admin]
    } else {
        vec![Role::User]
    }
}

pub(crate) fn role_names(roles: &[Role]) -> Vec<String> {
    roles
        .iter()
        .map(|role| match role {
            Role::User => "user".to_owned(),
            Role::Admin => "admin".to_owned(),
        })
        .collect()
}

pub(crate) fn parse_roles(names: &[String]) -> Vec<Role> {
    names
        .iter()
        .filter_map(|name| match name.as_str() {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        })
        .collect()
}

pub(crate) fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    SystemTime::from(time).into()
}

/// Creates an account and, in the same transaction, its `UserCreated` event.
pub(crate) async fn create_account(
    pool: &PgPool,
    hasher: &PasswordHasher,
    email: Email,
    password: Password,
    display_name: DisplayName,
    admin: bool,
) -> Result<Uuid, ApiError> {
    let password_hash = hasher.hash(&password).await?;
    let user_id = Uuid::now_v7();
    let now = Utc::now();
    let roles = role_names(&roles(admin));
    let event = UserCreated {
        user_id: user_id.to_string(),
        email: email.as_str().to_owned(),
        display_name: display_name.as_str().to_owned(),
        created_at: Some(timestamp(now)),
        roles: roles.clone(),
    };
    db::transaction(pool, |conn| {
        Box::pin(async move {
            let row = NewCredentials {
                user_id,
                email: email.as_str(),
                password_hash: &password_hash,
                roles,
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

impl Accounts {
    /// Registers a user (role `user`).
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        display_name: DisplayName,
    ) -> Result<Uuid, ApiError> {
        create_account(
            &self.pool,
            &self.hasher,
            email,
            password,
            display_name,
            false,
        )
        .await
    }

    /// Checks the password and opens a session. Unknown e-mail, wrong password and disabled
    /// account give the same error after the same work; a locked address is refused before
    /// any password is checked.
    pub async fn login(
        &self,
        email: Email,
        password: Password,
        origin: Origin,
    ) -> Result<Tokens, ApiError> {
        // First a place in the hashing pool: a full pool sheds the request before it costs a
        // Redis call or a query.
        let slot = self.hasher.admit()?;
        if let Some(wait) = self
            .throttle
            .begin(&email)
            .await
            .map_err(ApiError::sessions_unavailable)?
        {
            return Err(ApiError::Locked(wait));
        }
        let checked = async {
            let mut conn = db::connection(&self.pool).await?;
            let account = credentials::find_by_email(&mut conn, &email).await?;
            drop(conn);
            let matches = slot
                .verify(
                    &password,
                    account.as_ref().map(|a| a.password_hash.as_str()),
                )
                .await?;
            Ok::<_, ApiError>((account, matches))
        };
        let (account, matches) = match checked.await {
            Ok(checked) => checked,
            Err(error) => {
                // The password was never checked: the attempt does not count.
                if let Err(redis) = self.throttle.abandon(&email).await {
                    tracing::warn!(error = %redis, "cannot take back an unchecked sign-in attempt");
                }
                return Err(error);
            }
        };
        let account = match account {
            Some(account) if matches && account.disabled_at.is_none() => account,
            // The attempt was counted when it began.
            _ => return Err(ApiError::InvalidCredentials),
        };
        self.throttle
            .clear(&email)
            .await
            .map_err(ApiError::sessions_unavailable)?;
        let refresh = self
            .sessions
            .create(account.user_id, origin)
            .await
            .map_err(ApiError::sessions_unavailable)?;
        self.tokens_for(account.user_id, parse_roles(&account.roles), &refresh)
    }

    /// Changes the caller's password after checking the current one, and ends every other
    /// session of theirs. Wrong current passwords count towards the address's lock.
    pub async fn change_password(
        &self,
        user: &AuthUser,
        current: Password,
        new: Password,
    ) -> Result<(), ApiError> {
        let mut conn = db::connection(&self.pool).await?;
        let account = credentials::find_by_id(&mut conn, user.id)
            .await?
            .filter(|a| a.disabled_at.is_none())
            .ok_or(ApiError::InvalidCredentials)?;
        drop(conn);
        let email = Email::parse("email", &account.email).map_err(ApiError::internal)?;
        // First a place in the hashing pool: a full pool sheds the request before it costs a
        // Redis call or a query.
        let slot = self.hasher.admit()?;
        if let Some(wait) = self
            .throttle
            .begin(&email)
            .await
            .map_err(ApiError::sessions_unavailable)?
        {
            return Err(ApiError::Locked(wait));
        }
        if !slot.verify(&current, Some(&account.password_hash)).await? {
            return Err(ApiError::WrongPassword);
        }
        self.throttle
            .clear(&email)
            .await
            .map_err(ApiError::sessions_unavailable)?;
        let new_hash = self.hasher.hash(&new).await?;
        let others: Vec<Uuid> = self
            .sessions
            .ids(user.id)
            .await
            .map_err(ApiError::sessions_unavailable)?
            .into_iter()
            .filter(|id| *id != user.session_id)
            .collect();
        // Unlike the other revocations, the sessions go first: once the new password is
        // committed a retry could not pass the current-password check again, so a failure
        // after the commit would leave the other sessions alive for good. This way a failure
        // either changes nothing (Redis down) or leaves them ended with the password
        // unchanged, and the retry finishes the job.
        self.delete_sessions(user.id, &others).await?;
        let user_id = user.id;
        db::transaction(&self.pool, |conn| {
            Box::pin(async move {
                credentials::set_password(conn, user_id, &new_hash).await?;
                enqueue_revocations(conn, user_id, &others, RevocationReason::PasswordChanged)
                    .await?;
                Ok::<_, ApiError>(())
            })
        })
        .await
    }

    /// A signed access token and the refresh token for `refresh`'s session.
    pub(crate) fn tokens_for(
        &self,
        user_id: Uuid,
        roles: Vec<Role>,
        refresh: &RefreshToken,
    ) -> Result<Tokens, ApiError> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id,
            sid: refresh.session_id,
            roles,
            iss: self.tokens.issuer.clone(),
            aud: self.tokens.audience.clone(),
            iat: now,
            exp: now + self.tokens.access_ttl.as_secs() as i64,
            jti: Uuid::now_v7(),
        };
        let access_token = self
            .keys
            .sign(&claims)
            .map_err(|e| ApiError::Internal(format!("signing failed: {e}")))?;
        Ok(Tokens {
            access_token,
            refresh_token: refresh.encode(),
            expires_in: self.tokens.access_ttl.as_secs(),
            session_id: refresh.session_id,
        })
    }
}

/// Enqueues one `SessionRevoked` per session, in the caller's transaction (one statement).
pub(crate) async fn enqueue_revocations(
    conn: &mut diesel_async::AsyncPgConnection,
    user_id: Uuid,
    session_ids: &[Uuid],
    reason: RevocationReason,
) -> diesel::QueryResult<()> {
    if session_ids.is_empty() {
        return Ok(());
    }
    let revoked_at = Some(timestamp(Utc::now()));
    let rows = session_ids
        .iter()
        .map(|session_id| {
            outbox::NewOutboxEvent::new(&marquee_proto_events::sessions::v1::SessionRevoked {
                session_id: session_id.to_string(),
                user_id: user_id.to_string(),
                reason: reason as i32,
                revoked_at,
            })
        })
        .collect();
    outbox::enqueue_all(conn, rows).await.map(drop)
}
