//! Kalshi wire values into the model, and order intents into V2 orders.

use arbytron_model::venue::{Action, TimeInForce};
use arbytron_model::{FeeSchedule, MarketInfo, MarketKey, MarketStatus, Price, Qty, Side, Venue, VenueRefs};
use serde_json::Value;

use crate::wire::{self, PriceRange, RawLevel};

/// Kalshi's V2 book side.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BookSide {
    /// Buys YES.
    Bid,
    /// Sells YES, which is buying NO at `1 - price`.
    Ask,
}

impl BookSide {
    pub fn as_str(self) -> &'static str {
        match self {
            BookSide::Bid => "bid",
            BookSide::Ask => "ask",
        }
    }
}

/// A trader's intent as a V2 order: the YES-book side and the YES price.
///
/// | intent        | side | price   |
/// |---------------|------|---------|
/// | buy YES @ p   | bid  | p       |
/// | sell YES @ p  | ask  | p       |
/// | buy NO @ q    | ask  | 1 - q   |
/// | sell NO @ q   | bid  | 1 - q   |
pub fn to_v2(side: Side, action: Action, limit: Price) -> (BookSide, Price) {
    match (side, action) {
        (Side::Yes, Action::Buy) => (BookSide::Bid, limit),
        (Side::Yes, Action::Sell) => (BookSide::Ask, limit),
        (Side::No, Action::Buy) => (BookSide::Ask, limit.complement()),
        (Side::No, Action::Sell) => (BookSide::Bid, limit.complement()),
    }
}

/// The inverse: a V2 side and YES price seen from `side`'s point of view.
pub fn from_v2(book_side: BookSide, yes_price: Price, side: Side) -> (Action, Price) {
    match (side, book_side) {
        (Side::Yes, BookSide::Bid) => (Action::Buy, yes_price),
        (Side::Yes, BookSide::Ask) => (Action::Sell, yes_price),
        (Side::No, BookSide::Ask) => (Action::Buy, yes_price.complement()),
        (Side::No, BookSide::Bid) => (Action::Sell, yes_price.complement()),
    }
}

pub fn tif_str(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::FillOrKill => "fill_or_kill",
        TimeInForce::ImmediateOrCancel => "immediate_or_cancel",
        TimeInForce::GoodTillCanceled => "good_till_canceled",
    }
}

/// Prices go out with 4 decimals (Kalshi's documented precision), 6 if the grid needs it.
pub fn format_price(p: Price) -> String {
    p.to_decimal_string(4).unwrap_or_else(|_| p.to_string())
}

/// Counts go out with 2 decimals; finer counts cannot be traded.
pub fn format_count(q: Qty) -> Result<String, String> {
    q.to_decimal_string(2).map_err(|_| format!("count {q} is finer than 0.01 contracts"))
}

/// A book level: dollar string or legacy integer cents; count string or integer.
pub fn parse_level(level: &RawLevel) -> Result<(Price, Qty), String> {
    let price = match &level.price {
        Value::String(s) => Price::parse(s).map_err(|e| format!("price: {e}"))?,
        Value::Number(n) => {
            let cents = n.as_i64().ok_or_else(|| format!("price {n} is not an integer number of cents"))?;
            Price::from_micros(cents.checked_mul(10_000).ok_or("price overflow")?).map_err(|e| format!("price: {e}"))?
        }
        other => return Err(format!("price {other} is neither a string nor a number")),
    };
    let qty = match &level.count {
        Value::String(s) => Qty::parse_non_negative(s).map_err(|e| format!("count: {e}"))?,
        Value::Number(n) => {
            let c = n.as_i64().filter(|c| *c >= 0).ok_or_else(|| format!("count {n} is not a whole count"))?;
            Qty::from_contracts(c.min(i64::MAX / 1_000_000))
        }
        other => return Err(format!("count {other} is neither a string nor a number")),
    };
    Ok((price, qty))
}

pub fn parse_levels(levels: &[RawLevel]) -> Result<Vec<(Price, Qty)>, String> {
    levels.iter().map(parse_level).collect()
}

/// A JSON number or string as an exact decimal string (for `fee_multiplier`, a double on the wire).
pub fn decimal_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The fee schedule of a market: the series' fee type and multiplier, unless the event overrides them.
pub fn fee_schedule(series: &wire::Series, event: Option<&wire::Event>) -> Result<FeeSchedule, String> {
    let fee_type =
        event.and_then(|e| e.fee_type_override.clone()).filter(|s| !s.is_empty()).unwrap_or(series.fee_type.clone());
    let multiplier = event
        .and_then(|e| e.fee_multiplier_override.as_ref())
        .and_then(decimal_text)
        .or_else(|| series.fee_multiplier.as_ref().and_then(decimal_text))
        .unwrap_or_else(|| "1".into());
    FeeSchedule::kalshi(&series.ticker, &fee_type, &multiplier)
}

/// Both status vocabularies (`Market.status` and the `?status=` filter) into the model.
pub fn market_status(status: &str, result: &str) -> MarketStatus {
    match status {
        "active" | "open" => MarketStatus::Open,
        "initialized" | "unopened" => MarketStatus::Unopened,
        "inactive" | "paused" => MarketStatus::Paused,
        "determined" | "amended" | "finalized" | "settled" => MarketStatus::Settled { result: settle_result(result) },
        // closed, disputed, and anything new: no trading, no result we trust yet.
        _ => MarketStatus::Closed,
    }
}

fn settle_result(result: &str) -> Option<Side> {
    match result {
        "yes" => Some(Side::Yes),
        "no" => Some(Side::No),
        _ => None,
    }
}

