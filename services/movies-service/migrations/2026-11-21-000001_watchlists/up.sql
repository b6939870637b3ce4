-- Each user's watchlist. The movie's title, date and poster are a snapshot taken when it was
-- added, so listing a watchlist is one index range scan and never calls the catalogue.
CREATE TABLE watchlist_items (
    user_id      UUID        NOT NULL,
    movie_id     BIGINT      NOT NULL CHECK (movie_id > 0),
    title        TEXT        NOT NULL,
    release_date DATE,
    poster_url   TEXT,
    added_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, movie_id)
);

-- Newest first, keyset pages: WHERE user_id = $1 AND (added_at, movie_id) < cursor.
CREATE INDEX watchlist_items_by_user_added
    ON watchlist_items (user_id, added_at DESC, movie_id DESC);
