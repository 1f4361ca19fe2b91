//! Random and truncated JSON fed to every decoder never panics.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use arbytron_kalshi::{book, convert, decode, wire};
use proptest::prelude::*;

const SAMPLES: &[&str] = &[
    r#"{"type":"orderbook_snapshot","sid":2,"seq":2,"msg":{"market_ticker":"FED-23DEC-T3.00","market_id":"x","yes_dollars_fp":[["0.0800","300.00"],["0.0900","1.00"]],"no_dollars_fp":[["0.5400","20.00"]]}}"#,
    r#"{"type":"orderbook_delta","sid":2,"seq":3,"msg":{"market_ticker":"M","price_dollars":"0.960","delta_fp":"-54.00","side":"yes","ts_ms":1669149841000}}"#,
    r#"{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"M","yes":[[8,300]],"no":[[54,20]]}}"#,
    r#"{"id":1,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":1}}"#,
    r#"{"id":3,"type":"error","msg":{"code":25,"msg":"buffer overflow"}}"#,
    r#"{"type":"fill","sid":13,"msg":{"trade_id":"t","order_id":"o","market_ticker":"M","is_taker":true,"yes_price_dollars":"0.7500","count_fp":"3.00","fee_cost":"0.0200","outcome_side":"yes","book_side":"bid","ts_ms":5}}"#,
    r#"{"type":"market_lifecycle_v2","sid":3,"seq":4,"msg":{"market_ticker":"M","event_type":"determined","result":"yes"}}"#,
    r#"{"type":"ticker","sid":4,"msg":{"market_ticker":"M","yes_bid_dollars":"0.4","ts_ms":1}}"#,
    r#"{"orderbook_fp":{"yes_dollars":[["0.4200","13.00"]],"no_dollars":[["0.5000","1.00"]]}}"#,
    r#"{"orderbook":{"yes":[[42,13]],"no":[[50,1]]}}"#,
    r#"{"markets":[{"ticker":"M","event_ticker":"E","status":"active","close_time":"2030-01-01T00:00:00Z","price_ranges":[{"start":"0","end":"1","step":"0.01"}]}],"cursor":"abc"}"#,
    r#"{"events":[{"event_ticker":"E","series_ticker":"S","mutually_exclusive":true}],"cursor":""}"#,
    r#"{"series":{"ticker":"S","fee_type":"quadratic","fee_multiplier":0.5}}"#,
    r#"{"order_id":"o","fill_count":"1.00","remaining_count":"0.00","average_fill_price":"0.5","average_fee_paid":"0.02"}"#,
    r#"{"orders":[{"client_order_id":"c","error":{"code":"invalid_order","message":"m","details":""}},{"order_id":"o","fill_count":"0.00","remaining_count":"1.00"}]}"#,
    r#"{"order":{"order_id":"o","ticker":"M","status":"resting","fill_count_fp":"0.00","remaining_count_fp":"1.00","taker_fill_cost_dollars":"0.0000"}}"#,
    r#"{"market_positions":[{"ticker":"M","position_fp":"-3.00"}],"cursor":""}"#,
    r#"{"balance":100,"balance_dollars":"1.0000"}"#,
    r#"{"fills":[{"fill_id":"f","order_id":"o","ticker":"M","count_fp":"1.00","yes_price_dollars":"0.5"}]}"#,
    r#"{"error":{"code":"authentication_error","message":"m","details":"INCORRECT_API_KEY_SIGNATURE"}}"#,
];

