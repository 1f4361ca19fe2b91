//! The trading core end to end over the simulators, with the real WASM
//! strategies and the real PostgreSQL: dislocations found and bought on both
//! venues at once, exits when prices converge, faults repaired, stale feeds and
//! the kill switch respected, and realised PnL equal to the venues' balances.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::time::Duration;

use arbytron::world::{KALSHI_DEMO_KEY_ID, cpi_markets, eth_kalshi_market, fed_markets};
use arbytron_sdk::{Money, Qty};
use arbytron_sim::polymarket::demo_account;
use arbytron_sim::scenario::{Fault, SettleResult};
use arbytron_store::BundleStatus;
use arbytron_tests::harness::{Harness, MIN, amm_account, p, status};
use arbytron_tests::wait_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cross_venue_dislocation_is_bought_exited_and_accounted_to_the_cent() {
    let h = Harness::start("").await;
    let (_, cpi_poly) = cpi_markets();
    // Polymarket's CPI market drops 12 cents under Kalshi's.
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    let b = h.wait_bundle("CPI bundle opened", |b| b.status == BundleStatus::Open && b.legs.len() == 2).await;
    assert!(b.quantity.is_positive());
    assert!(b.cost < b.quantity.payout(), "bought below the guaranteed payout: {b:?}");
    let venues: Vec<_> = b.legs.iter().map(|l| l.market.venue).collect();
    assert!(venues.contains(&arbytron_sdk::Venue::Kalshi) && venues.contains(&arbytron_sdk::Venue::PolymarketClob));
    assert!(b.legs.iter().all(|l| l.quantity == b.quantity), "hedged: every leg holds the bundle quantity");
    // The simulators hold the same positions.
    let kpos = h.kalshi().positions(KALSHI_DEMO_KEY_ID);
    let kleg = b.legs.iter().find(|l| l.market.venue == arbytron_sdk::Venue::Kalshi).unwrap();
    let signed = if kleg.side == arbytron_sdk::Side::Yes { kleg.quantity } else { -kleg.quantity };
    assert!(kpos.iter().any(|(t, q)| *t == kleg.market.symbol && *q == signed), "kalshi positions {kpos:?}");

    // Prices converge: the strategy sells the bundle back early.
    h.poly().set_fair(&cpi_poly.symbol, p("0.45"));
    let closed = h.wait_bundle("CPI bundle closed", |x| x.id == b.id && x.status == BundleStatus::Closed).await;
    // Polymarket trades settle a moment after they match.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let realized: Money = h.bundles().await.iter().map(|b| b.realized_pnl).sum();
    let change = h.balance_change();
    assert!(
        (realized - change).micros().abs() < 10_000,
        "realised PnL {realized} must equal the change of the venue balances {change} to the cent"
    );
    assert!(closed.realized_pnl.is_positive(), "an early exit after convergence makes money: {closed:?}");
    // Everything was recorded: the opportunity, the orders, the fills.
    let orders = h.store.orders_for_bundle(closed.id).await.unwrap();
    assert!(orders.len() >= 4, "two entry and two exit orders: {orders:?}");
    assert!(h.store.unresolved_orders().await.unwrap().is_empty());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_outcome_bundle_across_two_venues_is_found_and_executed() {
    let h = Harness::start("").await;
    let fed = fed_markets();
    // Kalshi's 25bp-cut market drops: Hold + Cut25 + Cut50 cost under $1.
    h.kalshi().set_fair(&fed[1].0.symbol, p("0.20"));
    let b = h.wait_bundle("Fed bundle opened", |b| b.status == BundleStatus::Open && b.legs.len() == 3).await;
    assert!(b.cost < b.quantity.payout());
    assert!(b.legs.iter().any(|l| l.market == fed[1].0), "the cheap outcome was bought on Kalshi: {b:?}");
    assert!(b.legs.iter().all(|l| l.quantity == b.quantity));
    // The strategies that traded are on record, with their versions and hashes.
    let versions = h.store.strategy_versions(None).await.unwrap();
    for name in ["cross-venue-binary", "multi-outcome-bundle"] {
        let v = versions
            .iter()
            .find(|v| v.record.name == name)
            .unwrap_or_else(|| panic!("{name} not recorded: {versions:?}"));
        assert_eq!(v.record.result, "live");
        assert_eq!(v.record.hash.len(), 64, "a SHA-256 in hex");
        assert!(!v.record.version.is_empty());
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_leg_and_a_partial_fill_leave_no_unhedged_exposure() {
    let h = Harness::start("").await;
    let (cpi_kalshi, cpi_poly) = cpi_markets();
    // Every Polymarket order is rejected: the Kalshi leg must be sold back.
    h.poly().fault(Fault::RejectOrders { count: 100 });
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    let b = h.wait_bundle("failed bundle", |b| b.status == BundleStatus::Failed).await;
    assert_eq!(b.quantity, Qty::ZERO);
    let net: Qty =
        h.kalshi().positions(KALSHI_DEMO_KEY_ID).iter().filter(|(t, _)| *t == cpi_kalshi.symbol).map(|(_, q)| *q).sum();
    assert_eq!(net, Qty::ZERO, "no unhedged Kalshi exposure is left");
    assert!(b.realized_pnl <= Money::ZERO, "the round trip's loss is accounted: {b:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let change = h.balance_change();
    assert!((b.realized_pnl - change).micros().abs() < 10_000, "loss {} equals the cash lost {change}", b.realized_pnl);
    h.poly().fault(Fault::RejectOrders { count: 0 });
    h.poly().set_fair(&cpi_poly.symbol, p("0.45"));
    h.stop().await;

    // A partial fill on Kalshi is completed (or trimmed): the bundle ends hedged.
    let h = Harness::start("").await;
    h.kalshi().fault(Fault::PartialFills { count: 1, ppm: 400_000 });
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    let b = h.wait_bundle("bundle after a partial fill", |b| b.status == BundleStatus::Open).await;
    assert!(b.legs.iter().all(|l| l.quantity == b.quantity), "hedged after the repair: {b:?}");
    let orders = h.store.orders_for_bundle(b.id).await.unwrap();
    assert!(orders.len() >= 3, "the repair sent another order: {orders:?}");
    // The books agree with the venues: what the repair cost is realised, the rest
    // is the held bundle's cost (fees included). Polymarket confirms a moment later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = h.bundles().await;
    let realized: Money = all.iter().map(|b| b.realized_pnl).sum();
    let held: Money = all.iter().filter(|b| b.status == BundleStatus::Open).map(|b| b.cost).sum();
    let change = h.balance_change();
    assert!(
        (realized - held - change).micros().abs() < 10_000,
        "realised {realized} less held cost {held} must equal the cash that moved {change}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_feed_means_no_trade_and_the_kill_switch_stops_new_trades() {
    // Books count as current for 12 s after a feed last vouched for them
    // (the venues' heartbeats come every 10 s).
    let h = Harness::start("[risk]\nmax_book_age_ms = 12000\n").await;
    let (cpi_kalshi, cpi_poly) = cpi_markets();
    // Polymarket's feed freezes (no frames, no PONGs); then Kalshi's side
    // moves. The frozen book goes stale and nothing trades until it thaws.
    h.poly().fault(Fault::Freeze { ms: 22_000 });
    tokio::time::sleep(Duration::from_millis(14_000)).await; // past max_book_age_ms
    h.kalshi().set_fair(&cpi_kalshi.symbol, p("0.57"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(h.bundles().await.is_empty(), "nothing trades on a frozen book");
    // This host's own view (the Prometheus gauge is shared by every host in this test process).
    let frozen = status(h.svc.admin_addr).await["trading"]["stale_books"]["polymarket-clob"].as_u64();
    assert!(frozen.is_some_and(|n| n >= 1), "stale books are visible: {frozen:?}");
    let metrics = arbytron_integration::http::client(&Default::default())
        .unwrap()
        .get(format!("http://{}/metrics", h.svc.admin_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("arbytron_book_stale{venue=\"polymarket-clob\"}"), "and exported");
    // Once it thaws the opportunity is taken.
    h.wait_bundle("trade after the thaw", |b| b.status == BundleStatus::Open).await;
    h.kalshi().set_fair(&cpi_kalshi.symbol, p("0.45"));
    h.stop().await;

    // The kill switch: engaged, a dislocation is not traded; released, it is.
    let h = Harness::start("").await;
    let client = arbytron_integration::http::client(&Default::default()).unwrap();
    let r = client.post(format!("http://{}/kill", h.svc.admin_addr)).send().await.unwrap();
    assert!(r.status().is_success());
    h.poly().set_fair(&cpi_poly.symbol, p("0.33"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(h.bundles().await.is_empty(), "no new trade while killed");
    client.post(format!("http://{}/resume", h.svc.admin_addr)).send().await.unwrap();
    // The next update trades.
    h.poly().set_fair(&cpi_poly.symbol, p("0.32"));
    h.wait_bundle("trade after resume", |b| b.status == BundleStatus::Open).await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_amm_bundle_is_held_to_resolution_and_its_tokens_redeemed_on_chain() {
    use arbytron_amm::{Chain, Deployer, SwapIntent, TxConfig};
    let h = Harness::start_with("", true).await;
    let amm = h.svc.world.as_ref().unwrap().amm.as_ref().unwrap();
    let (pool, yes, eth) = (amm.deployment.pool, amm.market(0), eth_kalshi_market());
    // The host's account on chain, read with its key (reads only).
    let tx = TxConfig::default();
    let us = amm_account(amm).await;
    let c0 = h.c0.expect("collateral read at start");

    // Another trader dumps YES on the pool: its YES and Kalshi's NO cost under $1.
    amm.other.swap(pool, 1, SwapIntent::BuyWith { investment: 6_000_000_000 }, None).await.unwrap();
    let b = h
        .wait_bundle("ETH bundle opened", |b| b.status == BundleStatus::Open && b.legs.iter().any(|l| l.market == yes))
        .await;
    assert!(b.legs.iter().any(|l| l.market == eth), "hedged on Kalshi: {b:?}");
    assert!(us.outcome_balances(pool).await.unwrap()[0] > 0, "the host holds the pool's YES tokens");

    // Both venues resolve YES: the Kalshi NO leg expires worthless, the pool's YES
    // tokens pay $1 each once redeemed.
    assert!(h.kalshi().settle(&eth.symbol, SettleResult::Yes));
    let oracle =
        Deployer::new(std::sync::Arc::new(Chain::connect(amm.anvil.url(), &amm.anvil.dev_key(), tx).await.unwrap()));
    oracle.report_payouts(amm.deployment.conditional_tokens, amm.deployment.question_id, &[1, 0]).await.unwrap();

    let settled = h.wait_bundle("ETH bundle settled", |x| x.id == b.id && x.status == BundleStatus::Settled).await;
    // Every bundle is done (a second entry may still be in flight when the
    // markets resolve: it ends settled or failed too), and the tokens were redeemed.
    wait_until("no bundle pending, open or under repair", MIN, || async {
        h.store.open_bundles().await.map(|b| b.is_empty()).unwrap_or(false)
    })
    .await;
    assert_eq!(us.outcome_balances(pool).await.unwrap(), vec![0, 0], "no token left unredeemed");
    assert!(us.collateral_balance(pool).await.unwrap() > c0 - 6_000_000_000, "collateral came back");
    // Realised PnL (every bundle in the store) equals the cash that moved: Kalshi,
    // Polymarket and the chain's collateral (gas on the local chain is far below a cent).
    let realized = h.store.realized_pnl_since(0).await.unwrap();
    let chain_change = Money::from_micros(us.collateral_balance(pool).await.unwrap() as i64 - c0 as i64);
    let change = h.balance_change() + chain_change;
    assert!(
        (realized - change).micros().abs() < 10_000,
        "realised PnL {realized} must equal the cash that moved {change} to the cent \
         (Kalshi {}, Polymarket {}, chain {chain_change}); bundles: {:#?}",
        h.kalshi().balance(KALSHI_DEMO_KEY_ID) - h.k0,
        h.poly().balance(&demo_account().api_key).unwrap() - h.p0,
        h.bundles().await
    );
    assert!(settled.realized_pnl.is_positive(), "bought below $1, paid $1: {settled:?}");
    h.stop().await;
}
