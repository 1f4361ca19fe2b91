//! The rows the store keeps, in the model's own types.
//!
//! Columns are an implementation detail of [`crate::Store`]: callers write and
//! read these structs, with [`Money`], [`Price`] and [`Qty`] (stored as their
//! micro-unit integers) and enums (stored as the lowercase text shown on each).

use std::collections::BTreeMap;

use arbytron_model::venue::{Action, FillEvent, OrderRequest, OrderStatus, TimeInForce};
use arbytron_model::{MarketKey, Money, Price, Qty, Side, TimestampMs, Venue};
use serde::{Deserialize, Serialize};

/// One leg of a link outcome: buying `side` of `symbol` on `venue`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkLeg {
    pub venue: Venue,
    pub symbol: String,
    pub side: Side,
}

/// A set of outcomes of which exactly one pays $1, each bought by its legs:
/// what a matcher (or `config/mappings.toml`) proposes and a human approves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLink {
    /// `"config"` or the name of the strategy that proposed it.
    pub source: String,
    pub outcomes: Vec<Vec<LinkLeg>>,
    pub confidence_ppm: u32,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRecord {
    pub id: i64,
    pub source: String,
    pub outcomes: Vec<Vec<LinkLeg>>,
    pub confidence_ppm: u32,
    pub reasons: Vec<String>,
    pub approved: bool,
    pub created_at: TimestampMs,
}

/// A market as last seen, with when the store last wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketRecord {
    pub info: arbytron_model::MarketInfo,
    pub updated_at: TimestampMs,
}

/// One attempt to load a strategy module: the audit trail of what ran when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategyVersion {
    pub name: String,
    pub version: String,
    /// Content hash of the module (hex).
    pub hash: String,
    pub file: String,
    pub loaded_at: TimestampMs,
    /// `"live"`, or the label of the step that failed (`"compile"`, `"self-test"`, ...).
    pub result: String,
    /// Why it failed; empty when live.
    pub reason: String,
}

/// A row with the id the database gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored<T> {
    pub id: i64,
    pub record: T,
}

/// Whether the host acted on an opportunity. Stored as `taken` / `rejected`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpportunityResult {
    Taken,
    Rejected,
}

/// One leg of an opportunity as the host re-checked it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityLeg {
    pub venue: Venue,
    pub symbol: String,
    pub side: Side,
    pub quantity: Qty,
    pub limit_price: Price,
    /// Expected cash, fee included.
    pub amount: Money,
    pub fee: Money,
}

/// An opportunity a strategy proposed and what the host did with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpportunityRecord {
    pub ts: TimestampMs,
    pub strategy: String,
    /// The store id of the link ([`crate::Store::insert_link`]).
    pub link_id: i64,
    pub quantity: Qty,
    pub cost: Money,
    pub fees: Money,
    pub payout: Money,
    pub profit: Money,
    pub return_ppm: i64,
    pub annualized_ppm: i64,
    pub result: OpportunityResult,
    /// Why it was rejected; must be empty when taken and non-empty when rejected.
    pub reason: String,
    /// The bundle it became, when taken.
    pub bundle_id: Option<i64>,
    pub legs: Vec<OpportunityLeg>,
}

/// Which opportunities to read back; every field narrows, `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpportunityFilter {
    pub strategy: Option<String>,
    pub result: Option<OpportunityResult>,
    pub link_id: Option<i64>,
    /// `ts >= since`.
    pub since: Option<TimestampMs>,
    /// `ts < until`.
    pub until: Option<TimestampMs>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
}

/// A bundle's place in its life. Stored as the lowercase name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BundleStatus {
    /// Written, orders not yet all answered.
    Pending,
    /// Every leg filled: hedged, held to exit or settlement.
    Open,
    /// A leg came back short or rejected; the repair policy is working on it.
    Repairing,
    /// Exit orders are out.
    Closing,
    /// Sold back before resolution.
    Closed,
    /// Paid out on resolution.
    Settled,
    /// Never became a hedged position (nothing filled, or unwound).
    Failed,
}

impl BundleStatus {
    pub const ALL: [BundleStatus; 7] = [
        BundleStatus::Pending,
        BundleStatus::Open,
        BundleStatus::Repairing,
        BundleStatus::Closing,
        BundleStatus::Closed,
        BundleStatus::Settled,
        BundleStatus::Failed,
    ];

    /// No further status change is allowed once here.
    pub const fn is_terminal(self) -> bool {
        matches!(self, BundleStatus::Closed | BundleStatus::Settled | BundleStatus::Failed)
    }
}

/// What a new bundle is: written by [`crate::Store::begin_bundle`] as `pending`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBundle {
    pub strategy: String,
    pub link_id: i64,
    /// Contracts per outcome; the bundle pays this many dollars.
    pub quantity: Qty,
    pub cost: Money,
    pub fees: Money,
    pub expected_payout: Money,
    pub opened_at: TimestampMs,
    pub resolves_at: TimestampMs,
    pub note: String,
}

/// The fields of a bundle that change as it lives; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleUpdate {
    pub status: Option<BundleStatus>,
    pub quantity: Option<Qty>,
    pub cost: Option<Money>,
    pub fees: Option<Money>,
    pub realized_pnl: Option<Money>,
    /// When it left the live states; moving to a terminal status without it
    /// stamps the store's clock, since the daily realized PnL counts by it.
    pub closed_at: Option<TimestampMs>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleRecord {
    pub id: i64,
    pub strategy: String,
    pub link_id: i64,
    pub status: BundleStatus,
    pub quantity: Qty,
    pub cost: Money,
    pub fees: Money,
    pub expected_payout: Money,
    pub realized_pnl: Money,
    pub opened_at: TimestampMs,
    pub closed_at: Option<TimestampMs>,
    pub resolves_at: TimestampMs,
    pub note: String,
    /// What the bundle holds, one row per leg ([`crate::Store::set_position`]).
    pub legs: Vec<PositionRecord>,
}

