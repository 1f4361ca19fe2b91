//! Polymarket markets in the model's terms, and the registry that maps tokens
//! back to markets.
//!
//! One model market per condition: its YES is `clobTokenIds[0]`, its NO
//! `clobTokenIds[1]`. The market's book is the YES token's book; the NO
//! token's book is its mirror (the venue matches both tokens in one book).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use arbytron_model::{FeeSchedule, MarketInfo, MarketKey, MarketStatus, Price, Qty, Side, Venue, VenueRefs};
use arbytron_sdk::money::parse_micros;

use crate::amounts::TickSize;
use crate::wire::{ClobMarket, GammaEvent, GammaFeeSchedule, GammaMarket, decimal_text, string_array};

pub const VENUE: Venue = Venue::PolymarketClob;

/// Turn a Gamma market (with its event, when it came inside one) into the model.
pub fn market_info(event: Option<&GammaEvent>, m: &GammaMarket) -> Result<MarketInfo, String> {
    let cid = m.condition_id.as_deref().filter(|c| c.starts_with("0x") && c.len() == 66).ok_or("bad conditionId")?;
    let outcomes = string_array(&m.outcomes).map_err(|e| format!("outcomes: {e}"))?;
    let tokens = string_array(&m.clob_token_ids).map_err(|e| format!("clobTokenIds: {e}"))?;
    if outcomes.len() != 2 || tokens.len() != 2 {
        return Err(format!("expected 2 outcomes and 2 tokens, got {} and {}", outcomes.len(), tokens.len()));
    }
    for t in &tokens {
        crate::signing::parse_token_id(t).map_err(|e| e.to_string())?;
    }
    if m.enable_order_book == Some(false) {
        return Err("not a CLOB market (enableOrderBook false)".into());
    }
    let tick_text = m.order_price_min_tick_size.as_ref().and_then(decimal_text).ok_or("missing tick size")?;
    let tick = TickSize::parse(&tick_text).ok_or_else(|| format!("unsupported tick size {tick_text:?}"))?;
    let min_qty = match m.order_min_size.as_ref().and_then(decimal_text) {
        Some(s) => Qty::parse_non_negative(&s).map_err(|e| format!("orderMinSize: {e}"))?,
        None => Qty::ZERO,
    };
    let fee = if m.fees_enabled == Some(false) { FeeSchedule::None } else { gamma_fee(m.fee_schedule.as_ref())? };
    let neg_risk = m.neg_risk.or(event.and_then(|e| e.neg_risk)).unwrap_or(false);
    let end = m.end_date.as_deref().or(event.and_then(|e| e.end_date.as_deref()));
    let closes_at = end.map(parse_time).transpose()?.unwrap_or(0);
    let status = if m.closed == Some(true) {
        resolved(m).map(|result| MarketStatus::Settled { result }).unwrap_or(MarketStatus::Closed)
    } else if m.active == Some(false) || m.accepting_orders == Some(false) {
        MarketStatus::Paused
    } else {
        MarketStatus::Open
    };
    let event_id = event.and_then(|e| e.slug.clone()).or_else(|| m.slug.clone()).unwrap_or_else(|| cid.to_string());
    let mut tokens = tokens.into_iter();
    Ok(MarketInfo {
        key: MarketKey::new(VENUE, cid),
        event: event_id,
        title: m.question.clone().unwrap_or_default(),
        outcome: m.group_item_title.clone().unwrap_or_default(),
        rules: m.description.clone().unwrap_or_default(),
        closes_at,
        mutually_exclusive: neg_risk && event.is_some_and(|e| e.markets.len() > 1),
        status,
        fee,
        tick: tick.price(),
        min_qty,
        refs: VenueRefs { yes_token: tokens.next(), no_token: tokens.next(), neg_risk, ..VenueRefs::default() },
    })
}

/// The winner of a closed market, from its final outcome prices (`None` = void / 50-50).
fn resolved(m: &GammaMarket) -> Option<Option<Side>> {
    if m.uma_resolution_status.as_deref() != Some("resolved") {
        return None;
    }
    let prices = string_array(&m.outcome_prices).ok()?;
    let p: Vec<i64> = prices.iter().map(|s| parse_micros(s)).collect::<Result<_, _>>().ok()?;
    match p.as_slice() {
        [1_000_000, 0] => Some(Some(Side::Yes)),
        [0, 1_000_000] => Some(Some(Side::No)),
        _ => Some(None),
    }
}

fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    // `endDateIso` style: a date only, taken as midnight UTC.
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| format!("bad date {s:?}"))
}

/// `feeSchedule {rate, exponent, takerOnly}` as the SDK's schedule.
pub fn gamma_fee(f: Option<&GammaFeeSchedule>) -> Result<FeeSchedule, String> {
    let Some(f) = f else { return Ok(FeeSchedule::None) };
    fee_from_parts(f.rate.as_ref(), f.exponent.as_ref(), f.taker_only)
}

/// The CLOB's compact `fd {r, e, to}`.
pub fn clob_fee(m: &ClobMarket) -> Result<FeeSchedule, String> {
    match &m.fd {
        None => Ok(FeeSchedule::None),
        Some(fd) => fee_from_parts(fd.r.as_ref(), fd.e.as_ref(), fd.to),
    }
}

fn fee_from_parts(
    rate: Option<&serde_json::Value>,
    exponent: Option<&serde_json::Value>,
    taker_only: Option<bool>,
) -> Result<FeeSchedule, String> {
    let rate_text = rate.and_then(decimal_text).ok_or("fee schedule without a rate")?;
    let rate = parse_micros(&rate_text).map_err(|e| format!("fee rate: {e}"))?;
    if rate == 0 {
        return Ok(FeeSchedule::None);
    }
    let rate_ppm = u32::try_from(rate).map_err(|_| format!("fee rate {rate_text} out of range"))?;
    let exponent = match exponent.and_then(decimal_text) {
        Some(e) => e.trim().parse::<u32>().map_err(|_| format!("fee exponent {e:?} is not a small integer"))?,
        None => 1,
    };
    if exponent > 8 {
        return Err(format!("fee exponent {exponent} is implausible"));
    }
    if taker_only == Some(false) {
        // The SDK models taker-only fees; a schedule charging makers would be
        // under-costed, so refuse it rather than guess.
        return Err("fee schedule charges makers (takerOnly false): unsupported".into());
    }
    Ok(FeeSchedule::Polymarket { rate_ppm, exponent })
}

/// A market known only from the CLOB's compact record (no Gamma metadata):
/// enough to trade it, nothing to match it on.
pub fn market_from_clob(m: &ClobMarket) -> Result<MarketInfo, String> {
    if !(m.c.starts_with("0x") && m.c.len() == 66) {
        return Err("bad condition id".into());
    }
    if m.t.len() != 2 {
        return Err(format!("expected 2 tokens, got {}", m.t.len()));
    }
    for t in &m.t {
        crate::signing::parse_token_id(&t.t).map_err(|e| e.to_string())?;
    }
    let tick_text = m.mts.as_ref().and_then(decimal_text).ok_or("missing tick size")?;
    let tick = TickSize::parse(&tick_text).ok_or_else(|| format!("unsupported tick size {tick_text:?}"))?;
    let min_qty = match m.mos.as_ref().and_then(decimal_text) {
        Some(s) => Qty::parse_non_negative(&s).map_err(|e| format!("min order size: {e}"))?,
        None => Qty::ZERO,
    };
    Ok(MarketInfo {
        key: MarketKey::new(VENUE, m.c.clone()),
        event: m.c.clone(),
        title: String::new(),
        outcome: String::new(),
        rules: String::new(),
        closes_at: 0,
        mutually_exclusive: false,
        status: if m.ao == Some(false) { MarketStatus::Paused } else { MarketStatus::Open },
        fee: clob_fee(m)?,
        tick: tick.price(),
        min_qty,
        refs: VenueRefs {
            yes_token: Some(m.t[0].t.clone()),
            no_token: Some(m.t[1].t.clone()),
            neg_risk: m.nr.unwrap_or(false),
            ..VenueRefs::default()
        },
    })
}