/// Every decoder the connector runs on venue input, on one string.
fn decode_everything(s: &str) {
    for yes_pricing in [false, true] {
        // What the feed does with a decoded book message: build and apply, then read.
        match decode::decode(s, yes_pricing) {
            Ok(decode::WsMessage::Snapshot { yes, no, .. }) => {
                if let Ok(b) = book::LocalBook::from_snapshot(&yes, &no) {
                    let _ = b.to_book(10);
                }
            }
            Ok(decode::WsMessage::Delta { side, price, delta, .. }) => {
                let mut b = book::LocalBook::new();
                let _ = b.apply(side, price, delta);
                let _ = b.apply(side, price, delta);
                let _ = b.to_book(10);
            }
            _ => {}
        }
    }
    if let Ok(r) = serde_json::from_str::<wire::OrderbookResponse>(s) {
        if let Some(fp) = r.orderbook_fp {
            let _ = fp.yes_dollars.as_deref().map(convert::parse_levels);
            let _ = fp.no_dollars.as_deref().map(convert::parse_levels);
        }
        if let Some(l) = r.orderbook {
            let _ = l.yes.as_deref().map(convert::parse_levels);
        }
    }
    if let Ok(p) = serde_json::from_str::<wire::MarketsPage>(s) {
        let e = wire::Event {
            event_ticker: "E".into(),
            series_ticker: "S".into(),
            title: String::new(),
            sub_title: String::new(),
            mutually_exclusive: false,
            markets: None,
            fee_type_override: None,
            fee_multiplier_override: None,
        };
        for m in &p.markets {
            let _ = convert::market_info(m, &e, arbytron_model::FeeSchedule::None);
            let _ = convert::tick(&m.price_ranges);
        }
    }
    let _ = serde_json::from_str::<wire::EventsPage>(s);
    if let Ok(series) = serde_json::from_str::<wire::SeriesResponse>(s) {
        let _ = convert::fee_schedule(&series.series, None);
    }
    let _ = serde_json::from_str::<wire::CreateOrderResponse>(s);
    let _ = serde_json::from_str::<wire::BatchCreateResponse>(s);
    let _ = serde_json::from_str::<wire::OrderResponse>(s);
    let _ = serde_json::from_str::<wire::OrdersPage>(s);
    let _ = serde_json::from_str::<wire::PositionsPage>(s);
    let _ = serde_json::from_str::<wire::Balance>(s);
    let _ = serde_json::from_str::<wire::FillsPage>(s);
    let _ = serde_json::from_str::<wire::ErrorBody>(s).map(wire::ErrorBody::into_api_error);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(s in ".{0,300}") {
        decode_everything(&s);
    }

    #[test]
    fn truncated_samples_never_panic(i in 0..SAMPLES.len(), cut in 0usize..400) {
        let s = SAMPLES[i];
        let mut end = cut.min(s.len());
        while !s.is_char_boundary(end) { end -= 1; }
        decode_everything(&s[..end]);
    }

    #[test]
    fn mutated_samples_never_panic(i in 0..SAMPLES.len(), pos in 0usize..400, byte in any::<u8>()) {
        let mut b = SAMPLES[i].as_bytes().to_vec();
        let pos = pos % b.len();
        b[pos] = byte;
        if let Ok(s) = String::from_utf8(b) {
            decode_everything(&s);
        }
    }

    #[test]
    fn json_shaped_values_in_every_field_never_panic(
        i in 0..SAMPLES.len(),
        replacement in prop_oneof![
            Just("null".to_string()), Just("-1".to_string()), Just("1e999".to_string()),
            Just("\"\"".to_string()), Just("[]".to_string()), Just("{}".to_string()),
            Just("\"-0.0000001\"".to_string()), Just("\"99999999999999999999\"".to_string()),
            Just("18446744073709551615".to_string()), Just("[[\"0.5\"]]".to_string()),
        ],
    ) {
        // Replace every string value in turn.
        let s = SAMPLES[i];
        let quotes: Vec<usize> = s.match_indices('"').map(|(k, _)| k).collect();
        for w in quotes.chunks(2) {
            if let [a, b] = w {
                let mutated = format!("{}{}{}", &s[..*a], replacement, &s[b + 1..]);
                decode_everything(&mutated);
            }
        }
    }
}

#[test]
fn samples_decode() {
    // The samples themselves are valid, so the properties exercise real shapes.
    assert!(decode::decode(SAMPLES[0], false).is_ok());
    assert!(serde_json::from_str::<wire::OrderbookResponse>(SAMPLES[8]).unwrap().orderbook_fp.is_some());
    assert!(serde_json::from_str::<wire::BatchCreateResponse>(SAMPLES[14]).unwrap().orders[0].error.is_some());
}
