//! Fills: exactly once per venue trade, and every state change reported once.

use arbytron_model::venue::{Action, FillEvent, FillState};
use arbytron_model::{Money, Price, Side, Venue};
use arbytron_store::*;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(
    a_repeated_fill_is_a_no_op,
    matched_then_failed_is_one_transition,
    matched_mined_confirmed_and_late_events,
    concurrent_deliveries_report_the_transition_once,
);

fn trade(id: &str, state: FillState, ts: i64) -> FillEvent {
    FillEvent {
        venue: Venue::PolymarketClob,
        trade_id: id.into(),
        venue_order_id: "0xorder".into(),
        client_order_id: Some("p-1".into()),
        market: poly("0xfed"),
        side: Side::No,
        action: Action::Buy,
        quantity: contracts(10),
        price: Price::parse("0.52").unwrap(),
        fee: Money::parse("0.078").unwrap(),
        state,
        ts,
    }
}

async fn a_repeated_fill_is_a_no_op(db: TestDb) {
    let store = db.store().await;
    let kalshi_fill = FillEvent {
        venue: Venue::Kalshi,
        market: kalshi("K"),
        state: FillState::Confirmed,
        ..trade("k-1", FillState::Confirmed, 1)
    };
    assert_eq!(store.record_fill(&kalshi_fill).await.unwrap(), FillChange::New);
    for _ in 0..3 {
        assert_eq!(store.record_fill(&kalshi_fill).await.unwrap(), FillChange::Unchanged);
    }
    // The same trade id on another venue is another trade.
    let other_venue = FillEvent { venue: Venue::PolymarketClob, market: poly("0xfed"), ..kalshi_fill.clone() };
    assert_eq!(store.record_fill(&other_venue).await.unwrap(), FillChange::New);
    assert_eq!(count(&store, "fills").await, 2);
}

async fn matched_then_failed_is_one_transition(db: TestDb) {
    let store = db.store().await;
    assert_eq!(store.record_fill(&trade("t-1", FillState::Matched, 100)).await.unwrap(), FillChange::New);
    assert_eq!(store.record_fill(&trade("t-1", FillState::Matched, 100)).await.unwrap(), FillChange::Unchanged);
    let failed = FillEvent { fee: Money::ZERO, ..trade("t-1", FillState::Failed, 900) };
    assert_eq!(
        store.record_fill(&failed).await.unwrap(),
        FillChange::Transition { from: FillState::Matched, to: FillState::Failed }
    );
    // Redelivered: nothing more to undo.
    assert_eq!(store.record_fill(&failed).await.unwrap(), FillChange::Unchanged);
    // A failed trade stays failed.
    assert_eq!(
        store.record_fill(&trade("t-1", FillState::Confirmed, 950)).await.unwrap(),
        FillChange::Stale { current: FillState::Failed }
    );
    let row = store.fill(Venue::PolymarketClob, "t-1").await.unwrap().unwrap();
    assert_eq!((row.fill.state, row.fill.ts, row.updated_at, row.fill.fee), (FillState::Failed, 100, 900, Money::ZERO));
    assert_eq!(count(&store, "fills").await, 1);
}

async fn matched_mined_confirmed_and_late_events(db: TestDb) {
    let store = db.store().await;
    // The order id can arrive only with a later state.
    let anonymous = FillEvent { client_order_id: None, ..trade("t-2", FillState::Matched, 1) };
    assert_eq!(store.record_fill(&anonymous).await.unwrap(), FillChange::New);
    assert_eq!(
        store.record_fill(&trade("t-2", FillState::Mined, 2)).await.unwrap(),
        FillChange::Transition { from: FillState::Matched, to: FillState::Mined }
    );
    assert_eq!(
        store.fill(Venue::PolymarketClob, "t-2").await.unwrap().unwrap().fill.client_order_id.as_deref(),
        Some("p-1")
    );
    // Out of order: a late MATCHED after MINED is stale.
    assert_eq!(
        store.record_fill(&trade("t-2", FillState::Matched, 1)).await.unwrap(),
        FillChange::Stale { current: FillState::Mined }
    );
    assert_eq!(
        store.record_fill(&trade("t-2", FillState::Confirmed, 3)).await.unwrap(),
        FillChange::Transition { from: FillState::Mined, to: FillState::Confirmed }
    );
    assert_eq!(
        store.record_fill(&trade("t-2", FillState::Failed, 4)).await.unwrap(),
        FillChange::Stale { current: FillState::Confirmed }
    );
    assert_eq!(store.fills_for_order("p-1").await.unwrap().len(), 1);
}

async fn concurrent_deliveries_report_the_transition_once(db: TestDb) {
    let store = db.store().await;
    for round in 0..5 {
        let id = format!("race-{round}");
        // Eight deliveries of MATCHED at once: exactly one is new.
        let changes = deliver(&store, trade(&id, FillState::Matched, 1), 8).await;
        assert_eq!(changes.iter().filter(|c| **c == FillChange::New).count(), 1, "{changes:?}");
        assert!(changes.iter().all(|c| matches!(c, FillChange::New | FillChange::Unchanged)), "{changes:?}");
        // Eight deliveries of FAILED at once: exactly one transition to undo.
        let changes = deliver(&store, trade(&id, FillState::Failed, 2), 8).await;
        let transitions = changes.iter().filter(|c| matches!(c, FillChange::Transition { .. })).count();
        assert_eq!(transitions, 1, "{changes:?}");
    }
    assert_eq!(count(&store, "fills").await, 5);
}

async fn deliver(store: &Store, f: FillEvent, n: usize) -> Vec<FillChange> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (s, f) = (store.clone(), f.clone());
        tasks.push(tokio::spawn(async move { s.record_fill(&f).await.unwrap() }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
