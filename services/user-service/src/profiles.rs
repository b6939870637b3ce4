//! What can be done with profiles, and who may do it: the one place between the HTTP
//! handlers and the store.
//!
//! - **Listings** are keyset pages: by id, or for a prefix search by the matching text then
//!   the id (see `store::profiles::search`).
//! - **Reads** are cache-aside ([`TagCache`]): a profile under `profile:{id}` tagged
//!   `user:{id}`, a listing page tagged `users`. On a miss, another user's profile and listings
//!   are read from a replica ([`Databases::read_connection`]) unless the cache says the data
//!   changed moments ago; the caller's own profile is always read from the primary, so a user
//!   sees their own change at once.
//! - **Changes** lock the row, check `If-Match`, write the row and its event (`UserUpdated`
//!   with the changed fields and the new version, or `UserDeleted`) in one transaction, then
//!   invalidate `user:{id}` and `users` after the commit.
//! - **Who**: anyone signed in reads any profile (the e-mail only shows to its owner and to
//!   admins, see the routes); only the owner or an admin changes or deletes one; only admins
//!   list.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use marquee_common::{
    auth::AuthUser,
    cache::{Freshness, TagCache},
    db::{self, Databases, PgConn},
    http::pagination::{Page, PageRequest},
    kafka::outbox,
};
use marquee_proto_events::users::v1::{UserDeleted, UserUpdated};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{Invalid, ProfileChanges},
    error::ApiError,
    store::profiles::{self, EmailClaim, Profile, ProfileUpdate},
};

/// The tag every listing page carries; any change to any profile invalidates it.
pub const USERS_TAG: &str = "users";

/// The tag of one user's cached profile.
pub fn user_tag(id: Uuid) -> String {
    format!("user:{id}")
}

fn profile_key(id: Uuid) -> String {
    format!("profile:{id}")
}

/// What `If-Match` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// No `If-Match`: change whatever the current version is.
    None,
    /// `If-Match: *`: the profile must exist.
    Exists,
    /// `If-Match: "3", "4"`: the current version must be one of these.
    Version(Vec<i64>),
}

impl Precondition {
    fn allows(&self, version: i64) -> bool {
        match self {
            Self::None | Self::Exists => true,
            Self::Version(versions) => versions.contains(&version),
        }
    }
}

/// A validated listing request.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub page: PageRequest<ListPosition>,
    /// Prefix of the e-mail or display name (compared case-insensitively by PostgreSQL).
    pub prefix: Option<String>,
}

/// Where a listing page ends, as its cursor says: the last profile's id, and for a search
/// the text it matched (search pages are ordered by that text, then the id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPosition {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Profile operations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Profiles {
    databases: Databases,
    cache: TagCache,
}

impl Profiles {
    pub fn new(databases: Databases, cache: TagCache) -> Self {
        Self { databases, cache }
    }

