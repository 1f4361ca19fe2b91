//! Random and truncated JSON fed to every decoder: errors are fine, panics are not.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use arbytron_model::{FeeSchedule, MarketInfo, MarketKey, MarketStatus, Price, Qty, VenueRefs};
use arbytron_polymarket::book::TokenBook;
use arbytron_polymarket::feed::ShardState;
use arbytron_polymarket::markets::{Registry, VENUE, market_from_clob, market_info};
use arbytron_polymarket::user::{decode_user_frame, fills_from_trade};
use arbytron_polymarket::wire::{
    ClobMarket, GammaEvent, MarketEvent, OrderResponse, Page, UserEvent, WireBook, WireOpenOrder, WireTrade,
    decode_events,
};
use proptest::prelude::*;

const YES: &str = "111";
const NO: &str = "222";
const CID: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";

/// Real-shaped samples of every message the connector decodes.
const SAMPLES: &[&str] = &[
    r#"[{"event_type":"book","asset_id":"111","market":"0x1111111111111111111111111111111111111111111111111111111111111111","bids":[{"price":".48","size":"30"},{"price":"0.49","size":"20"}],"asks":[{"price":"0.52","size":"25"}],"timestamp":"123456789000","hash":"0x0"}]"#,
    r#"{"event_type":"price_change","market":"0x1111111111111111111111111111111111111111111111111111111111111111","timestamp":"1757908892351","price_changes":[{"asset_id":"111","price":"0.5","size":"200","side":"BUY","hash":"56621a","best_bid":"0.5","best_ask":"1"},{"asset_id":"222","price":"0.5","size":"0","side":"SELL"}]}"#,
    r#"{"event_type":"tick_size_change","asset_id":"111","market":"0x11","old_tick_size":"0.01","new_tick_size":"0.001","timestamp":"100000000"}"#,
    r#"{"event_type":"last_trade_price","asset_id":"111","market":"0x11","price":"0.456","side":"BUY","size":"219.217767","fee_rate_bps":"0","timestamp":"1750428146322"}"#,
    r#"{"event_type":"market_resolved","market":"0x11","winning_asset_id":"111","winning_outcome":"Yes","timestamp":"1"}"#,
    r#"{"event_type":"trade","type":"TRADE","id":"28c4d2eb","taker_order_id":"0x06bc","market":"0x11","asset_id":"111","side":"BUY","size":"10","price":"0.57","status":"MATCHED","outcome":"Yes","owner":"key","trade_owner":"key","matchtime":"1672290701","last_update":"1672290701","timestamp":"1672290701","maker_orders":[{"asset_id":"111","matched_amount":"10","order_id":"0xff","outcome":"Yes","owner":"other","price":"0.57"}]}"#,
    r#"{"event_type":"order","type":"PLACEMENT","id":"0xff3","asset_id":"111","market":"0x11","side":"SELL","price":"0.57","original_size":"10","size_matched":"0","owner":"key","timestamp":"1672290687"}"#,
    r#"{"id":"559651","question":"Will X?","conditionId":"0x1111111111111111111111111111111111111111111111111111111111111111","outcomes":"[\"Yes\", \"No\"]","outcomePrices":"[\"0.5\", \"0.5\"]","clobTokenIds":"[\"111\", \"222\"]","orderPriceMinTickSize":0.01,"orderMinSize":5,"negRisk":false,"feeSchedule":{"exponent":1,"rate":0.04,"takerOnly":true},"endDate":"2026-12-31T00:00:00Z"}"#,
    r#"{"success":true,"errorMsg":"","orderID":"0xabc","status":"matched","makingAmount":"6.3","takingAmount":"10","transactionsHashes":[],"tradeIDs":["t1"]}"#,
    r#"{"limit":2,"count":1,"next_cursor":"LTE=","data":[{"id":"t","asset_id":"111","side":"SELL","size":"1","price":"0.1","status":"CONFIRMED"}]}"#,
    r#"{"c":"0x1111111111111111111111111111111111111111111111111111111111111111","t":[{"t":"111","o":"Yes"},{"t":"222","o":"No"}],"mts":0.01,"mos":5,"nr":true,"fd":{"r":0.07,"e":1,"to":true}}"#,
];

fn registry() -> std::sync::Arc<Registry> {
    let r = Registry::new();
    r.insert(MarketInfo {
        key: MarketKey::new(VENUE, CID),
        event: "e".into(),
        title: "t".into(),
        outcome: String::new(),
        rules: String::new(),
        closes_at: 0,
        mutually_exclusive: false,
        status: MarketStatus::Open,
        fee: FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 },
        tick: Price::parse("0.01").unwrap(),
        min_qty: Qty::from_contracts(5),
        refs: VenueRefs { yes_token: Some(YES.into()), no_token: Some(NO.into()), ..VenueRefs::default() },
    });
    r
}

