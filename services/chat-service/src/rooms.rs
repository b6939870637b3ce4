//! Rooms and their members: create, find, join, leave, invite, list. Every membership change
//! is announced to all instances ([`Signal::Membership`]) so their sockets start or stop
//! getting the room's notifications.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use marquee_common::{
    db::{self, PgPool},
    http::pagination::{Page, PageRequest},
};
use uuid::Uuid;

use crate::{
    domain::{NamePrefix, RoomName, RoomTopic, Visibility},
    error::ChatError,
    model::{Member, MyRoom, OnlineUser, Room, seq_out},
    presence::Presence,
    signals::{Signal, Signals},
    store::{self, rooms::RoomRow},
};

/// The owner's role name.
pub const OWNER: &str = "owner";
/// Every other member's role name.
pub const MEMBER: &str = "member";

/// The room and the caller's role; a private room the caller is not in does not exist for
/// them.
pub(crate) async fn visible(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    user: Uuid,
) -> Result<(RoomRow, Option<String>), ChatError> {
    match store::rooms::find_with_role(conn, room, user).await? {
        Some((row, role)) if role.is_some() || row.visibility == Visibility::Public.as_str() => {
            Ok((row, role))
        }
        _ => Err(ChatError::RoomNotFound),
    }
}

/// The room, if the caller is a member (403 for a public room they have not joined).
pub(crate) async fn as_member(
    conn: &mut AsyncPgConnection,
    room: Uuid,
    user: Uuid,
) -> Result<(RoomRow, String), ChatError> {
    match visible(conn, room, user).await? {
        (row, Some(role)) => Ok((row, role)),
        (_, None) => Err(ChatError::NotAMember),
    }
}

/// Room operations.
#[derive(Clone)]
pub struct Rooms {
    pool: PgPool,
    signals: Signals,
    presence: Presence,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms").finish_non_exhaustive()
    }
}

impl Rooms {
    pub fn new(pool: PgPool, signals: Signals, presence: Presence) -> Self {
        Self {
            pool,
            signals,
            presence,
        }
    }

    /// Creates a room owned by `user`.
    pub async fn create(
        &self,
        user: Uuid,
        name: RoomName,
        topic: RoomTopic,
        visibility: Visibility,
    ) -> Result<Room, ChatError> {
        let row = db::transaction(&self.pool, |conn| {
            Box::pin(async move {
                let key = name.search_key();
                let row = store::rooms::insert(
                    conn,
                    &store::rooms::NewRoom {
                        id: Uuid::now_v7(),
                        name: name.as_str(),
                        name_key: &key,
                        topic: topic.as_str(),
                        visibility: visibility.as_str(),
                        created_by: user,
                    },
                )
                .await?;
                store::rooms::add_member(conn, row.id, user, OWNER).await?;
                Ok::<_, ChatError>(row)
            })
        })
        .await?;
        self.announce(row.id, user, true).await;
        Ok(Room::from_row(row, Some(OWNER.to_owned())))
    }

