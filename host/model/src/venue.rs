//! The small traits every venue connector implements (market data and execution),
//! and the order, fill and position types they speak.
//!
//! Orders are expressed as the trader thinks of them (buy or sell a number of
//! YES or NO contracts at a worst price); each connector translates to its
//! venue's wire form (Kalshi's single YES book, Polymarket's token ids and
//! maker/taker amounts, an AMM's investment and minimum tokens).

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{MarketInfo, MarketKey, MarketUpdate, Money, Price, Qty, Side, TimestampMs, Venue};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Buy,
    Sell,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Fill completely at once or not at all.
    FillOrKill,
    /// Fill what can be filled at once, cancel the rest.
    ImmediateOrCancel,
    /// Rest until filled or cancelled.
    GoodTillCanceled,
}

/// An order as the trader means it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Ours, unique per order attempt: makes a retried send idempotent and
    /// lets a restarted host find what it sent before a crash.
    pub client_order_id: String,
    pub market: MarketKey,
    /// Which contract: YES or NO.
    pub side: Side,
    pub action: Action,
    pub quantity: Qty,
    /// Worst acceptable price per contract of `side` (highest when buying,
    /// lowest when selling). For an AMM leg: the worst average price, fee included.
    pub limit_price: Price,
    pub time_in_force: TimeInForce,
    /// AMM buys: the collateral to invest (the pool's `investmentAmount`).
    /// Books ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

/// Where an order ended up, as far as the venue said in its reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum OrderStatus {
    /// Completely filled.
    Filled,
    /// Partly filled; the rest was cancelled (IOC) or still rests (GTC).
    PartiallyFilled { resting: bool },
    /// Accepted and resting, nothing filled yet.
    Resting,
    /// Accepted, nothing filled, nothing resting (an IOC/FOK that found no liquidity).
    Cancelled,
    /// Refused by the venue (or reverted on-chain); nothing happened.
    Rejected { reason: String },
}

/// The venue's answer to an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderReport {
    pub client_order_id: String,
    /// The venue's id (Kalshi order id, Polymarket order hash, transaction hash).
    pub venue_order_id: String,
    pub status: OrderStatus,
    /// Contracts of `side` bought or sold.
    pub filled: Qty,
    /// Cash paid (buy) or received (sell) for the filled part, before fees.
    pub notional: Money,
    /// Fees charged for the filled part (gas included for on-chain legs).
    pub fee: Money,
}

impl OrderReport {
    /// Average price of the filled part, rounded up (the conservative side for a buyer).
    pub fn average_price(&self) -> Option<Price> {
        self.notional.per_contract(self.filled, arbytron_sdk::Rounding::Up)
    }
}

/// How settled a fill is. Kalshi fills are final at once; Polymarket trades are
/// final only when CONFIRMED on-chain, and a FAILED trade never happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillState {
    Matched,
    Mined,
    Confirmed,
    Retrying,
    Failed,
}

impl FillState {
    pub fn is_final(self) -> bool {
        matches!(self, FillState::Confirmed | FillState::Failed)
    }
}

/// One execution against one of our orders, as the venue streams it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillEvent {
    pub venue: Venue,
    /// The venue's trade id; the same id arrives again on each state change.
    pub trade_id: String,
    pub venue_order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
    pub market: MarketKey,
    pub side: Side,
    pub action: Action,
    pub quantity: Qty,
    pub price: Price,
    pub fee: Money,
    pub state: FillState,
    pub ts: TimestampMs,
}

/// A position as the venue reports it: signed contracts, YES positive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenuePosition {
    pub market: MarketKey,
    /// YES contracts held (positive) or NO contracts held (negative).
    pub yes_position: Qty,
}

/// An order still working on the venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenOrder {
    pub venue_order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
    pub market: MarketKey,
    pub side: Side,
    pub action: Action,
    pub price: Price,
    pub remaining: Qty,
    pub filled: Qty,
}

