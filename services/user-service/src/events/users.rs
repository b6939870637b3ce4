//! `users.v1 UserCreated` (from auth-service) → a new profile.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use marquee_common::{
    cache::TagCache,
    kafka::{
        consumer::{EventHandler, HandlerError, uuid_field},
        envelope::ReceivedEvent,
    },
};
use marquee_proto_events::users::v1::UserCreated;

use crate::{
    profiles::USERS_TAG,
    store::profiles::{self, Profile},
};

/// Creates profiles from `UserCreated`; other `users.v1` events are this service's own. A
/// deleted user's `UserCreated`, replayed, creates nothing (tombstones).
#[derive(Debug, Clone)]
pub struct UsersHandler {
    /// Cached listing pages go stale when a profile appears.
    pub cache: TagCache,
}

impl EventHandler for UsersHandler {
    async fn handle(
        &self,
        conn: &mut AsyncPgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandlerError> {
        if !event.is::<UserCreated>() {
            return Ok(());
        }
        let created: UserCreated = event.decode()?;
        let id = uuid_field("user_id", &created.user_id)?;
        let created_at = created
            .created_at
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .unwrap_or_else(Utc::now);
        let profile = Profile {
            id,
            email: created.email,
            display_name: created.display_name,
            bio: None,
            avatar_url: None,
            locale: None,
            created_at,
            updated_at: created_at,
            version: 1,
        };
        profiles::create(conn, &profile).await?;
        Ok(())
    }

    async fn committed(&self, event: &ReceivedEvent) {
        if event.is::<UserCreated>() {
            self.cache.invalidate(&[USERS_TAG.to_owned()]).await;
        }
    }
}
