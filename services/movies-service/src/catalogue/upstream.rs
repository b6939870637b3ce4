//! How a call to the catalogue provider can fail. Every variant becomes a 503
//! `catalogue_unavailable` for clients (or a stale cached answer); the detail is for the log.

use std::{fmt, time::Duration};

/// Why the provider could not answer. `Clone`, because one upstream call answers every
/// request that waited for it (single-flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The circuit breaker is open: nothing was sent.
    CircuitOpen { retry_after: Duration },
    /// 5xx, timeouts, connection failures, 429s — after the retries ran out.
    Unavailable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The provider refused our credentials (401/403): an operator must fix the key.
    Unauthorized,
    /// An answer we cannot use (unexpected status, malformed body).
    BadResponse(String),
    /// The call's task ended without an answer (it panicked or was cancelled at shutdown).
    Interrupted,
}

impl UpstreamError {
    /// When a client may usefully try again.
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::CircuitOpen { retry_after } => *retry_after,
            Self::Unavailable { retry_after, .. } => retry_after.unwrap_or(Duration::from_secs(5)),
            Self::Unauthorized | Self::BadResponse(_) => Duration::from_secs(60),
            Self::Interrupted => Duration::from_secs(1),
        }
        .max(Duration::from_secs(1))
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CircuitOpen { retry_after } => {
                write!(f, "circuit open (retry in {retry_after:?})")
            }
            Self::Unavailable { reason, .. } => write!(f, "unavailable: {reason}"),
            Self::Unauthorized => {
                f.write_str("credentials refused (check TMDB_API_TOKEN / TMDB_API_KEY)")
            }
            Self::BadResponse(detail) => write!(f, "unusable response: {detail}"),
            Self::Interrupted => f.write_str("the upstream call was interrupted"),
        }
    }
}

impl std::error::Error for UpstreamError {}