/// Run `text` through every decoder the connector has.
fn decode_everything(text: &str) {
    let reg = registry();
    let mut shard = ShardState::new("fuzz".into(), vec![YES.into()], 50, reg.clone());
    let mut out = Vec::new();
    // Prime a book so deltas are applied, not skipped.
    let _ = shard.on_text(SAMPLES[0], &mut out);
    let _ = shard.on_text(text, &mut out);
    shard.mark_stale(&mut out);
    let _ = decode_user_frame(text, "key", Some("0xabc"), &reg);
    let _ = decode_events::<MarketEvent>(text);
    if let Ok(events) = decode_events::<UserEvent>(text) {
        for e in events {
            if let UserEvent::Trade(t) = e {
                let _ = fills_from_trade(&t, "key", None, &reg);
            }
        }
    }
    if let Some(tb) = serde_json::from_str::<WireBook>(text).ok().and_then(|b| TokenBook::from_wire(&b).ok()) {
        let _ = tb.to_model(10).validate();
    }
    if let Ok(m) = serde_json::from_str::<arbytron_polymarket::wire::GammaMarket>(text) {
        let _ = market_info(None, &m);
    }
    if let Ok(events) = serde_json::from_str::<Vec<GammaEvent>>(text) {
        for e in &events {
            for m in &e.markets {
                let _ = market_info(Some(e), m);
            }
        }
    }
    if let Ok(m) = serde_json::from_str::<ClobMarket>(text) {
        let _ = market_from_clob(&m);
    }
    let _ = serde_json::from_str::<OrderResponse>(text);
    let _ = serde_json::from_str::<Page<WireTrade>>(text);
    let _ = serde_json::from_str::<Page<WireOpenOrder>>(text);
}

#[test]
fn every_sample_decodes_and_every_truncation_is_survived() {
    for s in SAMPLES {
        decode_everything(s);
        for cut in 0..s.len() {
            if s.is_char_boundary(cut) {
                decode_everything(&s[..cut]);
            }
        }
    }
    // The samples themselves are understood.
    let reg = registry();
    let fills = decode_user_frame(SAMPLES[5], "key", None, &reg);
    assert_eq!(fills.len(), 1);
    let mut shard = ShardState::new("s".into(), vec![YES.into()], 50, reg);
    let mut out = Vec::new();
    shard.on_text(SAMPLES[0], &mut out).unwrap();
    shard.on_text(SAMPLES[1], &mut out).unwrap();
    assert_eq!(out.len(), 3, "book, fresh, book after the change: {out:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(s in ".{0,300}") {
        decode_everything(&s);
    }

    #[test]
    fn random_json_shaped_text_never_panics(s in r#"[\[\]{}",:0-9a-z_.\- ]{0,200}"#) {
        decode_everything(&s);
    }

    #[test]
    fn mutated_samples_never_panic(idx in 0..SAMPLES.len(), pos in 0usize..400, byte in any::<u8>(), cut in 0usize..400) {
        let mut bytes = SAMPLES[idx].as_bytes().to_vec();
        let p = pos % bytes.len();
        bytes[p] = byte;
        bytes.truncate(cut.max(1).min(bytes.len()));
        let text = String::from_utf8_lossy(&bytes);
        decode_everything(&text);
    }

    #[test]
    fn random_values_in_real_shapes_never_panic(
        price in "[-0-9.eE]{0,12}",
        size in "[-0-9.eE]{0,12}",
        side in "(BUY|SELL|buy|x|)",
        status in "(MATCHED|MINED|CONFIRMED|RETRYING|FAILED|TRADE_STATUS_CONFIRMED|nope)",
    ) {
        let delta = format!(
            r#"{{"event_type":"price_change","market":"m","price_changes":[{{"asset_id":"111","price":"{price}","size":"{size}","side":"{side}"}}]}}"#
        );
        decode_everything(&delta);
        let trade = format!(
            r#"{{"event_type":"trade","id":"t","asset_id":"111","side":"{side}","size":"{size}","price":"{price}","status":"{status}","owner":"key"}}"#
        );
        decode_everything(&trade);
        let book = format!(r#"{{"asset_id":"111","bids":[{{"price":"{price}","size":"{size}"}}],"asks":[]}}"#);
        decode_everything(&book);
    }
}
