//! Events auth-service consumes. (What it publishes — `UserCreated`, `SessionRevoked` — is
//! enqueued by the operations in `accounts` and `sessions`, in their transactions.)

pub mod users;
