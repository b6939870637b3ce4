//! Events movies-service consumes.

pub mod users;
