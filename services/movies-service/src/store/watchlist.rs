//! The `watchlist_items` table. Every query filters by the owner in SQL.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::{dsl::count_star, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::watchlist_items;

/// One movie on one user's watchlist, with the catalogue facts it was added with.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = watchlist_items)]
pub struct WatchlistItem {
    pub user_id: Uuid,
    pub movie_id: i64,
    pub title: String,
    pub release_date: Option<NaiveDate>,
    pub poster_url: Option<String>,
    pub added_at: DateTime<Utc>,
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    movie: i64,
) -> QueryResult<Option<WatchlistItem>> {
    watchlist_items::table
        .find((user, movie))
        .select(WatchlistItem::as_select())
        .first(conn)
        .await
        .optional()
}

/// Serialises changes to one user's watchlist until the transaction ends, so that two
/// concurrent adds cannot both pass the size check.
pub async fn lock_user(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<diesel::sql_types::Text, _>(format!("watchlist:{user}"))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Adds `item` unless that movie is already on the list; returns the row as stored (times at
/// PostgreSQL's microsecond precision), or `None` if it was there.
pub async fn add(
    conn: &mut AsyncPgConnection,
    item: &WatchlistItem,
) -> QueryResult<Option<WatchlistItem>> {
    diesel::insert_into(watchlist_items::table)
        .values(item)
        .on_conflict((watchlist_items::user_id, watchlist_items::movie_id))
        .do_nothing()
        .returning(WatchlistItem::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Removes one movie; returns whether it was there.
pub async fn remove(conn: &mut AsyncPgConnection, user: Uuid, movie: i64) -> QueryResult<bool> {
    diesel::delete(watchlist_items::table.find((user, movie)))
        .execute(conn)
        .await
        .map(|rows| rows > 0)
}

/// Removes a user's whole watchlist; returns the movie ids that were on it.
pub async fn purge(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<Vec<i64>> {
    diesel::delete(watchlist_items::table.filter(watchlist_items::user_id.eq(user)))
        .returning(watchlist_items::movie_id)
        .get_results(conn)
        .await
}

pub async fn count(conn: &mut AsyncPgConnection, user: Uuid) -> QueryResult<i64> {
    watchlist_items::table
        .filter(watchlist_items::user_id.eq(user))
        .select(count_star())
        .get_result(conn)
        .await
}

/// Where a page of a watchlist starts: the `(added_at, movie_id)` of the previous page's last
/// item (newest first).
pub type Position = (DateTime<Utc>, i64);

/// Up to `limit` items of `user`'s watchlist, newest first, after `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    user: Uuid,
    after: Option<Position>,
    limit: i64,
) -> QueryResult<Vec<WatchlistItem>> {
    let mut query = watchlist_items::table
        .filter(watchlist_items::user_id.eq(user))
        .select(WatchlistItem::as_select())
        .order((
            watchlist_items::added_at.desc(),
            watchlist_items::movie_id.desc(),
        ))
        .limit(limit)
        .into_boxed();
    if let Some((added_at, movie_id)) = after {
        // (added_at, movie_id) < cursor; the first condition bounds the index range scan.
        query = query.filter(watchlist_items::added_at.le(added_at)).filter(
            watchlist_items::added_at
                .lt(added_at)
                .or(watchlist_items::movie_id.lt(movie_id)),
        );
    }
    query.load(conn).await
}