    pub async fn get(&self, user: Uuid, room: Uuid) -> Result<Room, ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        let (row, role) = visible(&mut conn, room, user).await?;
        Ok(Room::from_row(row, role))
    }

    /// Rooms whose name starts with `prefix` (case-insensitive) that `user` may see, by name.
    pub async fn search(
        &self,
        user: Uuid,
        prefix: &NamePrefix,
        page: &PageRequest<(String, Uuid)>,
    ) -> Result<Page<Room>, ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        let rows = store::rooms::search(
            &mut conn,
            user,
            &prefix.like_pattern(),
            page.after.as_ref(),
            page.fetch(),
        )
        .await?;
        Ok(
            Page::from_rows(rows, page.limit, |(row, key)| (key.clone(), row.id))
                .map(|(row, _)| Room::from_row(row, None)),
        )
    }

    /// Makes `user` a member of a public room; `true` if they were not one already.
    pub async fn join(&self, user: Uuid, room: Uuid) -> Result<(Room, bool), ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        let (row, role) = visible(&mut conn, room, user).await?;
        if let Some(role) = role {
            return Ok((Room::from_row(row, Some(role)), false));
        }
        // `visible` hid private rooms from non-members: this one is public.
        let joined = store::rooms::add_member(&mut conn, room, user, MEMBER).await?;
        drop(conn);
        if joined {
            self.announce(room, user, true).await;
        }
        Ok((Room::from_row(row, Some(MEMBER.to_owned())), joined))
    }

    /// Ends `user`'s membership (idempotent for a visible room).
    pub async fn leave(&self, user: Uuid, room: Uuid) -> Result<(), ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        visible(&mut conn, room, user).await?;
        let left = store::rooms::remove_member(&mut conn, room, user).await?;
        drop(conn);
        if left {
            self.announce(room, user, false).await;
        }
        Ok(())
    }

    /// The owner adds `member` (the way into private rooms); `true` if newly added.
    pub async fn add_member(
        &self,
        owner: Uuid,
        room: Uuid,
        member: Uuid,
    ) -> Result<bool, ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        let (_, role) = as_member(&mut conn, room, owner).await?;
        if role != OWNER {
            return Err(ChatError::NotOwner);
        }
        let added = store::rooms::add_member(&mut conn, room, member, MEMBER).await?;
        drop(conn);
        if added {
            self.announce(room, member, true).await;
        }
        Ok(added)
    }

    /// `user`'s rooms with unread counts.
    pub async fn mine(
        &self,
        user: Uuid,
        page: &PageRequest<Uuid>,
    ) -> Result<Page<MyRoom>, ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        let rows = store::rooms::of_user(&mut conn, user, page.after, page.fetch()).await?;
        Ok(
            Page::from_rows(rows, page.limit, |(row, _)| row.id).map(|(row, last_read)| {
                let unread = seq_out(row.last_seq - last_read);
                MyRoom {
                    room: Room::from_row(row, None),
                    last_read_seq: seq_out(last_read),
                    unread,
                }
            }),
        )
    }

    /// The members of a room the caller can see.
    pub async fn members(
        &self,
        user: Uuid,
        room: Uuid,
        page: &PageRequest<(DateTime<Utc>, Uuid)>,
    ) -> Result<Page<Member>, ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        visible(&mut conn, room, user).await?;
        let rows =
            store::rooms::members(&mut conn, room, page.after.as_ref(), page.fetch()).await?;
        Ok(
            Page::from_rows(rows, page.limit, |m| (m.joined_at, m.user_id)).map(|m| Member {
                user_id: m.user_id,
                display_name: m.display_name,
                role: m.role,
                joined_at: m.joined_at,
            }),
        )
    }

    /// Who has the room open right now (members only).
    pub async fn online(&self, user: Uuid, room: Uuid) -> Result<Vec<OnlineUser>, ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        as_member(&mut conn, room, user).await?;
        drop(conn);
        self.online_unchecked(room).await
    }

    /// Who has the room open right now, for a caller whose membership is already known (a
    /// socket that just joined).
    pub async fn online_unchecked(&self, room: Uuid) -> Result<Vec<OnlineUser>, ChatError> {
        let users: Vec<Uuid> = self.presence.online(room).await?.into_iter().collect();
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = db::connection(&self.pool).await?;
        let names: std::collections::HashMap<Uuid, String> =
            store::directory::names(&mut conn, &users)
                .await?
                .into_iter()
                .collect();
        Ok(users
            .into_iter()
            .map(|user_id| OnlineUser {
                user_id,
                display_name: names.get(&user_id).cloned(),
            })
            .collect())
    }

    /// `user` has read `room` up to `seq`.
    pub async fn mark_read(&self, user: Uuid, room: Uuid, seq: i64) -> Result<(), ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        if store::rooms::mark_read(&mut conn, room, user, seq).await? {
            Ok(())
        } else {
            as_member(&mut conn, room, user).await.map(|_| ())
        }
    }

    /// The rooms `user` is in, and their display name (a connecting socket's setup).
    pub async fn profile(&self, user: Uuid) -> Result<(Vec<Uuid>, Option<String>), ChatError> {
        let mut conn = db::connection(&self.pool).await?;
        let rooms = store::rooms::ids_of_user(&mut conn, user).await?;
        let name = store::directory::name(&mut conn, user).await?;
        Ok((rooms, name))
    }

    async fn announce(&self, room_id: Uuid, user_id: Uuid, member: bool) {
        self.signals
            .publish(&Signal::Membership {
                room_id,
                user_id,
                member,
            })
            .await;
    }
}
