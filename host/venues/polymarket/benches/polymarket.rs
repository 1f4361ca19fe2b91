//! Order signing (orders/s) and market-channel decode + apply (messages/s).
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::hint::black_box;

use alloy::primitives::{B256, U256};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use arbytron_integration::Secret;
use arbytron_model::{FeeSchedule, MarketInfo, MarketKey, MarketStatus, Price, Qty, VenueRefs};
use arbytron_polymarket::amounts::{OrderSide, TickSize, limit_amounts};
use arbytron_polymarket::feed::ShardState;
use arbytron_polymarket::markets::{Registry, VENUE};
use arbytron_polymarket::signing::{Exchanges, OrderArgs, OrderSigner, SignatureType};

const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const YES: &str = "71321045679252212594626385532706912750332728571942532289631379312455583992563";

fn signing(c: &mut Criterion) {
    let signer = OrderSigner::new(&Secret::new(KEY), SignatureType::Eoa, None, 137, Exchanges::default()).unwrap();
    let amounts =
        limit_amounts(OrderSide::Buy, Price::parse("0.56").unwrap(), Qty::parse("21.04").unwrap(), TickSize::Hundredth)
            .unwrap();
    let mut args = OrderArgs {
        token_id: U256::from_str_radix(YES, 10).unwrap(),
        side: OrderSide::Buy,
        amounts,
        salt: 1,
        timestamp_ms: 1_777_000_000_000,
        metadata: B256::ZERO,
        builder: B256::ZERO,
        expiration: 0,
    };
    let mut g = c.benchmark_group("polymarket");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign_order_v2", |b| {
        b.iter(|| {
            args.salt += 1;
            black_box(signer.sign_order(black_box(&args), 2, false).unwrap())
        })
    });
    g.bench_function("limit_amounts", |b| {
        b.iter(|| {
            limit_amounts(
                OrderSide::Sell,
                black_box(Price::parse("0.039").unwrap()),
                black_box(Qty::from_hundredths(243_589)),
                TickSize::Thousandth,
            )
        })
    });
    g.finish();
}

fn ws_decode_apply(c: &mut Criterion) {
    let cid = "0x1111111111111111111111111111111111111111111111111111111111111111";
    let registry = Registry::new();
    registry.insert(MarketInfo {
        key: MarketKey::new(VENUE, cid),
        event: "e".into(),
        title: "t".into(),
        outcome: String::new(),
        rules: String::new(),
        closes_at: 0,
        mutually_exclusive: false,
        status: MarketStatus::Open,
        fee: FeeSchedule::None,
        tick: Price::parse("0.01").unwrap(),
        min_qty: Qty::ZERO,
        refs: VenueRefs { yes_token: Some(YES.into()), no_token: Some("2".into()), ..VenueRefs::default() },
    });
    let mut snapshot = String::from(r#"{"event_type":"book","asset_id":""#);
    snapshot.push_str(YES);
    snapshot.push_str(r#"","market":"m","timestamp":"1","bids":["#);
    let bids: Vec<String> = (1..50).map(|i| format!(r#"{{"price":"0.{i:02}","size":"100.00"}}"#)).collect();
    snapshot.push_str(&bids.join(","));
    snapshot.push_str(r#"],"asks":["#);
    let asks: Vec<String> = (51..100).rev().map(|i| format!(r#"{{"price":"0.{i:02}","size":"100.00"}}"#)).collect();
    snapshot.push_str(&asks.join(","));
    snapshot.push_str("]}");
    // Realistic deltas: one YES and one NO change per message (the NO token is ignored).
    let deltas: Vec<String> = (0..1024)
        .map(|i| {
            let p = 1 + (i * 7) % 49;
            let size = if i % 5 == 0 { "0".to_string() } else { format!("{}.{:02}", 10 + i % 300, i % 100) };
            format!(
                r#"{{"event_type":"price_change","market":"m","timestamp":"1757908892351","price_changes":[{{"asset_id":"{YES}","price":"0.{p:02}","size":"{size}","side":"BUY","hash":"56621a121a47ed9333273e21c83b660cff37ae50","best_bid":"0.49","best_ask":"0.51"}},{{"asset_id":"2","price":"0.{q:02}","size":"{size}","side":"SELL","hash":"1895759e4df7a796bf4f1c5a5950b748306923e2","best_bid":"0.49","best_ask":"0.51"}}]}}"#,
                q = 100 - p
            )
        })
        .collect();
    let mut shard = ShardState::new("bench".into(), vec![YES.into()], 50, registry);
    let mut out = Vec::with_capacity(8);
    shard.on_text(&snapshot, &mut out).unwrap();
    let mut g = c.benchmark_group("polymarket");
    g.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    g.bench_function("ws_price_change_decode_apply", |b| {
        b.iter(|| {
            out.clear();
            shard.on_text(black_box(&deltas[i % deltas.len()]), &mut out).unwrap();
            i += 1;
            black_box(out.len())
        })
    });
    g.bench_function("ws_book_snapshot_decode_apply", |b| {
        b.iter(|| {
            out.clear();
            shard.on_text(black_box(&snapshot), &mut out).unwrap();
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, signing, ws_decode_apply);
criterion_main!(benches);