/// The finest step of the market's price bands (zero when the market lists none).
/// Orders are also checked against the bands themselves, see [`on_grid`].
pub fn tick(ranges: &[PriceRange]) -> Result<Price, String> {
    let mut tick: Option<Price> = None;
    for r in ranges {
        let step = Price::parse(&r.step).map_err(|e| format!("price_ranges step: {e}"))?;
        if step.is_zero() {
            return Err("price_ranges step is zero".into());
        }
        tick = Some(tick.map_or(step, |t| t.min(step)));
    }
    Ok(tick.unwrap_or(Price::from_micros_const(10_000)))
}

/// Whether `p` lies on the market's grid: inside a band and a multiple of its step from the band's start.
pub fn on_grid(ranges: &[PriceRange], p: Price) -> bool {
    if ranges.is_empty() {
        return p.micros() % 10_000 == 0;
    }
    ranges.iter().any(|r| {
        let (Ok(start), Ok(end), Ok(step)) = (Price::parse(&r.start), Price::parse(&r.end), Price::parse(&r.step))
        else {
            return false;
        };
        step.micros() > 0 && p >= start && p <= end && (p.micros() - start.micros()) % step.micros() == 0
    })
}

fn parse_time_ms(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).map_err(|e| format!("close_time {s:?}: {e}"))
}

/// A market's metadata in the model.
pub fn market_info(m: &wire::Market, event: &wire::Event, fee: FeeSchedule) -> Result<MarketInfo, String> {
    let closes_at = match &m.close_time {
        Some(s) => parse_time_ms(s)?,
        None => return Err("market has no close_time".into()),
    };
    let title = if !m.title.is_empty() { m.title.clone() } else { event.title.clone() };
    Ok(MarketInfo {
        key: MarketKey::new(Venue::Kalshi, m.ticker.clone()),
        event: if m.event_ticker.is_empty() { event.event_ticker.clone() } else { m.event_ticker.clone() },
        title,
        outcome: m.yes_sub_title.clone(),
        rules: m.rules_primary.clone(),
        closes_at,
        mutually_exclusive: event.mutually_exclusive,
        status: market_status(&m.status, &m.result),
        fee,
        tick: tick(&m.price_ranges)?,
        min_qty: if m.fractional_trading_enabled == Some(true) { Qty::from_hundredths(1) } else { Qty::ONE },
        refs: VenueRefs::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }

    #[test]
    fn buying_no_is_an_ask_at_the_complement_and_back() {
        assert_eq!(to_v2(Side::No, Action::Buy, p("0.37")), (BookSide::Ask, p("0.63")));
        assert_eq!(to_v2(Side::No, Action::Sell, p("0.37")), (BookSide::Bid, p("0.63")));
        assert_eq!(to_v2(Side::Yes, Action::Buy, p("0.37")), (BookSide::Bid, p("0.37")));
        assert_eq!(to_v2(Side::Yes, Action::Sell, p("0.37")), (BookSide::Ask, p("0.37")));
        // The other direction: an ask at a YES price of 0.63 is buying NO at 0.37.
        assert_eq!(from_v2(BookSide::Ask, p("0.63"), Side::No), (Action::Buy, p("0.37")));
        assert_eq!(from_v2(BookSide::Bid, p("0.63"), Side::No), (Action::Sell, p("0.37")));
        for side in [Side::Yes, Side::No] {
            for action in [Action::Buy, Action::Sell] {
                let (bs, yes) = to_v2(side, action, p("0.1234"));
                assert_eq!(from_v2(bs, yes, side), (action, p("0.1234")));
            }
        }
    }

    #[test]
    fn levels_in_every_shape() {
        let lvl = |v: Value| serde_json::from_value::<RawLevel>(v).unwrap();
        assert_eq!(
            parse_level(&lvl(serde_json::json!(["0.4200", "13.00"]))).unwrap(),
            (p("0.42"), Qty::from_contracts(13))
        );
        assert_eq!(
            parse_level(&lvl(serde_json::json!(["0.080", 300]))).unwrap(),
            (p("0.08"), Qty::from_contracts(300))
        );
        assert_eq!(parse_level(&lvl(serde_json::json!([42, 7]))).unwrap(), (p("0.42"), Qty::from_contracts(7)));
        assert!(parse_level(&lvl(serde_json::json!(["1.5", "1"]))).is_err());
        assert!(parse_level(&lvl(serde_json::json!(["0.5", "-1"]))).is_err());
        assert!(parse_level(&lvl(serde_json::json!([null, "1"]))).is_err());
    }

    #[test]
    fn grid_and_tick_from_price_ranges() {
        let r = |a: &str, b: &str, s: &str| PriceRange { start: a.into(), end: b.into(), step: s.into() };
        let tapered = vec![r("0", "0.1", "0.001"), r("0.1", "0.9", "0.01"), r("0.9", "1", "0.001")];
        assert_eq!(tick(&tapered).unwrap(), p("0.001"));
        assert!(on_grid(&tapered, p("0.005")));
        assert!(on_grid(&tapered, p("0.55")));
        assert!(!on_grid(&tapered, p("0.555")));
        assert!(on_grid(&tapered, p("0.995")));
        assert!(on_grid(&[], p("0.55")) && !on_grid(&[], p("0.555")));
    }

    #[test]
    fn statuses() {
        assert_eq!(market_status("active", ""), MarketStatus::Open);
        assert_eq!(market_status("inactive", ""), MarketStatus::Paused);
        assert_eq!(market_status("finalized", "no"), MarketStatus::Settled { result: Some(Side::No) });
        assert_eq!(market_status("finalized", "void"), MarketStatus::Settled { result: None });
        assert_eq!(market_status("closed", ""), MarketStatus::Closed);
    }
}
