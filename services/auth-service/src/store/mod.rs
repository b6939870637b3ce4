//! SQL, and only here.

pub mod credentials;
