//! Storage: credentials in PostgreSQL (diesel-async), sessions and sign-in throttles in Redis.

pub mod credentials;
pub mod sessions;
pub mod throttle;
