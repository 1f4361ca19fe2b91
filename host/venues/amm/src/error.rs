//! The crate's error type and its mapping onto the venue-neutral [`VenueError`].

use arbytron_model::Venue;
use arbytron_model::venue::VenueError;

/// What can go wrong talking to the chain or preparing a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The node could not be reached or answered with a transport/RPC error; retrying may work.
    #[error("rpc: {0}")]
    Rpc(String),
    /// The node answered, but with data we could not interpret.
    #[error("malformed chain data: {0}")]
    Malformed(String),
    /// A transaction (or its simulation) reverted; `reason` is the decoded revert string
    /// when the contract gave one.
    #[error("reverted: {reason}")]
    Reverted { reason: String },
    /// A transaction was not mined (or not confirmed) in time. It may still land: callers
    /// must not assume it failed.
    #[error("transaction {tx} not confirmed after {waited_ms} ms")]
    Timeout { tx: String, waited_ms: u64 },
    /// The request cannot be carried out as asked (unknown pool, bad outcome, off-range amount).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The swap cannot be priced within its bounds at the pool's current state.
    #[error(transparent)]
    Quote(#[from] crate::quote::QuoteError),
    /// Configuration or key material is unusable. Never contains the key itself.
    #[error("configuration: {0}")]
    Config(String),
    /// The local development node could not be started or reached.
    #[error("local node: {0}")]
    Node(String),
    /// This order was already sent and its outcome is not known yet (a
    /// transaction of ours is still pending): sending it again could buy twice.
    #[error("order {0} may still be on its way to the chain")]
    InFlight(String),
}

impl Error {
    pub(crate) fn rpc(e: impl std::fmt::Display) -> Error {
        Error::Rpc(e.to_string())
    }

    /// Whether retrying the same request later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Rpc(_) | Error::Timeout { .. } | Error::InFlight(_))
    }
}

impl From<Error> for VenueError {
    fn from(e: Error) -> VenueError {
        let venue = Venue::PolymarketAmm;
        match e {
            Error::Rpc(message) | Error::Node(message) => VenueError::Unavailable { venue, message },
            e @ (Error::Timeout { .. } | Error::InFlight(_)) => {
                VenueError::Unavailable { venue, message: e.to_string() }
            }
            Error::Malformed(message) => VenueError::Malformed { venue, message },
            Error::Reverted { reason } => VenueError::Rejected { venue, code: "reverted".into(), message: reason },
            Error::Quote(q) => VenueError::Rejected { venue, code: "quote".into(), message: q.to_string() },
            Error::Invalid(message) | Error::Config(message) => VenueError::Invalid { venue, message },
        }
    }
}
