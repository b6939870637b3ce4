//! Events user-service consumes (what it publishes is enqueued by the profile operations).

pub mod users;
