//! `users.v1 UserDeleted` → the user's watchlist is purged (each removal announced as
//! `WatchlistChanged`). Other `users.v1` events do not concern movies.

use diesel_async::AsyncPgConnection;
use marquee_common::kafka::{
    consumer::{EventHandler, HandlerError, uuid_field},
    envelope::ReceivedEvent,
};
use marquee_proto_events::users::v1::UserDeleted;

use crate::watchlist;

#[derive(Debug, Clone)]
pub struct UsersHandler;

impl EventHandler for UsersHandler {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandlerError> {
        if !event.is::<UserDeleted>() {
            return Ok(());
        }
        let deleted: UserDeleted = event.decode()?;
        let user = uuid_field("user_id", &deleted.user_id)?;
        let removed = watchlist::purge(conn, user).await?;
        tracing::info!(%user, removed, "watchlist purged for a deleted user");
        Ok(())
    }
}