/// What the connector needs to know about a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRef {
    pub market: MarketKey,
    /// Which side of the market this token is.
    pub side: Side,
}

/// Markets the connector knows, shared by the feed and the execution side.
#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    markets: HashMap<String, MarketInfo>,
    tokens: HashMap<String, TokenRef>,
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    pub fn insert(&self, info: MarketInfo) {
        let mut g = self.inner.write();
        for (token, side) in [(&info.refs.yes_token, Side::Yes), (&info.refs.no_token, Side::No)] {
            if let Some(t) = token {
                g.tokens.insert(t.clone(), TokenRef { market: info.key.clone(), side });
            }
        }
        g.markets.insert(info.key.symbol.clone(), info);
    }

    pub fn get(&self, condition_id: &str) -> Option<MarketInfo> {
        self.inner.read().markets.get(condition_id).cloned()
    }

    pub fn token(&self, token_id: &str) -> Option<TokenRef> {
        self.inner.read().tokens.get(token_id).cloned()
    }

    pub fn len(&self) -> usize {
        self.inner.read().markets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Change a market's tick (the `tick_size_change` event); returns the updated info.
    pub fn set_tick(&self, token_id: &str, tick: Price) -> Option<MarketInfo> {
        let mut g = self.inner.write();
        let cid = g.tokens.get(token_id)?.market.symbol.clone();
        let info = g.markets.get_mut(&cid)?;
        info.tick = tick;
        Some(info.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market(json: &str) -> GammaMarket {
        serde_json::from_str(json).unwrap()
    }

    const CID: &str = "0xa467b3ca8d1f26dcbd0d2ef8c8e7cd8a8d1c1e47c2e3f0c5a3ea2b7c8ac043b7";

    #[test]
    fn gamma_market_maps_to_the_model() {
        let m = market(&format!(
            r#"{{"id":"559651","question":"Will X?","conditionId":"{CID}","outcomes":"[\"Yes\", \"No\"]",
            "clobTokenIds":"[\"111\", \"222\"]","active":true,"closed":false,"acceptingOrders":true,
            "endDate":"2026-12-31T12:00:00Z","orderPriceMinTickSize":0.001,"orderMinSize":5,"negRisk":true,
            "feesEnabled":true,"feeSchedule":{{"exponent":1,"rate":0.04,"takerOnly":true,"rebateRate":0.25}}}}"#
        ));
        let info = market_info(None, &m).unwrap();
        assert_eq!(info.key, MarketKey::new(VENUE, CID));
        assert_eq!(info.tick, Price::parse("0.001").unwrap());
        assert_eq!(info.min_qty, Qty::from_contracts(5));
        assert_eq!(info.fee, FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 });
        assert_eq!(info.refs.yes_token.as_deref(), Some("111"));
        assert_eq!(info.refs.no_token.as_deref(), Some("222"));
        assert!(info.refs.neg_risk);
        assert_eq!(info.status, MarketStatus::Open);
        assert_eq!(info.closes_at, 1_798_718_400_000);
    }

    #[test]
    fn bad_gamma_markets_are_refused_with_reasons() {
        let base = format!(r#""conditionId":"{CID}","outcomes":"[\"Yes\",\"No\"]","orderPriceMinTickSize":"0.01""#);
        assert!(market_info(None, &market(&format!(r#"{{{base},"clobTokenIds":"[\"1\"]"}}"#))).is_err());
        assert!(market_info(None, &market(&format!(r#"{{{base},"clobTokenIds":"[\"1\",\"x\"]"}}"#))).is_err());
        let m = market(&format!(
            r#"{{{base},"clobTokenIds":"[\"1\",\"2\"]","feeSchedule":{{"rate":0.05,"takerOnly":false}}}}"#
        ));
        assert!(market_info(None, &m).unwrap_err().contains("makers"));
        let m = market(&format!(
            r#"{{{base},"clobTokenIds":"[\"1\",\"2\"]","closed":true,"umaResolutionStatus":"resolved","outcomePrices":"[\"0\",\"1\"]"}}"#
        ));
        assert_eq!(market_info(None, &m).unwrap().status, MarketStatus::Settled { result: Some(Side::No) });
    }
}
