//! Orders against the simulator over real HTTP: the venue accepts what the
//! connector signs and refuses tampered orders; version changes, engine
//! restarts, Safe accounts, batches, cancels and paging.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::time::Duration;

use alloy::primitives::{Address, B256};
use arbytron_integration::Secret;
use arbytron_model::venue::{Action, ExecutionVenue, OrderRequest, OrderStatus, TimeInForce, VenueError};
use arbytron_model::{MarketInfo, Money, Price, Qty, Side};
use arbytron_polymarket::amounts::{OrderSide, TickSize, limit_amounts};
use arbytron_polymarket::signing::{Exchanges, OrderSigner, SignatureType};
use arbytron_polymarket::{ClobClient, OrderType, PlaceRequest, PolyError, PolymarketVenue};
use arbytron_sim::polymarket::{Account, DEMO_ADDRESS, DEMO_PRIVATE_KEY, demo_account};
use arbytron_sim::scenario::Fault;

use common::*;

fn order(
    m: &MarketInfo,
    id: &str,
    side: Side,
    action: Action,
    qty: &str,
    price: &str,
    tif: TimeInForce,
) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        market: m.key.clone(),
        side,
        action,
        quantity: Qty::parse(qty).unwrap(),
        limit_price: Price::parse(price).unwrap(),
        time_in_force: tif,
        amount: None,
    }
}

fn p(s: &str) -> Price {
    Price::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_fill_rest_cancel_and_settle_funds() {
    let w = world(fast_options(11)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    let key = demo_account().api_key;
    let cash0 = venue.balance().await.unwrap();
    assert_eq!(cash0, Money::from_dollars(10_000));

    // BUY 10 YES FOK at up to 0.70: the makers' best ask around fair 0.62 is 0.63.
    let r = venue
        .place_order(&order(&fed, "c1", Side::Yes, Action::Buy, "10", "0.70", TimeInForce::FillOrKill))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.filled, Qty::from_contracts(10));
    assert_eq!(r.notional, Money::parse("6.30").unwrap());
    // Taker fee: 10 x 0.04 x 0.63 x 0.37 = 0.09324.
    assert_eq!(r.fee, Money::parse("0.09324").unwrap());
    let yes = fed.refs.yes_token.clone().unwrap();
    assert_eq!(w.sim.positions(&key).get(&yes), Some(&Qty::from_contracts(10)));
    assert_eq!(w.sim.balance(&key), Some(cash0 - Money::parse("6.39324").unwrap()));

    // BUY 10 NO at up to 0.40 crosses the YES bids (0.61 => NO at 0.39).
    let r = venue
        .place_order(&order(&fed, "c2", Side::No, Action::Buy, "10", "0.40", TimeInForce::ImmediateOrCancel))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.notional, Money::parse("3.90").unwrap());
    let no = fed.refs.no_token.clone().unwrap();
    assert_eq!(w.sim.positions(&key).get(&no), Some(&Qty::from_contracts(10)));

    // A resting GTC bid below the market; it shows in open orders, then cancels.
    let r = venue
        .place_order(&order(&fed, "c3", Side::Yes, Action::Buy, "5", "0.10", TimeInForce::GoodTillCanceled))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Resting);
    let open = venue.open_orders().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].venue_order_id, r.venue_order_id);
    assert_eq!(open[0].client_order_id.as_deref(), Some("c3"));
    assert_eq!((open[0].side, open[0].price, open[0].remaining), (Side::Yes, p("0.10"), Qty::from_contracts(5)));
    let found = venue
        .find_order(&order(&fed, "c3", Side::Yes, Action::Buy, "5", "0.10", TimeInForce::GoodTillCanceled))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, OrderStatus::Resting);
    venue.cancel_order(&fed.key, &r.venue_order_id).await.unwrap();
    assert!(venue.open_orders().await.unwrap().is_empty());
    assert!(venue.cancel_order(&fed.key, &r.venue_order_id).await.is_err(), "cancelling twice is refused");

    // An FOK that cannot fill is refused whole; nothing changes.
    let err =
        venue.place_order(&order(&fed, "c4", Side::Yes, Action::Buy, "5000", "0.64", TimeInForce::FillOrKill)).await;
    assert!(matches!(err, Err(VenueError::Rejected { .. })), "{err:?}");
    // Off-tick prices and sub-lot sizes never leave the connector.
    let err = venue
        .place_order(&order(&fed, "c5", Side::Yes, Action::Buy, "5", "0.655", TimeInForce::GoodTillCanceled))
        .await;
    assert!(matches!(err, Err(VenueError::Invalid { .. })), "{err:?}");
    let err = venue
        .place_order(&order(&fed, "c6", Side::Yes, Action::Buy, "5.001", "0.65", TimeInForce::GoodTillCanceled))
        .await;
    assert!(matches!(err, Err(VenueError::Invalid { .. })), "{err:?}");
    // Below the market's minimum size (5).
    let err =
        venue.place_order(&order(&fed, "c7", Side::Yes, Action::Buy, "1", "0.65", TimeInForce::GoodTillCanceled)).await;
    assert!(matches!(err, Err(VenueError::Invalid { .. })), "{err:?}");

    // Sell the YES back.
    let r = venue
        .place_order(&order(&fed, "c8", Side::Yes, Action::Sell, "10", "0.50", TimeInForce::FillOrKill))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert!(!w.sim.positions(&key).contains_key(&yes));
    w.sim.shutdown().await;
}

