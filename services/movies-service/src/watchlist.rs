//! Watchlists: each user's list of movies to watch. Adding and removing are idempotent, and
//! every change that happens commits with its `movies.v1 WatchlistChanged` in the outbox.
//!
//! Adding checks the movie exists in the catalogue (a cached lookup) and keeps its title,
//! release date and poster, so a watchlist is listed from PostgreSQL alone. Re-adding a movie
//! that is already there answers from the database without asking the catalogue.

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use marquee_common::{
    db::{self, PgPool},
    http::pagination::{Page, PageRequest},
    kafka::outbox::{self, NewOutboxEvent},
};
use marquee_proto_events::movies::v1::{WatchlistChange, WatchlistChanged};
use uuid::Uuid;

use crate::{
    catalogue::Catalogue,
    domain::MovieId,
    error::ApiError,
    store::watchlist::{self, Position, WatchlistItem},
};

/// The watchlist operations.
pub struct Watchlists {
    pool: PgPool,
    catalogue: std::sync::Arc<Catalogue>,
    /// `WATCHLIST_MAX_ITEMS`: the most movies one watchlist may hold.
    max_items: i64,
}

/// Whether an add changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    New,
    AlreadyThere,
}

impl std::fmt::Debug for Watchlists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchlists")
            .field("max_items", &self.max_items)
            .finish_non_exhaustive()
    }
}

impl Watchlists {
    pub fn new(pool: PgPool, catalogue: std::sync::Arc<Catalogue>, max_items: i64) -> Self {
        Self {
            pool,
            catalogue,
            max_items,
        }
    }

    pub async fn add(
        &self,
        user: Uuid,
        movie: MovieId,
    ) -> Result<(WatchlistItem, Added), ApiError> {
        let mut conn = db::connection(&self.pool).await?;
        if let Some(item) = watchlist::find(&mut conn, user, movie.get()).await? {
            return Ok((item, Added::AlreadyThere));
        }
        drop(conn);
        let found = self.catalogue.movie(movie, None).await?.value;
        let item = WatchlistItem {
            user_id: user,
            movie_id: movie.get(),
            title: found.title,
            release_date: found.release_date,
            poster_url: found.poster_url,
            added_at: Utc::now(),
        };
        let max_items = self.max_items;
        db::transaction(&self.pool, |conn| {
            Box::pin(async move {
                watchlist::lock_user(conn, user).await?;
                if watchlist::count(conn, user).await? >= max_items {
                    return Err(ApiError::WatchlistFull { max_items });
                }
                if let Some(stored) = watchlist::add(conn, &item).await? {
                    outbox::enqueue(conn, &changed(user, movie.get(), WatchlistChange::Added))
                        .await?;
                    return Ok((stored, Added::New));
                }
                // Added concurrently by another request: that one announced it.
                let existing = watchlist::find(conn, user, movie.get()).await?;
                Ok((existing.unwrap_or(item), Added::AlreadyThere))
            })
        })
        .await
    }

    /// Removes `movie` from `user`'s watchlist; nothing happens if it is not there.
    pub async fn remove(&self, user: Uuid, movie: MovieId) -> Result<(), ApiError> {
        db::transaction(&self.pool, |conn| {
            Box::pin(async move {
                if watchlist::remove(conn, user, movie.get()).await? {
                    outbox::enqueue(conn, &changed(user, movie.get(), WatchlistChange::Removed))
                        .await?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await
    }

    pub async fn list(
        &self,
        user: Uuid,
        page: PageRequest<Position>,
    ) -> Result<Page<WatchlistItem>, ApiError> {
        let mut conn = db::connection(&self.pool).await?;
        let rows = watchlist::list(&mut conn, user, page.after, page.fetch()).await?;
        Ok(Page::from_rows(rows, page.limit, |item| {
            (item.added_at, item.movie_id)
        }))
    }
}

/// Outbox rows per statement when purging (7 parameters each, under PostgreSQL's 65 535).
const PURGE_EVENTS_PER_STATEMENT: usize = 1000;

/// Empties a deleted user's watchlist inside the caller's transaction, announcing each removal.
pub async fn purge(conn: &mut AsyncPgConnection, user: Uuid) -> diesel::QueryResult<usize> {
    let removed = watchlist::purge(conn, user).await?;
    for movies in removed.chunks(PURGE_EVENTS_PER_STATEMENT) {
        let events = movies
            .iter()
            .map(|movie| NewOutboxEvent::new(&changed(user, *movie, WatchlistChange::Removed)))
            .collect();
        outbox::enqueue_all(conn, events).await?;
    }
    Ok(removed.len())
}

fn changed(user: Uuid, movie: i64, change: WatchlistChange) -> WatchlistChanged {
    WatchlistChanged {
        user_id: user.to_string(),
        movie_id: movie,
        change: change.into(),
        changed_at: Some(std::time::SystemTime::now().into()),
    }
}
