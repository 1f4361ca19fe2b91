//! Arbytron's execution: the engine decides, this carries it out.
//!
//! - [`executor`]: entries (all legs at once, intent first), repair of unequal
//!   legs, exits and settlement, with exact cost basis per leg;
//! - [`reconcile`]: after a restart (and periodically), the store's unresolved
//!   orders are resolved with the venues by client order id, and positions
//!   compared with the venues' own;
//! - [`ids`]: client order ids that stay unique across restarts.

pub mod executor;
pub mod ids;
pub mod reconcile;

pub use executor::{BundleBook, EntryOutcome, ExecConfig, Executor, ExitOutcome, LegBook, Venues, round_to_tick};
