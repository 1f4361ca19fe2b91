//! WebSocket message decoding: one pass from JSON text to typed, exactly
//! parsed messages. Pure and total (never panics), so it is fuzzed directly and
//! benchmarked on its own.

use std::borrow::Cow;

use arbytron_model::{Money, Price, Qty};
use serde::Deserialize;

use crate::book::LadderSide;

/// A decoded server message. NO-side book prices are always NO-leg prices
/// here, whichever pricing the subscription asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    Subscribed {
        id: Option<u64>,
        sid: u64,
        channel: String,
    },
    Ok {
        id: Option<u64>,
        sid: Option<u64>,
        seq: Option<u64>,
    },
    Unsubscribed {
        sid: Option<u64>,
        seq: Option<u64>,
    },
    Error {
        id: Option<u64>,
        code: i64,
        msg: String,
    },
    Snapshot {
        id: Option<u64>,
        sid: u64,
        seq: Option<u64>,
        ticker: String,
        yes: Vec<(Price, Qty)>,
        no: Vec<(Price, Qty)>,
    },
    Delta {
        sid: u64,
        seq: Option<u64>,
        ticker: String,
        side: LadderSide,
        price: Price,
        delta: Qty,
        ts_ms: Option<i64>,
    },
    Ticker {
        sid: Option<u64>,
        ticker: String,
        ts_ms: Option<i64>,
    },
    Fill(FillMsg),
    Lifecycle {
        sid: Option<u64>,
        seq: Option<u64>,
        ticker: String,
        event_type: String,
        result: String,
        deactivated: Option<bool>,
    },
    /// A type we do not use (trade, event_lifecycle, ...); still carries seq for gap checks.
    Other {
        kind: String,
        sid: Option<u64>,
        seq: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillMsg {
    pub trade_id: String,
    pub order_id: String,
    pub client_order_id: Option<String>,
    pub ticker: String,
    pub is_taker: bool,
    pub yes_price: Price,
    pub count: Qty,
    pub fee: Money,
    /// `yes` / `no`.
    pub outcome_side: String,
    /// `bid` / `ask`.
    pub book_side: String,
    pub ts_ms: Option<i64>,
}

/// A level component: Kalshi sends strings now, numbers in older shapes.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum Num<'a> {
    #[serde(borrow)]
    Str(Cow<'a, str>),
    Int(i64),
}

#[derive(Deserialize, Debug)]
struct Env<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    sid: Option<u64>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow)]
    msg: Option<Fields<'a>>,
}

#[derive(Deserialize, Debug, Default)]
struct Fields<'a> {
    #[serde(default, borrow)]
    market_ticker: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    price_dollars: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta_fp: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    side: Option<Cow<'a, str>>,
    #[serde(default)]
    ts_ms: Option<i64>,
    #[serde(default, borrow)]
    yes_dollars_fp: Option<Vec<(Num<'a>, Num<'a>)>>,
    #[serde(default, borrow)]
    no_dollars_fp: Option<Vec<(Num<'a>, Num<'a>)>>,
    #[serde(default, borrow)]
    yes_dollars: Option<Vec<(Num<'a>, Num<'a>)>>,
    #[serde(default, borrow)]
    no_dollars: Option<Vec<(Num<'a>, Num<'a>)>>,
    #[serde(default, borrow)]
    yes: Option<Vec<(Num<'a>, Num<'a>)>>,
    #[serde(default, borrow)]
    no: Option<Vec<(Num<'a>, Num<'a>)>>,
    // subscribed / error
    #[serde(default, borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(default)]
    sid: Option<u64>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, borrow)]
    msg: Option<Cow<'a, str>>,
    // fill
    #[serde(default, borrow)]
    trade_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    order_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    client_order_id: Option<Cow<'a, str>>,
    #[serde(default)]
    is_taker: Option<bool>,
    #[serde(default, borrow)]
    yes_price_dollars: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    count_fp: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    fee_cost: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    outcome_side: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    book_side: Option<Cow<'a, str>>,
    // lifecycle
    #[serde(default, borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    result: Option<Cow<'a, str>>,
    #[serde(default)]
    is_deactivated: Option<bool>,
}

/// Why a message was dropped: a short reason (the metric label) and detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub reason: &'static str,
    pub detail: String,
}

fn err(reason: &'static str, detail: impl Into<String>) -> DecodeError {
    DecodeError { reason, detail: detail.into() }
}

fn need<T>(v: Option<T>, field: &'static str) -> Result<T, DecodeError> {
    v.ok_or_else(|| err("missing_field", field))
}

fn level(p: &Num<'_>, q: &Num<'_>, legacy_cents: bool) -> Result<(Price, Qty), DecodeError> {
    let price = match p {
        Num::Str(s) => Price::parse(s).map_err(|e| err("bad_price", e.to_string()))?,
        Num::Int(c) if legacy_cents => c
            .checked_mul(10_000)
            .and_then(|m| Price::from_micros(m).ok())
            .ok_or_else(|| err("bad_price", format!("{c} cents")))?,
        Num::Int(c) => return Err(err("bad_price", format!("numeric dollar price {c}"))),
    };
    let qty = match q {
        Num::Str(s) => Qty::parse_non_negative(s).map_err(|e| err("bad_count", e.to_string()))?,
        Num::Int(n) if (0..=i64::MAX / 1_000_000).contains(n) => Qty::from_contracts(*n),
        Num::Int(n) => return Err(err("bad_count", n.to_string())),
    };
    Ok((price, qty))
}

