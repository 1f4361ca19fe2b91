//! Scripts that drive a simulation: fair values that move, and faults.
//!
//! A scenario is a TOML or JSON list of steps, each at an offset from the
//! simulator's start. It is data, so a test, the demo and a user's own
//! experiment all drive the simulator the same way.

use serde::{Deserialize, Serialize};

use arbytron_sdk::Price;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    #[serde(default)]
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Milliseconds after the simulator started.
    pub at_ms: u64,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Move a market's fair value; its makers requote around it.
    SetFair { venue: SimVenue, market: String, price: Price },
    /// Inject a fault into one venue.
    Fault { venue: SimVenue, fault: Fault },
    /// Resolve a market.
    Settle { venue: SimVenue, market: String, result: SettleResult },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimVenue {
    Kalshi,
    Polymarket,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettleResult {
    Yes,
    No,
    Void,
}

/// Faults a simulated venue can be told to produce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Close every WebSocket connection.
    Disconnect,
    /// Skip a sequence number on every subscription (Kalshi).
    SeqGap,
    /// Stop sending on WebSockets without closing them, for `ms`.
    Freeze { ms: u64 },
    /// Answer the next `count` REST requests with 429.
    RateLimitBurst { count: u32 },
    /// Delay every REST response by `ms` until changed.
    Latency { ms: u64 },
    /// Reject the next `count` orders.
    RejectOrders { count: u32 },
    /// Fill only `ppm` parts per million of the next `count` taker orders.
    PartialFills { count: u32, ppm: u32 },
    /// Polymarket: answer 425 for `ms`, then run in post-only mode for `post_only_ms`.
    EngineRestart { ms: u64, post_only_ms: u64 },
    /// Polymarket: report the next `count` trades FAILED after MATCHED.
    FailTrades { count: u32 },
    /// Lose the next `count` order requests: never processed, and the
    /// connection breaks instead of an answer.
    DropOrderRequests { count: u32 },
    /// Process the next `count` order requests, then break the connection
    /// instead of answering: the order exists, the client never hears of it.
    DropOrderResponses { count: u32 },
    /// Hold the next `count` order requests for `ms` before processing them
    /// (a request stuck on its way: the client gives up first, then it lands).
    DelayOrderRequests { count: u32, ms: u64 },
}