/// A signer other than the venue's account, for tampering.
fn demo_signer(sig_type: SignatureType, funder: Option<Address>) -> OrderSigner {
    OrderSigner::new(&Secret::new(DEMO_PRIVATE_KEY), sig_type, funder, 137, Exchanges::default()).unwrap()
}

fn buy_request(m: &MarketInfo, price: &str, size: &str) -> PlaceRequest {
    let tick = TickSize::from_micros(m.tick.micros()).unwrap();
    PlaceRequest {
        token_id: m.refs.yes_token.clone().unwrap(),
        side: OrderSide::Buy,
        amounts: limit_amounts(OrderSide::Buy, p(price), Qty::parse(size).unwrap(), tick).unwrap(),
        neg_risk: m.refs.neg_risk,
        order_type: OrderType::Gtc,
        expiration: 0,
        post_only: false,
        metadata: B256::ZERO,
        salt: None,
        timestamp_ms: None,
    }
}

/// POST a raw `/order` body with valid L2 auth; the venue's error text on failure.
async fn post_raw(base: &str, clob: &ClobClient, body: serde_json::Value) -> Result<serde_json::Value, String> {
    let creds = clob.creds().unwrap();
    let text = body.to_string();
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let headers =
        arbytron_polymarket::signing::l2_headers(DEMO_ADDRESS, &creds, ts, "POST", "/order", Some(&text)).unwrap();
    let url = format!("{base}/order");
    let mut req = arbytron_integration::http::client(&Default::default()).unwrap().post(url).body(text);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    let ok = resp.status().is_success();
    let v: serde_json::Value = resp.json().await.unwrap();
    if ok { Ok(v) } else { Err(v["error"].as_str().unwrap_or_default().to_string()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_venue_accepts_signed_orders_and_refuses_tampered_ones() {
    let w = world(fast_options(12)).await;
    let base = w.sim.clob_url();
    let venue = w.venue().await;
    let clob = venue.clob();
    let fed = w.market("Fed");
    let owner = clob.creds().unwrap().api_key;
    let body = |signed: &arbytron_polymarket::signing::SignedOrder| serde_json::json!({ "order": signed.to_json(), "owner": owner, "orderType": "GTC" });

    // Untouched: accepted.
    let signed = clob.sign(&buy_request(&fed, "0.20", "5"), 2).unwrap();
    let ok = post_raw(&base, clob, body(&signed)).await.unwrap();
    assert_eq!(ok["success"], true);
    assert_eq!(ok["orderID"], signed.order_id());

    // Changed amount after signing.
    let signed = clob.sign(&buy_request(&fed, "0.20", "5"), 2).unwrap();
    let mut b = body(&signed);
    b["order"]["makerAmount"] = serde_json::json!("2000000");
    b["order"]["takerAmount"] = serde_json::json!("10000000");
    let err = post_raw(&base, clob, b).await.unwrap_err();
    assert!(err.contains("signature"), "{err}");

    // Signed by a key that is not the account's.
    let other = OrderSigner::new(
        &Secret::new("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
        SignatureType::Eoa,
        None,
        137,
        Exchanges::default(),
    )
    .unwrap();
    let args = arbytron_polymarket::signing::OrderArgs {
        token_id: arbytron_polymarket::signing::parse_token_id(fed.refs.yes_token.as_deref().unwrap()).unwrap(),
        side: OrderSide::Buy,
        amounts: buy_request(&fed, "0.20", "5").amounts,
        salt: 42,
        timestamp_ms: 1,
        metadata: B256::ZERO,
        builder: B256::ZERO,
        expiration: 0,
    };
    let wrong = other.sign_order(&args, 2, false).unwrap();
    let err = post_raw(&base, clob, body(&wrong)).await.unwrap_err();
    assert!(err.contains("maker/signer"), "{err}");
    // The right fields but a signature from another key.
    let mut b = body(&demo_signer(SignatureType::Eoa, None).sign_order(&args, 2, false).unwrap());
    b["order"]["signature"] = serde_json::json!(format!("0x{}", hex::encode(wrong.signature)));
    let err = post_raw(&base, clob, b).await.unwrap_err();
    assert!(err.contains("signature"), "{err}");

    // Signed for the dead V1 domain version.
    let v1 = demo_signer(SignatureType::Eoa, None).sign_order(&args, 1, false).unwrap();
    let err = post_raw(&base, clob, body(&v1)).await.unwrap_err();
    assert!(err.contains("signature"), "{err}");
    // Signed for the neg-risk exchange while the market is standard.
    let neg = demo_signer(SignatureType::Eoa, None).sign_order(&args, 2, true).unwrap();
    let err = post_raw(&base, clob, body(&neg)).await.unwrap_err();
    assert!(err.contains("signature"), "{err}");

    // A V1-shaped order is refused as a version mismatch.
    let mut b = body(&demo_signer(SignatureType::Eoa, None).sign_order(&args, 2, false).unwrap());
    b["order"]["nonce"] = serde_json::json!("0");
    b["order"]["feeRateBps"] = serde_json::json!("0");
    b["order"]["taker"] = serde_json::json!(Address::ZERO.to_string());
    let err = post_raw(&base, clob, b).await.unwrap_err();
    assert_eq!(err, "order_version_mismatch");

    // A bad HMAC is refused before anything else.
    let mut creds = clob.creds().unwrap();
    creds.secret = Secret::new("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let tampered = ClobClient::new(
        arbytron_integration::http::client(&Default::default()).unwrap(),
        &w.sim.clob_url(),
        Some(demo_signer(SignatureType::Eoa, None)),
        Some(creds),
        Duration::from_secs(1),
        Duration::from_secs(1),
    );
    assert!(matches!(tampered.open_orders(&[]).await, Err(PolyError::Auth(_))));
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_change_is_followed_by_one_resign_and_retry() {
    let w = world(fast_options(13)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    assert_eq!(venue.clob().version().await.unwrap(), 2);
    w.sim.set_version(3);
    let r = venue
        .place_order(&order(&fed, "v1", Side::Yes, Action::Buy, "5", "0.20", TimeInForce::GoodTillCanceled))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Resting);
    assert_eq!(venue.clob().version().await.unwrap(), 3, "the client re-read /version");
    let retries = arbytron_polymarket::metrics::ORDER_RETRIES.with_label_values(&["version_mismatch"]).get();
    assert!(retries >= 1);
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_restart_is_waited_out_and_the_post_only_window_respected() {
    let w = world(fast_options(14)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    w.sim.fault(Fault::EngineRestart { ms: 1_000, post_only_ms: 60_000 });
    // A resting order waits out the 425 (Retry-After) and goes in post-only.
    let r = venue
        .place_order(&order(&fed, "r1", Side::Yes, Action::Buy, "5", "0.20", TimeInForce::GoodTillCanceled))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Resting);
    assert!(venue.clob().in_post_only_window());
    // Taking liquidity in the window is refused without bothering the venue:
    // "busy", so the caller knows nothing happened and may try later.
    let err = venue.place_order(&order(&fed, "r2", Side::Yes, Action::Buy, "5", "0.70", TimeInForce::FillOrKill)).await;
    assert!(matches!(&err, Err(e @ VenueError::Busy { .. }) if e.is_transient() && !e.is_ambiguous()), "{err:?}");
    // A GTC that would cross is sent post-only, and the venue refuses it.
    let err =
        venue.place_order(&order(&fed, "r3", Side::Yes, Action::Buy, "5", "0.70", TimeInForce::GoodTillCanceled)).await;
    assert!(matches!(err, Err(VenueError::Rejected { .. })), "{err:?}");
    assert!(w.sim.trades(&demo_account().api_key).is_empty(), "nothing traded during the window");
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_accounts_trade_for_the_safe() {
    let safe: Address = "0xd93b25Cb943D14d0d34FBAf01fc93a0F8b5f6e47".parse().unwrap();
    let mut opts = fast_options(15);
    opts.accounts = vec![Account { funder: Some(safe), ..demo_account() }];
    let w = world(opts).await;
    let mut cfg = w.cfg.clone();
    let mut acct = demo_account_cfg();
    acct.signature_type = SignatureType::GnosisSafe;
    acct.funder = Some(safe);
    cfg.account = Some(acct);
    let venue = PolymarketVenue::connect(cfg, w.registry.clone()).await.unwrap();
    let fed = w.market("Fed");
    let r = venue
        .place_order(&order(&fed, "s1", Side::Yes, Action::Buy, "5", "0.70", TimeInForce::FillOrKill))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    // The same key signing as an EOA is refused: the API key trades for the Safe.
    let w_eoa = w.venue().await;
    let err = w_eoa.place_order(&order(&fed, "s2", Side::Yes, Action::Buy, "5", "0.70", TimeInForce::FillOrKill)).await;
    assert!(matches!(err, Err(VenueError::Rejected { .. })), "{err:?}");
    w.sim.shutdown().await;
}

fn demo_account_cfg() -> arbytron_polymarket::AccountConfig {
    common::demo_account()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_neg_risk_markets_and_paged_open_orders() {
    let mut opts = fast_options(16);
    opts.page_size = 2;
    let w = world(opts).await;
    let venue = w.venue().await;
    let alice = w.market("Alice");
    assert!(alice.refs.neg_risk && alice.mutually_exclusive);
    // Neg-risk orders are signed for the neg-risk exchange and accepted.
    let mut signed = Vec::new();
    for (i, price) in ["0.10", "0.11", "0.12", "0.13", "0.14"].iter().enumerate() {
        let req = buy_request(&alice, price, &format!("{}", 5 + i));
        signed.push((venue.clob().sign(&req, 2).unwrap(), OrderType::Gtc, false));
    }
    let responses = venue.clob().post_orders(&signed).await.unwrap();
    assert_eq!(responses.len(), 5);
    assert!(responses.iter().all(|r| r.success && r.status == "live"), "{responses:?}");
    // Five resting orders over three pages of two.
    let open = venue.open_orders().await.unwrap();
    assert_eq!(open.len(), 5);
    let mut prices: Vec<Price> = open.iter().map(|o| o.price).collect();
    prices.sort();
    assert_eq!(prices, ["0.10", "0.11", "0.12", "0.13", "0.14"].map(p).to_vec());
    // A batch with one bad order: per-order results.
    let bad = (venue.clob().sign(&buy_request(&alice, "0.15", "5"), 1).unwrap(), OrderType::Gtc, false);
    let good = (venue.clob().sign(&buy_request(&alice, "0.15", "5"), 2).unwrap(), OrderType::Gtc, false);
    let r = venue.clob().post_orders(&[bad, good]).await.unwrap();
    assert!(!r[0].success && r[1].success, "{r:?}");
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gtd_orders_expire_a_minute_before_their_expiration() {
    let w = world(fast_options(17)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // Too soon: refused by the venue.
    let o = order(&fed, "g0", Side::Yes, Action::Buy, "5", "0.20", TimeInForce::GoodTillCanceled);
    assert!(matches!(venue.place_with(&o, Some(now + 10), false).await, Err(PolyError::Api { .. })));
    // Expiring 61 s from now: live now, gone about a second later.
    let o = order(&fed, "g1", Side::Yes, Action::Buy, "5", "0.20", TimeInForce::GoodTillCanceled);
    let r = venue.place_with(&o, Some(now + 61), false).await.unwrap();
    assert_eq!(r.status, OrderStatus::Resting);
    let mut gone = false;
    for _ in 0..200 {
        if venue.open_orders().await.unwrap().is_empty() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the GTD order expired");
    assert_eq!(w.sim.orders(&demo_account().api_key).last().unwrap().status, "CANCELED");
    // Post-only GTC that would cross is refused; one that rests is accepted.
    let cross = order(&fed, "g2", Side::Yes, Action::Buy, "5", "0.70", TimeInForce::GoodTillCanceled);
    assert!(matches!(venue.place_with(&cross, None, true).await, Err(PolyError::Api { .. })));
    let rest = order(&fed, "g3", Side::Yes, Action::Buy, "5", "0.30", TimeInForce::GoodTillCanceled);
    assert_eq!(venue.place_with(&rest, None, true).await.unwrap().status, OrderStatus::Resting);
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_size_change_reaches_listings_and_orders() {
    use arbytron_model::MarketUpdate;
    use arbytron_model::venue::MarketFeed;
    let w = world(fast_options(18)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    let (tx, mut rx) = tokio::sync::mpsc::channel(1 << 12);
    let feed = arbytron_polymarket::PolymarketFeed::new(w.cfg.clone(), w.registry.clone()).unwrap();
    let task = tokio::spawn({
        let keys = vec![fed.key.clone()];
        async move { feed.stream(keys, tx).await }
    });
    recv_until(&mut rx, "fresh", |u| matches!(u, MarketUpdate::Feed { .. })).await;
    // Before: 0.205 is off the 0.01 grid.
    let o = order(&fed, "t1", Side::Yes, Action::Buy, "5", "0.205", TimeInForce::GoodTillCanceled);
    assert!(matches!(venue.place_order(&o).await, Err(VenueError::Invalid { .. })));
    w.sim.set_tick(&fed.key.symbol, p("0.001"));
    let listing = recv_until(&mut rx, "a listing", |u| matches!(u, MarketUpdate::Listing(_))).await;
    let MarketUpdate::Listing(info) = listing else { unreachable!() };
    assert_eq!(info.tick, p("0.001"));
    // After: the venue takes the finer price, signed with the new amounts.
    let o = order(&fed, "t2", Side::Yes, Action::Buy, "5", "0.205", TimeInForce::GoodTillCanceled);
    assert_eq!(venue.place_order(&o).await.unwrap().status, OrderStatus::Resting);
    drop(rx);
    let _ = task.await;
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_orders_are_signed_with_market_order_precision() {
    let w = world(fast_options(19)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    // 10.01 x 0.67 = 6.7067: limit amounts would carry 4 decimals of collateral,
    // which the venue refuses for a market (FOK) buy.
    let mut req = buy_request(&fed, "0.67", "10.01");
    req.order_type = OrderType::Fok;
    let err = venue.clob().place(&req).await.unwrap_err();
    assert!(err.to_string().contains("market buy orders maker amount supports a max accuracy of 2 decimals"), "{err}");
    // The connector signs immediate orders as market orders: 6.70 for 10.01 shares.
    let r = venue
        .place_order(&order(&fed, "i1", Side::Yes, Action::Buy, "10.01", "0.67", TimeInForce::FillOrKill))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(r.filled, Qty::parse("10.01").unwrap());
    assert_eq!(r.notional, Money::parse("6.3063").unwrap(), "filled at the 0.63 ask, below the limit");
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undiscovered_markets_are_looked_up_on_the_clob() {
    let w = world(fast_options(20)).await;
    let fed = w.market("Fed");
    // A venue with an empty registry: it must learn tokens, tick, neg-risk and fees from /clob-markets.
    let venue = PolymarketVenue::connect(w.cfg.clone(), arbytron_polymarket::Registry::new()).await.unwrap();
    let r = venue
        .place_order(&order(&fed, "u1", Side::No, Action::Buy, "5", "0.40", TimeInForce::FillOrKill))
        .await
        .unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    let learned = venue.registry().get(&fed.key.symbol).unwrap();
    assert_eq!(
        (learned.refs.yes_token, learned.refs.no_token),
        (fed.refs.yes_token.clone(), fed.refs.no_token.clone())
    );
    assert_eq!((learned.tick, learned.min_qty, learned.fee), (fed.tick, fed.min_qty, fed.fee));
    // 5 NO at 0.39 (the 0.61 YES bid): fee 5 x 0.04 x 0.39 x 0.61 = 0.04758.
    assert_eq!(r.fee, Money::parse("0.04758").unwrap());
    w.sim.shutdown().await;
}

/// A restarted host (a new connector with no memory of what it sent) finds an
/// order by re-signing it from its client order id, and learns that an order
/// it wrote down but never sent does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_connector_finds_orders_by_client_order_id() {
    let w = world(fast_options(23)).await;
    let fed = w.market("Fed");
    let first = w.venue().await;
    let sent = order(&fed, "a1b-4-e0-0-1767225600123", Side::Yes, Action::Buy, "10", "0.70", TimeInForce::FillOrKill);
    let r = first.place_order(&sent).await.unwrap();
    assert_eq!(r.status, OrderStatus::Filled);
    let resting =
        order(&fed, "a1b-4-e1-1-1767225600124", Side::Yes, Action::Buy, "5", "0.10", TimeInForce::GoodTillCanceled);
    let rr = first.place_order(&resting).await.unwrap();
    drop(first);

    let restarted = w.venue().await;
    let found = restarted.find_order(&sent).await.unwrap().expect("found after a restart");
    assert_eq!(found.venue_order_id, r.venue_order_id, "same signed order, same hash");
    assert_eq!((found.status, found.filled), (OrderStatus::Filled, Qty::from_contracts(10)));
    let found = restarted.find_order(&resting).await.unwrap().expect("resting order found");
    assert_eq!((found.venue_order_id, found.status), (rr.venue_order_id, OrderStatus::Resting));
    let never = order(&fed, "a1b-4-e2-2-1767225600125", Side::No, Action::Buy, "5", "0.30", TimeInForce::FillOrKill);
    assert_eq!(restarted.find_order(&never).await.unwrap(), None, "never sent: not on the venue");
    let legacy = order(&fed, "no-time-in-this-id", Side::No, Action::Buy, "5", "0.30", TimeInForce::FillOrKill);
    assert!(matches!(restarted.find_order(&legacy).await, Err(VenueError::Invalid { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gamma_discovery_pages_through_every_event() {
    use arbytron_model::venue::MarketFeed;
    let w = world(fast_options(17)).await;
    let events: std::collections::BTreeSet<_> = w.markets.iter().map(|m| m.event.clone()).collect();
    assert!(events.len() >= 2, "several events to page through: {events:?}");
    // One event per page: every page must be followed to find them all.
    let mut cfg = w.cfg.clone();
    cfg.page_size = 1;
    let feed = arbytron_polymarket::PolymarketFeed::new(cfg, arbytron_polymarket::Registry::new()).unwrap();
    let mut paged = feed.discover().await.unwrap();
    paged.sort_by(|a, b| a.title.cmp(&b.title));
    let keys = |ms: &[MarketInfo]| ms.iter().map(|m| m.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&paged), keys(&w.markets), "the same markets at one event per page");
    w.sim.shutdown().await;
}
