//! On-chain fixed-product market maker venue: pool reader and swap execution with alloy.
//!
//! The venue is a Gnosis-style FixedProductMarketMaker (Polymarket's legacy AMM) over the
//! outcome tokens of one condition. Our own contracts (`contracts/src/`, compiled artifacts
//! in `contracts/out/`) implement the same interface and integer arithmetic, and the SDK
//! (`arbytron_sdk::amm`) computes the same numbers off-chain: every quote here is the
//! contract's answer at the balances it was computed from.
//!
//! # Markets
//!
//! A pool with N outcomes is N markets of venue [`Venue::PolymarketAmm`], symbol
//! `"<pool address>:<outcome index>"` (lowercase hex address), YES = that outcome's token.
//! In a binary pool, NO of market `i` is the other outcome's token (so `"<pool>:0"` NO and
//! `"<pool>:1"` YES are the same token); in a pool of more outcomes NO orders are refused.
//! Positions: a binary pool reports one position on `"<pool>:0"`, YES tokens minus NO tokens
//! (a complete set nets to zero, as it is worth exactly one dollar); a pool of more outcomes
//! reports each outcome's token balance on its own market. Balance is the collateral held.
//!
//! # Units
//!
//! Collateral and outcome tokens have 6 decimals: one collateral base unit is one
//! [`Money`](arbytron_model::Money) micro-dollar, one outcome-token base unit one
//! [`Qty`](arbytron_model::Qty) micro-contract. Pool fees are 1e18-scaled (`fee_wad`).
//!
//! # Pieces
//!
//! - [`feed::AmmFeed`]: the pool reader ([`MarketFeed`](arbytron_model::venue::MarketFeed)),
//!   publishing [`MarketUpdate::Pool`](arbytron_model::MarketUpdate::Pool) on every block
//!   that changes a pool.
//! - [`execution::AmmTrader`]: the execution leg
//!   ([`ExecutionVenue`](arbytron_model::venue::ExecutionVenue)), plus liquidity
//!   (add/remove, LP fees), merging and redemption.
//! - [`chain::Chain`]: how every transaction is simulated, sent and awaited, with gas counted.
//! - [`deploy::Deployer`] and [`devnet::Anvil`]: local chains for tests, benchmarks and the demo.

pub mod bindings;
pub mod chain;
pub mod deploy;
pub mod devnet;
mod error;
pub mod execution;
pub mod feed;
pub mod market;
mod metrics;
pub mod pool;
pub mod quote;
pub mod units;

pub use arbytron_model::Venue;
pub use chain::{Chain, SecretSource, TxConfig};
pub use deploy::{Deployer, Deployment, MarketSpec};
pub use error::Error;
pub use execution::{AmmTrader, ExecConfig, SwapOutcome, SwapResult};
pub use feed::{AmmFeed, FeedConfig, PoolSpec};
pub use market::PoolMarket;
pub use pool::PoolInfo;
pub use quote::{Bounds, SwapIntent, SwapQuote};
