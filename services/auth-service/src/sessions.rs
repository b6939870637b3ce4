//! Sessions: refresh rotation with reuse detection, logout, listing and revocation.
//!
//! Revocations requested by the user (logout, logout-all, deleting a session) follow one
//! order: the `SessionRevoked` events commit to the outbox first, then the Redis records are
//! deleted, then this replica's verifier forgets them. If the deletion fails, the client gets
//! a 503 and retries; a duplicate event is harmless (consumers treat "session revoked"
//! idempotently), a lost one would not be.
//!
//! Two revocations put ending the session first, because there a still-live session is the
//! worse failure: a password change (see `Accounts::change_password`) and a detected reuse of
//! a refresh token (the rotation script deletes the session atomically). If the event cannot
//! be written right after, it is logged as an error naming the session.

use marquee_common::{auth::AuthUser, db};
use marquee_proto_events::sessions::v1::RevocationReason;
use uuid::Uuid;

use crate::{
    accounts::{Accounts, Tokens, enqueue_revocations, parse_roles},
    error::ApiError,
    store::{
        credentials,
        sessions::{RefreshToken, Rotation, Session},
    },
};

impl Accounts {
    /// Trades a refresh token for a new pair. See `store::sessions` for rotation, the grace
    /// window and reuse.
    pub async fn refresh(&self, token: &str) -> Result<Tokens, ApiError> {
        let token = RefreshToken::parse(token).ok_or(ApiError::InvalidRefreshToken)?;
        let user_id = self
            .sessions
            .owner(token.session_id)
            .await
            .map_err(ApiError::sessions_unavailable)?
            .ok_or(ApiError::InvalidRefreshToken)?;
        // Roles are read afresh, so a promotion or a disabled account counts from the next
        // refresh on.
        let mut conn = db::connection(&self.pool).await?;
        let account = credentials::find_by_id(&mut conn, user_id).await?;
        drop(conn);
        let Some(account) = account.filter(|a| a.disabled_at.is_none()) else {
            // A session that outlived its user's deletion (opened while it was being applied).
            self.revoke(
                user_id,
                vec![token.session_id],
                RevocationReason::UserDeleted,
            )
            .await?;
            return Err(ApiError::InvalidRefreshToken);
        };
        let rotation = self
            .sessions
            .rotate(user_id, &token)
            .await
            .map_err(ApiError::sessions_unavailable)?;
        match rotation {
            Rotation::Rotated(next) | Rotation::Replayed(next) => {
                self.tokens_for(user_id, parse_roles(&account.roles), &next)
            }
            Rotation::Reused => {
                // The script has deleted the session already: a stolen token must stop
                // working at once, whether or not the event can be written now.
                self.verifier.forget_session(token.session_id);
                tracing::warn!(
                    session_id = %token.session_id,
                    %user_id,
                    "refresh token reused after rotation; session revoked"
                );
                let session = [token.session_id];
                let enqueued = db::transaction(&self.pool, |conn| {
                    Box::pin(async move {
                        enqueue_revocations(
                            conn,
                            user_id,
                            &session,
                            RevocationReason::RefreshTokenReuse,
                        )
                        .await?;
                        Ok::<_, ApiError>(())
                    })
                })
                .await;
                if let Err(error) = enqueued {
                    tracing::error!(
                        %error,
                        session_id = %token.session_id,
                        "session revoked for reuse, but its SessionRevoked event could not be written"
                    );
                }
                Err(ApiError::RefreshTokenReused)
            }
            Rotation::Invalid => Err(ApiError::InvalidRefreshToken),
        }
    }

    /// The caller's sessions, newest first.
    pub async fn list_sessions(&self, user: &AuthUser) -> Result<Vec<Session>, ApiError> {
        self.sessions
            .list(user.id)
            .await
            .map_err(ApiError::sessions_unavailable)
    }

    /// Ends the caller's current session.
    pub async fn logout(&self, user: &AuthUser) -> Result<(), ApiError> {
        self.revoke(user.id, vec![user.session_id], RevocationReason::Logout)
            .await
    }

    /// Ends every session of the caller, the current one included.
    pub async fn logout_all(&self, user: &AuthUser) -> Result<(), ApiError> {
        let mut ids = self
            .sessions
            .ids(user.id)
            .await
            .map_err(ApiError::sessions_unavailable)?;
        if !ids.contains(&user.session_id) {
            ids.push(user.session_id);
        }
        self.revoke(user.id, ids, RevocationReason::LogoutAll).await
    }

    /// Ends one of the caller's sessions; another user's session is "not found".
    pub async fn delete_session(&self, user: &AuthUser, session_id: Uuid) -> Result<(), ApiError> {
        let owner = self
            .sessions
            .owner(session_id)
            .await
            .map_err(ApiError::sessions_unavailable)?;
        if owner != Some(user.id) {
            return Err(ApiError::SessionNotFound);
        }
        self.revoke(user.id, vec![session_id], RevocationReason::RevokedByUser)
            .await
    }

    /// Events first, then the records (see the module docs).
    async fn revoke(
        &self,
        user_id: Uuid,
        session_ids: Vec<Uuid>,
        reason: RevocationReason,
    ) -> Result<(), ApiError> {
        let ids = session_ids.clone();
        db::transaction(&self.pool, |conn| {
            Box::pin(async move {
                enqueue_revocations(conn, user_id, &ids, reason).await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
        self.delete_sessions(user_id, &session_ids).await
    }

    /// Deletes the records and forgets them locally.
    pub(crate) async fn delete_sessions(
        &self,
        user_id: Uuid,
        session_ids: &[Uuid],
    ) -> Result<(), ApiError> {
        self.sessions
            .delete(user_id, session_ids)
            .await
            .map_err(ApiError::sessions_unavailable)?;
        for id in session_ids {
            self.verifier.forget_session(*id);
        }
        Ok(())
    }
}
