//! Fills over the user channel: MATCHED -> MINED -> CONFIRMED counts, and
//! MATCHED -> FAILED leaves no phantom position anywhere.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use arbytron_model::venue::{Action, ExecutionVenue, FillEvent, FillState, OrderRequest, OrderStatus, TimeInForce};
use arbytron_model::{Money, Price, Qty, Side};
use arbytron_polymarket::{FillLedger, LedgerChange};
use arbytron_sim::polymarket::{TradeStatus, demo_account};
use arbytron_sim::scenario::Fault;

use common::*;

fn buy_yes(m: &arbytron_model::MarketInfo, id: &str, qty: i64) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        market: m.key.clone(),
        side: Side::Yes,
        action: Action::Buy,
        quantity: Qty::from_contracts(qty),
        limit_price: Price::parse("0.70").unwrap(),
        time_in_force: TimeInForce::FillOrKill,
        amount: None,
    }
}

/// Collect fill events of `trade_id` until one is final.
async fn until_final(rx: &mut tokio::sync::mpsc::Receiver<FillEvent>, ledger: &mut FillLedger) -> Vec<FillEvent> {
    let mut seen = Vec::new();
    loop {
        let f = recv_until(rx, "a final fill state", |_| true).await;
        ledger.apply(&f);
        let done = f.state.is_final();
        seen.push(f);
        if done {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matched_then_failed_leaves_no_phantom_position() {
    let w = world(fast_options(21)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    let key = demo_account().api_key;
    let cash0 = w.sim.balance(&key).unwrap();
    let mut fills = venue.fills().await.unwrap();
    // Give the user channel a moment to subscribe: wait for its connection.
    wait_for_user_connection(&w.sim).await;

    w.sim.fault(Fault::FailTrades { count: 1 });
    let r = venue.place_order(&buy_yes(&fed, "f1", 10)).await.unwrap();
    assert_eq!(r.status, OrderStatus::Filled, "the venue reports the match at once");

    let mut ledger = FillLedger::new();
    let events = until_final(&mut fills, &mut ledger).await;
    let states: Vec<FillState> = events.iter().map(|f| f.state).collect();
    assert_eq!(states, vec![FillState::Matched, FillState::Retrying, FillState::Failed]);
    assert_eq!(events[0].quantity, Qty::from_contracts(10));
    assert_eq!(events[0].side, Side::Yes);
    assert_eq!(events[0].action, Action::Buy);

    // While matched it counted as pending exposure...
    let mut at_match = FillLedger::new();
    assert_eq!(at_match.apply(&events[0]), LedgerChange::New);
    assert_eq!(at_match.position(&fed.key).pending, Qty::from_contracts(10));
    assert_eq!(at_match.position(&fed.key).confirmed, Qty::ZERO);
    assert_eq!(at_match.apply(&events[2]), LedgerChange::Reverted);
    assert!(at_match.positions().is_empty());
    // ...and after FAILED nothing remains.
    let pos = ledger.position(&fed.key);
    assert_eq!(pos.exposure(), Qty::ZERO);
    assert_eq!(pos.pending_cash, Money::ZERO);
    assert!(ledger.positions().is_empty());
    // A late, duplicated MATCHED for the failed trade changes nothing.
    assert_eq!(ledger.apply(&FillEvent { state: FillState::Matched, ..events[0].clone() }), LedgerChange::Ignored);
    assert!(ledger.positions().is_empty());

    // The venue undid it too: no tokens, cash back, and the REST view agrees.
    assert!(w.sim.positions(&key).is_empty());
    assert_eq!(w.sim.balance(&key), Some(cash0));
    assert_eq!(w.sim.trades(&key)[0].status, TradeStatus::Failed);
    assert!(venue.positions().await.unwrap().is_empty());
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_fills_are_final_and_agree_with_the_venue() {
    let w = world(fast_options(22)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    let key = demo_account().api_key;
    let mut fills = venue.fills().await.unwrap();
    wait_for_user_connection(&w.sim).await;

    venue.place_order(&buy_yes(&fed, "f2", 7)).await.unwrap();
    let mut ledger = FillLedger::new();
    let events = until_final(&mut fills, &mut ledger).await;
    let states: Vec<FillState> = events.iter().map(|f| f.state).collect();
    assert_eq!(states, vec![FillState::Matched, FillState::Mined, FillState::Confirmed]);
    // Taker fee at 0.63: 7 x 0.04 x 0.63 x 0.37 = 0.065268 -> 0.06527.
    assert_eq!(events[0].fee, Money::parse("0.06527").unwrap());
    let pos = ledger.position(&fed.key);
    assert_eq!((pos.confirmed, pos.pending), (Qty::from_contracts(7), Qty::ZERO));
    assert_eq!(pos.confirmed_cash, -Money::parse("4.47527").unwrap());
    // A FAILED after CONFIRMED cannot undo a final fill.
    assert_eq!(ledger.apply(&FillEvent { state: FillState::Failed, ..events[0].clone() }), LedgerChange::Ignored);
    assert_eq!(ledger.position(&fed.key).confirmed, Qty::from_contracts(7));

    // The venue, its REST trades and the ledger agree.
    let yes = fed.refs.yes_token.clone().unwrap();
    assert_eq!(w.sim.positions(&key).get(&yes), Some(&Qty::from_contracts(7)));
    let rest = venue.positions().await.unwrap();
    assert_eq!(rest, ledger.positions());
    w.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resting_orders_filled_by_makers_report_maker_fills() {
    let w = world(fast_options(23)).await;
    let venue = w.venue().await;
    let fed = w.market("Fed");
    let mut fills = venue.fills().await.unwrap();
    wait_for_user_connection(&w.sim).await;
    // Rest a NO bid at 0.30 (a YES ask at 0.70), then move fair to 0.80:
    // the makers' new bids cross it and we are the maker.
    let order = OrderRequest {
        client_order_id: "m1".into(),
        market: fed.key.clone(),
        side: Side::No,
        action: Action::Buy,
        quantity: Qty::from_contracts(6),
        limit_price: Price::parse("0.30").unwrap(),
        time_in_force: TimeInForce::GoodTillCanceled,
        amount: None,
    };
    assert_eq!(venue.place_order(&order).await.unwrap().status, OrderStatus::Resting);
    w.sim.set_fair(&fed.key.symbol, Price::parse("0.80").unwrap());
    let mut ledger = FillLedger::new();
    let events = until_final(&mut fills, &mut ledger).await;
    let first = &events[0];
    assert_eq!((first.side, first.action, first.quantity), (Side::No, Action::Buy, Qty::from_contracts(6)));
    assert_eq!(first.price, Price::parse("0.30").unwrap());
    assert_eq!(first.fee, Money::ZERO, "makers pay no fee");
    assert_eq!(ledger.position(&fed.key).confirmed, -Qty::from_contracts(6), "NO is a negative YES position");
    w.sim.shutdown().await;
}

/// The user channel subscribes asynchronously; wait until the simulator has
/// authenticated it (a bound, not a timing assertion).
async fn wait_for_user_connection(sim: &arbytron_sim::polymarket::Handle) {
    for _ in 0..1_500 {
        if sim.user_connections() > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the user channel never subscribed");
}