    /// The profile `id`, for `caller`.
    pub async fn get(&self, caller: &AuthUser, id: Uuid) -> Result<Profile, ApiError> {
        let own = caller.id == id;
        self.cache
            .get_or_load(&profile_key(id), &[user_tag(id)], |freshness| async move {
                let mut conn = self.connection(own, freshness).await?;
                Ok::<_, ApiError>(profiles::find(&mut conn, id).await?)
            })
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// Applies `changes` to profile `id` (its owner or an admin). A change that changes
    /// nothing writes nothing and publishes nothing.
    pub async fn update(
        &self,
        caller: &AuthUser,
        id: Uuid,
        changes: ProfileChanges,
        precondition: Precondition,
    ) -> Result<Profile, ApiError> {
        if !caller.may_act_for(id) {
            return Err(ApiError::Forbidden);
        }
        let (profile, changed) = db::transaction(self.databases.primary(), |conn| {
            Box::pin(async move {
                let current = profiles::find_for_update(conn, id)
                    .await?
                    .ok_or(ApiError::NotFound)?;
                if !precondition.allows(current.version) {
                    return Err(ApiError::VersionMismatch {
                        current: current.version,
                    });
                }
                let Some(update) = difference(&current, &changes, Utc::now()) else {
                    return Ok((current, false));
                };
                if let Some(email) = &update.email
                    && profiles::claim_email(conn, email, id).await? == EmailClaim::Taken
                {
                    return Err(ApiError::EmailTaken);
                }
                let updated = profiles::update(conn, id, &update).await?;
                outbox::enqueue(conn, &user_updated(&updated, update)).await?;
                Ok((updated, true))
            })
        })
        .await?;
        if changed {
            self.cache
                .invalidate(&[user_tag(id), USERS_TAG.to_owned()])
                .await;
        }
        Ok(profile)
    }

    /// Deletes profile `id` (its owner or an admin) and publishes `UserDeleted`, upon which
    /// auth-service disables the account and ends its sessions.
    pub async fn delete(
        &self,
        caller: &AuthUser,
        id: Uuid,
        precondition: Precondition,
    ) -> Result<(), ApiError> {
        if !caller.may_act_for(id) {
            return Err(ApiError::Forbidden);
        }
        db::transaction(self.databases.primary(), |conn| {
            Box::pin(async move {
                let current = profiles::find_for_update(conn, id)
                    .await?
                    .ok_or(ApiError::NotFound)?;
                if !precondition.allows(current.version) {
                    return Err(ApiError::VersionMismatch {
                        current: current.version,
                    });
                }
                let now = Utc::now();
                profiles::delete(conn, id, now).await?;
                outbox::enqueue(
                    conn,
                    &UserDeleted {
                        user_id: id.to_string(),
                        deleted_at: Some(timestamp(now)),
                    },
                )
                .await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
        self.cache
            .invalidate(&[user_tag(id), USERS_TAG.to_owned()])
            .await;
        Ok(())
    }

    /// One page of every profile, or of those matching a prefix (admins only).
    pub async fn list(
        &self,
        caller: &AuthUser,
        request: ListRequest,
    ) -> Result<Page<Profile>, ApiError> {
        if !caller.is_admin() {
            return Err(ApiError::Forbidden);
        }
        let ListRequest { page, prefix } = request;
        let limit = page.limit;
        let fetch = page.fetch();
        let cache_key = format!(
            "list:{fetch}:{}:{}",
            serde_json::to_string(&page.after).unwrap_or_default(),
            prefix.as_deref().unwrap_or_default()
        );
        let tags = [USERS_TAG.to_owned()];
        match (prefix, page.after) {
            (None, after @ (None | Some(ListPosition { key: None, .. }))) => {
                let after = after.map(|position| position.id);
                let rows = self
                    .cache
                    .get_or_load(&cache_key, &tags, |freshness| async move {
                        let mut conn = self.connection(false, freshness).await?;
                        Ok::<_, ApiError>(Some(profiles::list(&mut conn, after, fetch).await?))
                    })
                    .await?
                    .unwrap_or_default();
                Ok(Page::from_rows(rows, limit, |profile| ListPosition {
                    id: profile.id,
                    key: None,
                }))
            }
            (Some(prefix), after @ (None | Some(ListPosition { key: Some(_), .. })))
                if after
                    .as_ref()
                    .and_then(|position| position.key.as_deref())
                    .is_none_or(|key| !key.contains('\0')) =>
            {
                let after = after.and_then(|position| Some((position.key?, position.id)));
                let hits = self
                    .cache
                    .get_or_load(&cache_key, &tags, |freshness| async move {
                        let mut conn = self.connection(false, freshness).await?;
                        let hits = profiles::search(&mut conn, &prefix, after, fetch).await?;
                        Ok::<_, ApiError>(Some(hits))
                    })
                    .await?
                    .unwrap_or_default();
                let page = Page::from_rows(hits, limit, |hit| ListPosition {
                    id: hit.profile.id,
                    key: Some(hit.sort_key.clone()),
                });
                Ok(page.map(|hit| hit.profile))
            }
            // A cursor of a search used for the plain listing, or the other way round.
            _ => Err(ApiError::Invalid(vec![Invalid::new(
                "cursor",
                "belongs to another listing (with or without q)",
            )])),
        }
    }

    /// The primary for the caller's own data and for data that just changed; otherwise a
    /// replica (or the primary when there is none).
    async fn connection(&self, own: bool, freshness: Freshness) -> Result<PgConn, ApiError> {
        let conn = if own || freshness == Freshness::RecentlyChanged {
            db::connection(self.databases.primary()).await?
        } else {
            self.databases.read_connection().await?
        };
        Ok(conn)
    }
}

/// The columns `changes` really change in `current`, with the new version and time; `None`
/// when nothing would change.
fn difference(
    current: &Profile,
    changes: &ProfileChanges,
    now: DateTime<Utc>,
) -> Option<ProfileUpdate> {
    fn text<T>(new: Option<&T>, old: &str, as_str: fn(&T) -> &str) -> Option<String> {
        new.map(as_str).filter(|new| *new != old).map(str::to_owned)
    }
    fn nullable<T>(
        new: Option<&Option<T>>,
        old: Option<&str>,
        as_str: fn(&T) -> &str,
    ) -> Option<Option<String>> {
        let new = new?.as_ref().map(as_str);
        (new != old).then(|| new.map(str::to_owned))
    }
    let update = ProfileUpdate {
        email: text(changes.email.as_ref(), &current.email, |e| e.as_str()),
        display_name: text(changes.display_name.as_ref(), &current.display_name, |d| {
            d.as_str()
        }),
        bio: nullable(changes.bio.as_ref(), current.bio.as_deref(), |b| b.as_str()),
        avatar_url: nullable(
            changes.avatar_url.as_ref(),
            current.avatar_url.as_deref(),
            |u| u.as_str(),
        ),
        locale: nullable(changes.locale.as_ref(), current.locale.as_deref(), |l| {
            l.as_str()
        }),
        updated_at: None,
        version: None,
    };
    let changed = update.email.is_some()
        || update.display_name.is_some()
        || update.bio.is_some()
        || update.avatar_url.is_some()
        || update.locale.is_some();
    changed.then(|| ProfileUpdate {
        updated_at: Some(now),
        version: Some(current.version + 1),
        ..update
    })
}

/// `UserUpdated` for a change: the changed fields only, a cleared one as `""`.
fn user_updated(profile: &Profile, update: ProfileUpdate) -> UserUpdated {
    let cleared = |field: Option<Option<String>>| field.map(Option::unwrap_or_default);
    UserUpdated {
        user_id: profile.id.to_string(),
        version: u64::try_from(profile.version).unwrap_or_default(),
        email: update.email,
        display_name: update.display_name,
        bio: cleared(update.bio),
        avatar_url: cleared(update.avatar_url),
        locale: cleared(update.locale),
        updated_at: Some(timestamp(profile.updated_at)),
    }
}

fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    SystemTime::from(time).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProfileChangesRequest;

    fn profile() -> Profile {
        let now = Utc::now();
        Profile {
            id: Uuid::now_v7(),
            email: "ada@example.com".into(),
            display_name: "Ada".into(),
            bio: Some("Counts".into()),
            avatar_url: None,
            locale: Some("en-GB".into()),
            created_at: now,
            updated_at: now,
            version: 3,
        }
    }

    fn changes(json: &str) -> ProfileChanges {
        let request: ProfileChangesRequest = serde_json::from_str(json).unwrap();
        ProfileChanges::parse(request).unwrap()
    }

    #[test]
    fn only_real_changes_bump_the_version_and_reach_the_event() {
        let current = profile();
        let same = changes(r#"{"display_name": " Ada ", "bio": "Counts", "avatar_url": null}"#);
        assert!(difference(&current, &same, Utc::now()).is_none());

        let update = difference(
            &current,
            &changes(r#"{"display_name": "Ada L.", "bio": null, "locale": "en-GB"}"#),
            Utc::now(),
        )
        .expect("a change");
        assert_eq!(update.version, Some(4));
        let mut updated = current.clone();
        updated.version = 4;
        let event = user_updated(&updated, update);
        assert_eq!(event.version, 4);
        assert_eq!(event.display_name.as_deref(), Some("Ada L."));
        assert_eq!(
            event.bio.as_deref(),
            Some(""),
            "a cleared field is an empty text"
        );
        assert_eq!(event.locale, None, "unchanged");
        assert_eq!(event.email, None);
    }

    #[test]
    fn preconditions_match_versions() {
        assert!(Precondition::None.allows(3));
        assert!(Precondition::Exists.allows(3));
        assert!(Precondition::Version(vec![2, 3]).allows(3));
        assert!(!Precondition::Version(vec![2]).allows(3));
    }
}
