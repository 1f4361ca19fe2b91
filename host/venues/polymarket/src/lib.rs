//! Polymarket connector: Gamma metadata, CLOB V2 REST and WebSocket, EIP-712 order signing.
//!
//! Polymarket as it is since the CLOB V2 cut-over (2026-04-28): pUSD
//! collateral, the V2 signed order (timestamp, metadata and builder instead
//! of nonce, expiration and fee rate), exchange domain version "2" (or
//! whatever `/version` says), and trades that are final only when CONFIRMED.
//!
//! - [`PolymarketFeed`] implements the model's `MarketFeed`: Gamma discovery
//!   and books from the market channel, sharded, watched for silence.
//! - [`PolymarketVenue`] implements `ExecutionVenue`: signed orders, cancels,
//!   open orders, positions from trades, fills from the user channel.
//! - [`FillLedger`] keeps positions that a FAILED trade never leaves behind.

pub mod amounts;
pub mod book;
pub mod clob;
pub mod config;
pub mod connector;
pub mod error;
pub mod feed;
pub mod gamma;
pub mod http;
pub mod markets;
pub mod metrics;
pub mod signing;
pub mod user;
pub mod wire;

pub use amounts::{Amounts, OrderSide, TickSize, limit_amounts, market_amounts};
pub use clob::{ClobClient, OrderType, PlaceRequest};
pub use config::{AccountConfig, Config, SecretSource, Selection};
pub use connector::{PolymarketFeed, PolymarketVenue};
pub use error::PolyError;
pub use markets::{Registry, VENUE};
pub use signing::{ApiCreds, OrderSigner, SignatureType};
pub use user::{FillLedger, LedgerChange, LedgerPosition};