fn levels(
    v: &Option<Vec<(Num<'_>, Num<'_>)>>,
    legacy_cents: bool,
    flip: bool,
) -> Result<Vec<(Price, Qty)>, DecodeError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    v.iter().map(|(p, q)| level(p, q, legacy_cents).map(|(p, q)| (if flip { p.complement() } else { p }, q))).collect()
}

/// Decode one text frame. `use_yes_price` says how the subscription priced the
/// NO side; NO prices come back as NO-leg prices either way.
pub fn decode(text: &str, use_yes_price: bool) -> Result<WsMessage, DecodeError> {
    let env: Env<'_> = serde_json::from_str(text).map_err(|e| err("bad_json", e.to_string()))?;
    let f = env.msg.unwrap_or_default();
    let ticker = |f: &Fields<'_>| need(f.market_ticker.as_deref(), "market_ticker").map(str::to_string);
    Ok(match env.kind.as_ref() {
        "subscribed" => WsMessage::Subscribed {
            id: env.id,
            sid: need(f.sid.or(env.sid), "sid")?,
            channel: need(f.channel.as_deref(), "channel")?.to_string(),
        },
        "ok" => WsMessage::Ok { id: env.id, sid: env.sid, seq: env.seq },
        "unsubscribed" => WsMessage::Unsubscribed { sid: env.sid, seq: env.seq },
        "error" => WsMessage::Error {
            id: env.id,
            code: f.code.unwrap_or(0),
            msg: f.msg.as_deref().unwrap_or_default().to_string(),
        },
        "orderbook_snapshot" => {
            let (yes, no) = if f.yes_dollars_fp.is_some() || f.no_dollars_fp.is_some() {
                (levels(&f.yes_dollars_fp, false, false)?, levels(&f.no_dollars_fp, false, use_yes_price)?)
            } else if f.yes_dollars.is_some() || f.no_dollars.is_some() {
                (levels(&f.yes_dollars, false, false)?, levels(&f.no_dollars, false, use_yes_price)?)
            } else {
                (levels(&f.yes, true, false)?, levels(&f.no, true, use_yes_price)?)
            };
            WsMessage::Snapshot { id: env.id, sid: need(env.sid, "sid")?, seq: env.seq, ticker: ticker(&f)?, yes, no }
        }
        "orderbook_delta" => {
            let side = LadderSide::parse(need(f.side.as_deref(), "side")?)
                .ok_or_else(|| err("bad_side", f.side.as_deref().unwrap_or_default().to_string()))?;
            let mut price = Price::parse(need(f.price_dollars.as_deref(), "price_dollars")?)
                .map_err(|e| err("bad_price", e.to_string()))?;
            if side == LadderSide::No && use_yes_price {
                price = price.complement();
            }
            let delta =
                Qty::parse(need(f.delta_fp.as_deref(), "delta_fp")?).map_err(|e| err("bad_count", e.to_string()))?;
            WsMessage::Delta {
                sid: need(env.sid, "sid")?,
                seq: env.seq,
                ticker: ticker(&f)?,
                side,
                price,
                delta,
                ts_ms: f.ts_ms,
            }
        }
        "ticker" => WsMessage::Ticker { sid: env.sid, ticker: ticker(&f)?, ts_ms: f.ts_ms },
        "fill" => WsMessage::Fill(FillMsg {
            trade_id: need(f.trade_id.as_deref(), "trade_id")?.to_string(),
            order_id: need(f.order_id.as_deref(), "order_id")?.to_string(),
            client_order_id: f.client_order_id.as_deref().filter(|s| !s.is_empty()).map(str::to_string),
            ticker: ticker(&f)?,
            is_taker: f.is_taker.unwrap_or(false),
            yes_price: Price::parse(need(f.yes_price_dollars.as_deref(), "yes_price_dollars")?)
                .map_err(|e| err("bad_price", e.to_string()))?,
            count: Qty::parse_non_negative(need(f.count_fp.as_deref(), "count_fp")?)
                .map_err(|e| err("bad_count", e.to_string()))?,
            fee: match f.fee_cost.as_deref() {
                Some(s) => Money::parse(s).map_err(|e| err("bad_fee", e.to_string()))?,
                None => Money::ZERO,
            },
            outcome_side: f.outcome_side.as_deref().unwrap_or_default().to_string(),
            book_side: f.book_side.as_deref().unwrap_or_default().to_string(),
            ts_ms: f.ts_ms,
        }),
        "market_lifecycle_v2" => WsMessage::Lifecycle {
            sid: env.sid,
            seq: env.seq,
            ticker: ticker(&f)?,
            event_type: need(f.event_type.as_deref(), "event_type")?.to_string(),
            result: f.result.as_deref().unwrap_or_default().to_string(),
            deactivated: f.is_deactivated,
        },
        other => WsMessage::Other { kind: other.to_string(), sid: env.sid, seq: env.seq },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        Price::parse(s).unwrap()
    }

    #[test]
    fn snapshot_and_delta_in_both_pricings() {
        let snap = r#"{"type":"orderbook_snapshot","sid":2,"seq":2,"msg":{"market_ticker":"FED-23DEC-T3.00","market_id":"x","yes_dollars_fp":[["0.0800","300.00"]],"no_dollars_fp":[["0.5400","20.00"]]}}"#;
        let WsMessage::Snapshot { yes, no, ticker, seq, .. } = decode(snap, false).unwrap() else { panic!() };
        assert_eq!((ticker.as_str(), seq), ("FED-23DEC-T3.00", Some(2)));
        assert_eq!(yes, vec![(p("0.08"), Qty::from_contracts(300))]);
        assert_eq!(no, vec![(p("0.54"), Qty::from_contracts(20))]);
        // With use_yes_price the NO level 0.54 arrives as its YES price 0.46.
        let yes_priced = snap.replace("0.5400", "0.4600");
        let WsMessage::Snapshot { no, .. } = decode(&yes_priced, true).unwrap() else { panic!() };
        assert_eq!(no, vec![(p("0.54"), Qty::from_contracts(20))]);

        let delta = r#"{"type":"orderbook_delta","sid":2,"seq":3,"msg":{"market_ticker":"M","price_dollars":"0.960","delta_fp":"-54.00","side":"no","ts":"2022-11-22T20:44:01Z","ts_ms":1669149841000}}"#;
        let WsMessage::Delta { side, price, delta: d, .. } = decode(delta, false).unwrap() else { panic!() };
        assert_eq!((side, price, d), (LadderSide::No, p("0.96"), Qty::from_contracts(-54)));
        let WsMessage::Delta { price, .. } = decode(delta, true).unwrap() else { panic!() };
        assert_eq!(price, p("0.04"));
    }

    #[test]
    fn legacy_and_transitional_snapshots() {
        let legacy = r#"{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","yes":[[8,300]],"no":[[54,20]]}}"#;
        let WsMessage::Snapshot { yes, no, .. } = decode(legacy, false).unwrap() else { panic!() };
        assert_eq!(yes, vec![(p("0.08"), Qty::from_contracts(300))]);
        assert_eq!(no, vec![(p("0.54"), Qty::from_contracts(20))]);
        let trans = r#"{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","yes_dollars":[["0.080",300]]}}"#;
        let WsMessage::Snapshot { yes, no, .. } = decode(trans, false).unwrap() else { panic!() };
        assert_eq!((yes, no), (vec![(p("0.08"), Qty::from_contracts(300))], vec![]));
    }

    #[test]
    fn control_fill_and_lifecycle() {
        assert_eq!(
            decode(r#"{"id":1,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":1}}"#, false).unwrap(),
            WsMessage::Subscribed { id: Some(1), sid: 1, channel: "orderbook_delta".into() }
        );
        assert_eq!(
            decode(r#"{"id":3,"type":"error","msg":{"code":25,"msg":"buffer overflow"}}"#, false).unwrap(),
            WsMessage::Error { id: Some(3), code: 25, msg: "buffer overflow".into() }
        );
        let fill = r#"{"type":"fill","sid":13,"msg":{"trade_id":"t","order_id":"o","client_order_id":"c","market_ticker":"M","is_taker":true,"yes_price_dollars":"0.7500","count_fp":"3.00","fee_cost":"0.0200","post_position_fp":"3.00","outcome_side":"yes","book_side":"bid","ts_ms":5}}"#;
        let WsMessage::Fill(f) = decode(fill, false).unwrap() else { panic!() };
        assert_eq!((f.yes_price, f.count, f.fee), (p("0.75"), Qty::from_contracts(3), Money::parse("0.02").unwrap()));
        let life = r#"{"type":"market_lifecycle_v2","sid":3,"seq":4,"msg":{"market_ticker":"M","event_type":"determined","result":"yes"}}"#;
        assert!(matches!(decode(life, false).unwrap(), WsMessage::Lifecycle { result, .. } if result == "yes"));
    }

    #[test]
    fn bad_messages_are_errors_with_reasons() {
        assert_eq!(decode("{", false).unwrap_err().reason, "bad_json");
        assert_eq!(
            decode(r#"{"type":"orderbook_delta","sid":1,"msg":{"market_ticker":"M","price_dollars":"2","delta_fp":"1","side":"yes"}}"#, false)
                .unwrap_err()
                .reason,
            "bad_price"
        );
        assert_eq!(
            decode(r#"{"type":"orderbook_delta","sid":1,"msg":{"market_ticker":"M","price_dollars":"0.5","delta_fp":"1","side":"maybe"}}"#, false)
                .unwrap_err()
                .reason,
            "bad_side"
        );
        assert_eq!(
            decode(r#"{"type":"orderbook_delta","sid":1,"msg":{}}"#, false).unwrap_err().reason,
            "missing_field"
        );
    }
}
