//! Values to columns and back: enums as lowercase text, amounts as micro-unit
//! integers, extras as JSON text. A value that does not decode is a
//! [`StoreError::Corrupt`] naming the operation, row and column, never a panic.

use arbytron_model::venue::{Action, FillState, TimeInForce};
use arbytron_model::{MarketKey, MarketStatus, Money, Price, Qty, Side, Venue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::StoreError;
use crate::records::{BundleStatus, IntentKind, IntentState, OpportunityResult, OrderState};

/// Text forms of an enum, both ways.
pub(crate) trait TextEnum: Sized + Copy + 'static {
    const NAME: &'static str;
    fn as_text(self) -> &'static str;
    fn all() -> &'static [Self];
    fn from_text(s: &str) -> Option<Self> {
        Self::all().iter().copied().find(|v| v.as_text() == s)
    }
}

macro_rules! text_enum {
    ($t:ty, $name:literal, [$($v:path => $s:literal),+ $(,)?]) => {
        impl TextEnum for $t {
            const NAME: &'static str = $name;
            fn as_text(self) -> &'static str {
                match self { $($v => $s,)+ }
            }
            fn all() -> &'static [Self] {
                &[$($v),+]
            }
        }
    };
}

text_enum!(Venue, "venue", [
    Venue::Kalshi => "kalshi",
    Venue::PolymarketClob => "polymarket-clob",
    Venue::PolymarketAmm => "polymarket-amm",
]);
text_enum!(Side, "side", [Side::Yes => "yes", Side::No => "no"]);
text_enum!(Action, "action", [Action::Buy => "buy", Action::Sell => "sell"]);
text_enum!(TimeInForce, "time in force", [
    TimeInForce::FillOrKill => "fill_or_kill",
    TimeInForce::ImmediateOrCancel => "immediate_or_cancel",
    TimeInForce::GoodTillCanceled => "good_till_canceled",
]);
text_enum!(FillState, "fill state", [
    FillState::Matched => "matched",
    FillState::Mined => "mined",
    FillState::Confirmed => "confirmed",
    FillState::Retrying => "retrying",
    FillState::Failed => "failed",
]);
text_enum!(BundleStatus, "bundle status", [
    BundleStatus::Pending => "pending",
    BundleStatus::Open => "open",
    BundleStatus::Repairing => "repairing",
    BundleStatus::Closing => "closing",
    BundleStatus::Closed => "closed",
    BundleStatus::Settled => "settled",
    BundleStatus::Failed => "failed",
]);
text_enum!(IntentKind, "intent kind", [
    IntentKind::Entry => "entry",
    IntentKind::Exit => "exit",
    IntentKind::Repair => "repair",
    IntentKind::Unwind => "unwind",
    IntentKind::Settle => "settle",
]);
text_enum!(IntentState, "intent state", [
    IntentState::Written => "written",
    IntentState::Done => "done",
    IntentState::Failed => "failed",
]);
text_enum!(OrderState, "order state", [
    OrderState::Intent => "intent",
    OrderState::Acked => "acked",
    OrderState::Filled => "filled",
    OrderState::Partial => "partial",
    OrderState::Cancelled => "cancelled",
    OrderState::Rejected => "rejected",
    OrderState::Unknown => "unknown",
]);
text_enum!(OpportunityResult, "opportunity result", [
    OpportunityResult::Taken => "taken",
    OpportunityResult::Rejected => "rejected",
]);

/// Market status as one text column: the settlement result folded in.
pub(crate) fn status_text(s: MarketStatus) -> &'static str {
    match s {
        MarketStatus::Unopened => "unopened",
        MarketStatus::Open => "open",
        MarketStatus::Paused => "paused",
        MarketStatus::Closed => "closed",
        MarketStatus::Settled { result: Some(Side::Yes) } => "settled-yes",
        MarketStatus::Settled { result: Some(Side::No) } => "settled-no",
        MarketStatus::Settled { result: None } => "settled-void",
    }
}

fn status_from_text(s: &str) -> Option<MarketStatus> {
    Some(match s {
        "unopened" => MarketStatus::Unopened,
        "open" => MarketStatus::Open,
        "paused" => MarketStatus::Paused,
        "closed" => MarketStatus::Closed,
        "settled-yes" => MarketStatus::Settled { result: Some(Side::Yes) },
        "settled-no" => MarketStatus::Settled { result: Some(Side::No) },
        "settled-void" => MarketStatus::Settled { result: None },
        _ => return None,
    })
}

/// Serialise an extra to JSON text. Our types always serialise; the error
/// path exists so a future type with a fallible `Serialize` is an error, not a panic.
pub(crate) fn to_json<T: Serialize + ?Sized>(
    op: &'static str,
    id: &dyn std::fmt::Display,
    v: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid { op, id: id.to_string(), reason: format!("JSON: {e}") })
}

/// Reads one row's columns, turning anything undecodable into
/// [`StoreError::Corrupt`] for operation `op` and the row's `key` column.
pub(crate) struct Cols<'r> {
    row: &'r AnyRow,
    op: &'static str,
    key: &'static str,
}

