//! Arbytron's trading engine: market updates in, decisions out.
//!
//! - [`markets`]: current books, pools and listings, by dense market id;
//! - [`links`]: sets of outcomes that together pay $1, and which markets they touch;
//! - [`candidate`]: packing books into the strategy boundary's format;
//! - [`recheck`] and [`risk`]: the host's own pricing of every proposal and its limits;
//! - [`engine`]: the loop that ties them together, plus the exit monitor.
//!
//! It does no I/O: the service feeds it updates and carries out its actions,
//! which keeps the hot path measurable (see `benches/`) and the logic testable.

pub mod candidate;
pub mod engine;
pub mod links;
pub mod markets;
pub mod metrics;
pub mod recheck;
pub mod risk;

pub use engine::{
    Action, Engine, EngineConfig, EntryPlan, ExitLeg, ExitPlan, Held, Rejection, Scorer, SettlePlan, Strategies,
};
pub use links::{LegKey, Link, LinkSpec, Links, parse_mappings};
pub use markets::{MarketState, Markets};
pub use recheck::PlannedLeg;
pub use risk::{Exposure, Reject, RiskLimits, RiskState};