/// Why a set of orders is sent. Stored as the lowercase name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IntentKind {
    Entry,
    Exit,
    Repair,
    Unwind,
    Settle,
}

/// An intent is `written` before its orders are sent, then `done` or `failed`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IntentState {
    Written,
    Done,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentRecord {
    pub id: i64,
    pub bundle_id: i64,
    pub kind: IntentKind,
    pub created_at: TimestampMs,
    pub state: IntentState,
}

/// An order to be written before it is sent: exactly what will go to the venue.
pub type NewOrder = OrderRequest;

/// Where an order is, as far as we know. Stored as the lowercase name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Written, not (known to be) sent: the state a crash leaves behind.
    Intent,
    /// Accepted and resting, nothing filled.
    Acked,
    Filled,
    /// Partly filled (the rest resting or cancelled).
    Partial,
    /// Nothing filled, nothing resting.
    Cancelled,
    Rejected,
    /// Sent, but the answer was lost (timeout, crash): ask the venue by client order id.
    Unknown,
}

impl OrderState {
    /// What a venue report means for the row.
    pub fn from_status(status: &OrderStatus) -> OrderState {
        match status {
            OrderStatus::Filled => OrderState::Filled,
            OrderStatus::PartiallyFilled { .. } => OrderState::Partial,
            OrderStatus::Resting => OrderState::Acked,
            OrderStatus::Cancelled => OrderState::Cancelled,
            OrderStatus::Rejected { .. } => OrderState::Rejected,
        }
    }

    /// Order of knowledge: a report never moves an order to a lower rank
    /// without more contracts filled (a late "resting" after "cancelled" is stale).
    pub(crate) const fn rank(self) -> i64 {
        match self {
            OrderState::Intent | OrderState::Unknown => 0,
            OrderState::Acked => 1,
            OrderState::Partial => 2,
            OrderState::Filled | OrderState::Cancelled | OrderState::Rejected => 3,
        }
    }

    /// Still to be reconciled with the venue.
    pub const fn is_unresolved(self) -> bool {
        matches!(self, OrderState::Intent | OrderState::Unknown)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    pub client_order_id: String,
    pub intent_id: i64,
    pub bundle_id: i64,
    pub market: MarketKey,
    pub side: Side,
    pub action: Action,
    pub quantity: Qty,
    pub limit_price: Price,
    pub time_in_force: TimeInForce,
    pub amount: Option<Money>,
    pub state: OrderState,
    pub venue_order_id: Option<String>,
    pub filled: Qty,
    pub notional: Money,
    pub fee: Money,
    /// The venue's rejection reason, or why the order became unknown.
    pub reason: String,
    pub created_at: TimestampMs,
    pub updated_at: TimestampMs,
}

impl OrderRecord {
    /// The order exactly as it was written (and so as it was, or will be, sent).
    pub fn request(&self) -> OrderRequest {
        OrderRequest {
            client_order_id: self.client_order_id.clone(),
            market: self.market.clone(),
            side: self.side,
            action: self.action,
            quantity: self.quantity,
            limit_price: self.limit_price,
            time_in_force: self.time_in_force,
            amount: self.amount,
        }
    }
}

/// What [`crate::Store::record_order_result`] did with a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderUpdate {
    /// The row now says what the report says (also when it already did).
    Applied,
    /// The row already knows more (a later state or more filled); the report was ignored.
    Stale { state: OrderState, filled: Qty },
}

/// An order a restarted host must ask its venue about, with its context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnresolvedOrder {
    pub order: OrderRecord,
    pub intent: IntentRecord,
    pub bundle: BundleRecord,
}

/// A fill as stored: the latest state of the venue's trade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FillRecord {
    pub id: i64,
    /// `ts` is when the trade was first seen; `state` its latest state.
    pub fill: FillEvent,
    /// The event time of the latest state change.
    pub updated_at: TimestampMs,
}

/// What [`crate::Store::record_fill`] did with an event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FillChange {
    /// First time this trade was seen.
    New,
    /// Already stored in this state: a redelivery, nothing to do.
    Unchanged,
    /// The trade moved on (e.g. MATCHED → CONFIRMED, or MATCHED → FAILED: undo its position).
    Transition { from: arbytron_model::venue::FillState, to: arbytron_model::venue::FillState },
    /// The stored state is further along (a late MATCHED after CONFIRMED); ignored.
    Stale { current: arbytron_model::venue::FillState },
}

/// One bundle leg's holding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionRecord {
    pub bundle_id: i64,
    pub market: MarketKey,
    pub side: Side,
    pub quantity: Qty,
    pub cost: Money,
    pub fees: Money,
}

/// Holdings summed over bundles: what the venue should report for this market and side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionTotal {
    pub market: MarketKey,
    pub side: Side,
    pub quantity: Qty,
    pub cost: Money,
    pub fees: Money,
}

/// Portfolio value at a moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PnlSnapshot {
    pub ts: TimestampMs,
    pub realized: Money,
    pub unrealized: Money,
    /// Capital at risk per venue.
    pub exposure: BTreeMap<Venue, Money>,
}