impl<'r> Cols<'r> {
    pub(crate) fn new(row: &'r AnyRow, op: &'static str, key: &'static str) -> Cols<'r> {
        Cols { row, op, key }
    }

    fn row_id(&self) -> String {
        if let Ok(v) = self.row.try_get::<i64, _>(self.key) {
            return v.to_string();
        }
        self.row.try_get::<String, _>(self.key).unwrap_or_else(|_| "?".to_string())
    }

    fn corrupt(&self, column: &'static str, detail: impl ToString) -> StoreError {
        let err = StoreError::Corrupt { op: self.op, id: self.row_id(), column, detail: detail.to_string() };
        err.count();
        err
    }

    pub(crate) fn i64(&self, c: &'static str) -> Result<i64, StoreError> {
        self.row.try_get::<i64, _>(c).map_err(|e| self.corrupt(c, e))
    }

    pub(crate) fn opt_i64(&self, c: &'static str) -> Result<Option<i64>, StoreError> {
        self.row.try_get::<Option<i64>, _>(c).map_err(|e| self.corrupt(c, e))
    }

    pub(crate) fn text(&self, c: &'static str) -> Result<String, StoreError> {
        self.row.try_get::<String, _>(c).map_err(|e| self.corrupt(c, e))
    }

    pub(crate) fn opt_text(&self, c: &'static str) -> Result<Option<String>, StoreError> {
        self.row.try_get::<Option<String>, _>(c).map_err(|e| self.corrupt(c, e))
    }

    /// PostgreSQL BOOLEAN or SQLite INTEGER 0/1.
    pub(crate) fn bool(&self, c: &'static str) -> Result<bool, StoreError> {
        if let Ok(b) = self.row.try_get::<bool, _>(c) {
            return Ok(b);
        }
        match self.i64(c)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(self.corrupt(c, format!("{n} is not a boolean"))),
        }
    }

    pub(crate) fn money(&self, c: &'static str) -> Result<Money, StoreError> {
        self.i64(c).map(Money::from_micros)
    }

    pub(crate) fn opt_money(&self, c: &'static str) -> Result<Option<Money>, StoreError> {
        self.opt_i64(c).map(|v| v.map(Money::from_micros))
    }

    pub(crate) fn qty(&self, c: &'static str) -> Result<Qty, StoreError> {
        self.i64(c).map(Qty::from_micros)
    }

    pub(crate) fn price(&self, c: &'static str) -> Result<Price, StoreError> {
        Price::from_micros(self.i64(c)?).map_err(|e| self.corrupt(c, e))
    }

    pub(crate) fn u32(&self, c: &'static str) -> Result<u32, StoreError> {
        let v = self.i64(c)?;
        u32::try_from(v).map_err(|_| self.corrupt(c, format!("{v} out of range")))
    }

    pub(crate) fn enum_<T: TextEnum>(&self, c: &'static str) -> Result<T, StoreError> {
        let s = self.text(c)?;
        T::from_text(&s).ok_or_else(|| self.corrupt(c, format!("unknown {} {s:?}", T::NAME)))
    }

    pub(crate) fn market_status(&self, c: &'static str) -> Result<MarketStatus, StoreError> {
        let s = self.text(c)?;
        status_from_text(&s).ok_or_else(|| self.corrupt(c, format!("unknown market status {s:?}")))
    }

    /// A market key from a venue column and a symbol column.
    pub(crate) fn market(&self, venue: &'static str, symbol: &'static str) -> Result<MarketKey, StoreError> {
        Ok(MarketKey::new(self.enum_::<Venue>(venue)?, self.text(symbol)?))
    }

    pub(crate) fn json<T: DeserializeOwned>(&self, c: &'static str) -> Result<T, StoreError> {
        let s = self.text(c)?;
        serde_json::from_str(&s).map_err(|e| self.corrupt(c, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: TextEnum + PartialEq + std::fmt::Debug>() {
        for v in T::all() {
            assert_eq!(T::from_text(v.as_text()), Some(*v));
        }
        assert_eq!(T::from_text("nonsense"), None);
    }

    #[test]
    fn every_enum_round_trips_through_text() {
        round_trips::<Venue>();
        round_trips::<Side>();
        round_trips::<Action>();
        round_trips::<TimeInForce>();
        round_trips::<FillState>();
        round_trips::<BundleStatus>();
        round_trips::<IntentKind>();
        round_trips::<IntentState>();
        round_trips::<OrderState>();
        round_trips::<OpportunityResult>();
        for s in [
            MarketStatus::Unopened,
            MarketStatus::Open,
            MarketStatus::Paused,
            MarketStatus::Closed,
            MarketStatus::Settled { result: Some(Side::Yes) },
            MarketStatus::Settled { result: Some(Side::No) },
            MarketStatus::Settled { result: None },
        ] {
            assert_eq!(status_from_text(status_text(s)), Some(s));
        }
    }

    #[test]
    fn venue_text_matches_the_sdk() {
        // The venues table is seeded with these names; they must stay the SDK's.
        for v in Venue::ALL {
            assert_eq!(v.as_text(), v.as_str());
        }
    }
}
