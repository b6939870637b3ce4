//! Storage: watchlists in PostgreSQL (diesel-async).

pub mod watchlist;
