//! The connector's errors, and how they map onto the model's [`VenueError`].

use arbytron_model::venue::VenueError;
use arbytron_sdk::Venue;

use crate::amounts::AmountsError;
use crate::signing::SigningError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolyError {
    /// Transport failure or 5xx: may work later.
    #[error("network: {0}")]
    Network(String),
    /// HTTP 425: the matching engine is restarting; retry after `retry_after_ms`.
    #[error("matching engine restarting (retry after {retry_after_ms} ms)")]
    EngineRestart { retry_after_ms: u64 },
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// 401/403, or a credential the venue refused.
    #[error("authentication: {0}")]
    Auth(String),
    /// The venue answered `{"error": ...}` with a 4xx.
    #[error("venue error ({status}): {message}")]
    Api { status: u16, message: String },
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("unknown market {0}")]
    UnknownMarket(String),
    #[error(transparent)]
    Amounts(#[from] AmountsError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("configuration: {0}")]
    Config(String),
}

impl From<arbytron_integration::SecretError> for PolyError {
    fn from(e: arbytron_integration::SecretError) -> PolyError {
        PolyError::Config(e.to_string())
    }
}

impl PolyError {
    /// The venue's error text when it sent one (`order_version_mismatch`, ...).
    pub fn api_message(&self) -> Option<&str> {
        match self {
            PolyError::Api { message, .. } => Some(message),
            _ => None,
        }
    }
}

impl From<PolyError> for VenueError {
    fn from(e: PolyError) -> VenueError {
        let venue = Venue::PolymarketClob;
        match e {
            PolyError::Network(m) => VenueError::Unavailable { venue, message: m },
            // A 425 (or our own post-only window after one): the order was not taken.
            e @ PolyError::EngineRestart { .. } => VenueError::Busy { venue, message: e.to_string() },
            PolyError::RateLimited(m) => VenueError::RateLimited { venue, message: m },
            PolyError::Auth(m) => VenueError::Auth { venue, message: m },
            // The same signed order (same hash) twice: an earlier send arrived.
            PolyError::Api { message, .. } if message.contains("already exists") => {
                VenueError::Duplicate { venue, message }
            }
            PolyError::Api { status, message } => VenueError::Rejected { venue, code: status.to_string(), message },
            PolyError::Malformed(m) => VenueError::Malformed { venue, message: m },
            e
            @ (PolyError::Invalid(_) | PolyError::UnknownMarket(_) | PolyError::Amounts(_) | PolyError::Config(_)) => {
                VenueError::Invalid { venue, message: e.to_string() }
            }
            PolyError::Signing(e) => VenueError::Auth { venue, message: e.to_string() },
        }
    }
}
