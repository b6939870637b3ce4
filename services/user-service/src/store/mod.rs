//! Storage: profiles in PostgreSQL (diesel-async).

pub mod profiles;
