//! Arbytron's venue simulator.
//!
//! No venue is reachable from a test machine, so the project ships servers that
//! speak the venues' real wire formats (REST and WebSocket, JSON shapes, error
//! bodies, authentication) over loopback, each venue on its own port as the real
//! hosts are. Connectors are tested against them, and the demo trades against them.
//! A run is deterministic for a given seed.

pub mod maker;
pub mod matching;
pub mod scenario;
pub mod server;

pub mod kalshi;
pub mod polymarket;

/// One served endpoint, printed by `arbytron sim` as `NAME URL`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.url)
    }
}
