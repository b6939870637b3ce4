//! Diesel table definitions of movies-service's own tables (see `migrations/`).

diesel::table! {
    watchlist_items (user_id, movie_id) {
        user_id -> Uuid,
        movie_id -> Int8,
        title -> Text,
        release_date -> Nullable<Date>,
        poster_url -> Nullable<Text>,
        added_at -> Timestamptz,
    }
}
