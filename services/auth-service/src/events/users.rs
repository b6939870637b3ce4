//! `users.v1`, as published by user-service: the login e-mail follows the profile's, and a
//! deleted user can no longer sign in and loses every session.
//!
//! Runs under the inbox consumer: the database effects commit with the inbox row, exactly
//! once. Deleting the sessions in Redis cannot join that transaction; it happens inside the
//! handler and is idempotent, so a retry after a failed commit deletes nothing twice and a
//! Redis outage turns into a retry (never into a deleted user who stays signed in).

use diesel_async::AsyncPgConnection;
use marquee_common::kafka::{
    consumer::{EventHandler, HandlerError, uuid_field},
    envelope::ReceivedEvent,
};
use marquee_proto_events::{
    sessions::v1::RevocationReason,
    users::v1::{UserDeleted, UserUpdated},
};

use crate::{
    accounts::{Accounts, enqueue_revocations},
    domain::Email,
    store::credentials::{self, EmailChange},
};

/// Applies `users.v1` events to credentials and sessions.
#[derive(Debug, Clone)]
pub struct UsersHandler {
    pub accounts: Accounts,
}

impl EventHandler for UsersHandler {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandlerError> {
        if event.is::<UserUpdated>() {
            let updated: UserUpdated = event.decode()?;
            let Some(email) = updated.email else {
                return Ok(());
            };
            let user_id = uuid_field("user_id", &updated.user_id)?;
            let email = Email::parse("email", &email).map_err(HandlerError::permanent)?;
            match credentials::set_email(conn, user_id, &email).await? {
                EmailChange::Changed | EmailChange::Unchanged => Ok(()),
                // user-service cannot know which addresses sign in elsewhere; keep the old
                // login and let an operator look at the dead letter.
                EmailChange::Taken => Err(HandlerError::permanent(format!(
                    "user {user_id}: the new e-mail already signs in to another account"
                ))),
            }
        } else if event.is::<UserDeleted>() {
            let deleted: UserDeleted = event.decode()?;
            let user_id = uuid_field("user_id", &deleted.user_id)?;
            credentials::disable(conn, user_id).await?;
            let sessions = &self.accounts.sessions;
            let ids = sessions
                .ids(user_id)
                .await
                .map_err(HandlerError::transient)?;
            enqueue_revocations(conn, user_id, &ids, RevocationReason::UserDeleted).await?;
            self.accounts
                .delete_sessions(user_id, &ids)
                .await
                .map_err(HandlerError::transient)
        } else {
            Ok(())
        }
    }
}