/// What went wrong talking to a venue. Every variant says enough to act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VenueError {
    /// The venue refused the request; resending the same thing will fail again.
    #[error("rejected by {venue}: {code}: {message}")]
    Rejected { venue: Venue, code: String, message: String },
    /// Authentication failed (bad key, bad signature, clock skew).
    #[error("authentication with {venue} failed: {message}")]
    Auth { venue: Venue, message: String },
    /// Rate limited even after backing off.
    #[error("{venue} rate limit: {message}")]
    RateLimited { venue: Venue, message: String },
    /// Network error, timeout, 5xx, engine restart: it may work later.
    #[error("{venue} unavailable: {message}")]
    Unavailable { venue: Venue, message: String },
    /// The venue answered with something we could not parse.
    #[error("malformed response from {venue}: {message}")]
    Malformed { venue: Venue, message: String },
    /// The request itself is invalid (off-grid price, unknown market, bad size).
    #[error("invalid request for {venue}: {message}")]
    Invalid { venue: Venue, message: String },
    /// The venue already has an order with this client order id (or, where
    /// orders are signed, this very order): an earlier send reached it.
    #[error("{venue} already has this order: {message}")]
    Duplicate { venue: Venue, message: String },
    /// The venue did not take the request and asks us to come back later (a
    /// matching-engine restart, a post-only window): nothing happened.
    #[error("{venue} is not taking orders now: {message}")]
    Busy { venue: Venue, message: String },
}

impl VenueError {
    /// Whether retrying the same request later could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, VenueError::Unavailable { .. } | VenueError::RateLimited { .. } | VenueError::Busy { .. })
    }

    /// Whether the request may or may not have taken effect: the answer was
    /// lost (network, timeout), garbled, or says an earlier copy exists. Only
    /// the venue can tell; every other error means nothing happened.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, VenueError::Unavailable { .. } | VenueError::Malformed { .. } | VenueError::Duplicate { .. })
    }
}

/// Where a feed sends what it sees.
pub type UpdateSink = mpsc::Sender<MarketUpdate>;

/// A venue's market data: discovery over REST, then a live stream.
#[async_trait::async_trait]
pub trait MarketFeed: Send + Sync {
    fn venue(&self) -> Venue;

    /// Every market the configuration selects, with metadata and fee schedules.
    async fn discover(&self) -> Result<Vec<MarketInfo>, VenueError>;

    /// Stream books and status for `markets` into `sink` until the sink closes.
    /// Reconnects and resyncs on its own; publishes [`crate::FeedState::Stale`]
    /// for every book it cannot vouch for, and `Fresh` with the next good snapshot.
    async fn stream(&self, markets: Vec<MarketKey>, sink: UpdateSink) -> Result<(), VenueError>;
}

/// A venue's trading interface.
#[async_trait::async_trait]
pub trait ExecutionVenue: Send + Sync {
    fn venue(&self) -> Venue;

    /// Send an order and return the venue's immediate report.
    ///
    /// Sending the same request again (same client order id) must never
    /// execute it twice: the venue refuses the copy with
    /// [`VenueError::Duplicate`] (Kalshi by client order id; Polymarket by
    /// order hash, our orders being signed deterministically from the
    /// request), or the connector answers it from what it already knows.
    /// Execution relies on this to resend an order whose answer was lost.
    async fn place_order(&self, order: &OrderRequest) -> Result<OrderReport, VenueError>;

    /// Cancel a resting order.
    async fn cancel_order(&self, market: &MarketKey, venue_order_id: &str) -> Result<(), VenueError>;

    /// Find an order we sent (exactly as it was written down before sending),
    /// by its client order id: how a restarted host learns whether an order
    /// actually reached the venue. `Ok(None)` means it never did. Venues
    /// without client order ids re-derive the order's venue id from the
    /// request (our orders are signed deterministically from it).
    async fn find_order(&self, order: &OrderRequest) -> Result<Option<OrderReport>, VenueError>;

    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError>;

    async fn positions(&self) -> Result<Vec<VenuePosition>, VenueError>;

    /// Available cash.
    async fn balance(&self) -> Result<Money, VenueError>;

    /// Our fills as they happen (and their state changes), until the receiver is dropped.
    async fn fills(&self) -> Result<mpsc::Receiver<FillEvent>, VenueError>;

    /// `market` has resolved: collect what our holdings there pay, where the
    /// venue does not credit it by itself (outcome tokens on chain must be
    /// redeemed). `Ok(None)`: the venue pays out on its own. Must be safe to
    /// call again after a success (nothing left to collect then).
    async fn redeem(&self, market: &MarketKey) -> Result<Option<Redemption>, VenueError> {
        let _ = market;
        Ok(None)
    }
}

/// What collecting a resolved market's payout came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Redemption {
    /// Cash received (for every holding in the market, not only one bundle's).
    pub collected: Money,
    /// What collecting cost (gas), booked as a fee of the bundle that settles.
    pub cost: Money,
}
