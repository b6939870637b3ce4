//! `users.v1` → the directory: who is called what. `UserCreated` adds a name, `UserUpdated`
//! with a `display_name` renames (older profile versions are ignored), `UserDeleted`
//! forgets the name and the user's memberships (their messages stay, without a name).

use diesel_async::AsyncPgConnection;
use marquee_common::kafka::{
    consumer::{EventHandler, HandlerError, uuid_field},
    envelope::ReceivedEvent,
};
use marquee_proto_events::users::v1::{UserCreated, UserDeleted, UserUpdated};

use crate::store;

#[derive(Debug, Clone)]
pub struct UsersHandler;

impl EventHandler for UsersHandler {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandlerError> {
        if event.is::<UserCreated>() {
            let created: UserCreated = event.decode()?;
            let user = uuid_field("user_id", &created.user_id)?;
            if !created.display_name.is_empty() {
                store::directory::created(conn, user, &created.display_name).await?;
            }
        } else if event.is::<UserUpdated>() {
            let updated: UserUpdated = event.decode()?;
            let user = uuid_field("user_id", &updated.user_id)?;
            if let Some(name) = updated.display_name.filter(|n| !n.is_empty()) {
                let version = i64::try_from(updated.version).map_err(|_| {
                    HandlerError::permanent(format!("version {} is out of range", updated.version))
                })?;
                store::directory::renamed(conn, user, &name, version).await?;
            }
        } else if event.is::<UserDeleted>() {
            let deleted: UserDeleted = event.decode()?;
            let user = uuid_field("user_id", &deleted.user_id)?;
            store::directory::delete(conn, user).await?;
            let rooms = store::rooms::remove_user_everywhere(conn, user).await?;
            tracing::info!(%user, rooms = rooms.len(), "forgot a deleted user");
        }
        Ok(())
    }
}
