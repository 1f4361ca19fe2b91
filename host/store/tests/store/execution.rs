//! Intent before action: atomic bundle writes, monotone order results, and
//! what a restarted host finds to reconcile.

use arbytron_model::venue::{OrderReport, OrderStatus};
use arbytron_model::{Money, Side};
use arbytron_store::*;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(
    begin_bundle_is_atomic,
    add_intent_is_atomic_and_needs_a_bundle,
    order_results_are_idempotent_and_never_go_back,
    unknown_orders_and_intents,
    unresolved_orders_after_a_crash,
    terminal_bundles_keep_their_status,
);

/// A venue answer: `filled` contracts at $0.43 with a $0.01 fee each.
fn report(coid: &str, status: OrderStatus, filled: i64) -> OrderReport {
    OrderReport {
        client_order_id: coid.into(),
        venue_order_id: format!("v-{coid}"),
        status,
        filled: contracts(filled),
        notional: Money::from_micros(430_000 * filled),
        fee: Money::from_micros(10_000 * filled),
    }
}

async fn begin_bundle_is_atomic(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let first = [order("a-1", kalshi("K"), Side::Yes, "0.43"), order("a-2", poly("P"), Side::No, "0.52")];
    store.begin_bundle(&new_bundle(link), &first).await.unwrap();
    let before = [count(&store, "bundles").await, count(&store, "intents").await, count(&store, "orders").await];
    assert_eq!(before, [1, 1, 2]);

    // The second bundle's last order reuses a client order id: the database
    // refuses it after the bundle, the intent and the first order were
    // inserted in the same transaction. None of them may remain.
    let second = [order("b-1", kalshi("K"), Side::Yes, "0.43"), order("a-2", poly("P"), Side::No, "0.52")];
    let err = store.begin_bundle(&new_bundle(link), &second).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("a-2"), "names the order: {err}");
    assert_eq!([count(&store, "bundles").await, count(&store, "intents").await, count(&store, "orders").await], before);
    assert!(store.order("b-1").await.unwrap().is_none());
    assert_eq!(store.open_bundles().await.unwrap().len(), 1);

    // A link that does not exist: also nothing written.
    let err =
        store.begin_bundle(&new_bundle(link + 100), &[order("c-1", kalshi("K"), Side::Yes, "0.4")]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!([count(&store, "bundles").await, count(&store, "intents").await, count(&store, "orders").await], before);

    // Refused before any SQL: no orders, a repeated id within the call, a zero quantity.
    assert!(matches!(store.begin_bundle(&new_bundle(link), &[]).await, Err(StoreError::Invalid { .. })));
    let twice = [order("d-1", kalshi("K"), Side::Yes, "0.4"), order("d-1", poly("P"), Side::No, "0.5")];
    assert!(matches!(store.begin_bundle(&new_bundle(link), &twice).await, Err(StoreError::Invalid { .. })));
    let mut zero = order("e-1", kalshi("K"), Side::Yes, "0.4");
    zero.quantity = arbytron_model::Qty::ZERO;
    assert!(matches!(store.begin_bundle(&new_bundle(link), &[zero]).await, Err(StoreError::Invalid { .. })));
    assert_eq!(count(&store, "bundles").await, 1);
}

async fn add_intent_is_atomic_and_needs_a_bundle(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let (b, entry) =
        store.begin_bundle(&new_bundle(link), &[order("x-1", kalshi("K"), Side::Yes, "0.43")]).await.unwrap();
    let mut exit = order("x-2", kalshi("K"), Side::Yes, "0.60");
    exit.action = arbytron_model::venue::Action::Sell;
    let exit_intent = store.add_intent(b, IntentKind::Exit, &[exit.clone()]).await.unwrap();
    assert_ne!(exit_intent, entry);
    let intents = store.intents(b).await.unwrap();
    assert_eq!(
        intents.iter().map(|i| (i.kind, i.state)).collect::<Vec<_>>(),
        vec![(IntentKind::Entry, IntentState::Written), (IntentKind::Exit, IntentState::Written)]
    );
    assert_eq!(store.order("x-2").await.unwrap().unwrap().intent_id, exit_intent);

    // Duplicate id in a repair: no repair intent left behind.
    let err =
        store.add_intent(b, IntentKind::Repair, &[order("x-3", poly("P"), Side::No, "0.5"), exit]).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    assert_eq!(store.intents(b).await.unwrap().len(), 2);
    assert!(store.order("x-3").await.unwrap().is_none());

    let err = store
        .add_intent(b + 1000, IntentKind::Unwind, &[order("x-4", kalshi("K"), Side::Yes, "0.4")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(count(&store, "intents").await, 2);
}

async fn order_results_are_idempotent_and_never_go_back(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let (b, _) = store
        .begin_bundle(
            &new_bundle(link),
            &[order("r-1", kalshi("K"), Side::Yes, "0.43"), order("r-2", poly("P"), Side::No, "0.5")],
        )
        .await
        .unwrap();

    let resting = report("r-1", OrderStatus::Resting, 0);
    let partial = report("r-1", OrderStatus::PartiallyFilled { resting: true }, 4);
    let filled = report("r-1", OrderStatus::Filled, 10);
    assert_eq!(store.record_order_result("r-1", &resting).await.unwrap(), OrderUpdate::Applied);
    assert_eq!(store.order("r-1").await.unwrap().unwrap().state, OrderState::Acked);
    assert_eq!(store.record_order_result("r-1", &partial).await.unwrap(), OrderUpdate::Applied);
    assert_eq!(store.record_order_result("r-1", &filled).await.unwrap(), OrderUpdate::Applied);
    // The same report again: still applied, same row.
    assert_eq!(store.record_order_result("r-1", &filled).await.unwrap(), OrderUpdate::Applied);
    // Late, older answers are ignored.
    assert_eq!(
        store.record_order_result("r-1", &partial).await.unwrap(),
        OrderUpdate::Stale { state: OrderState::Filled, filled: contracts(10) }
    );
    assert_eq!(
        store.record_order_result("r-1", &resting).await.unwrap(),
        OrderUpdate::Stale { state: OrderState::Filled, filled: contracts(10) }
    );
    let o = store.order("r-1").await.unwrap().unwrap();
    assert_eq!(
        (o.state, o.filled, o.notional, o.fee),
        (OrderState::Filled, contracts(10), money("4.30"), money("0.10"))
    );
    assert_eq!(o.venue_order_id.as_deref(), Some("v-r-1"));

    // Cancelled with nothing filled outranks a late "resting" with nothing filled.
    store.record_order_result("r-2", &report("r-2", OrderStatus::Cancelled, 0)).await.unwrap();
    assert!(matches!(
        store.record_order_result("r-2", &report("r-2", OrderStatus::Resting, 0)).await.unwrap(),
        OrderUpdate::Stale { .. }
    ));
    assert_eq!(store.order("r-2").await.unwrap().unwrap().state, OrderState::Cancelled);

    // Unknown order, or a report for another order: errors that say which.
    let err = store.record_order_result("nope", &report("nope", OrderStatus::Filled, 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }) && err.to_string().contains("nope"), "{err}");
    assert!(matches!(store.record_order_result("r-2", &filled).await, Err(StoreError::Invalid { .. })));
    assert_eq!(store.orders_for_bundle(b).await.unwrap().len(), 2);
}

async fn unknown_orders_and_intents(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let (_, intent) = store
        .begin_bundle(
            &new_bundle(link),
            &[order("u-1", kalshi("K"), Side::Yes, "0.43"), order("u-2", poly("P"), Side::No, "0.5")],
        )
        .await
        .unwrap();
    assert!(store.mark_order_unknown("u-1", "timeout after 5 s").await.unwrap());
    let o = store.order("u-1").await.unwrap().unwrap();
    assert_eq!((o.state, o.reason.as_str()), (OrderState::Unknown, "timeout after 5 s"));
    // An answered order is not made unknown again.
    store.record_order_result("u-2", &report("u-2", OrderStatus::Filled, 10)).await.unwrap();
    assert!(!store.mark_order_unknown("u-2", "late timeout").await.unwrap());
    assert_eq!(store.order("u-2").await.unwrap().unwrap().state, OrderState::Filled);
    assert!(matches!(store.mark_order_unknown("nope", "x").await, Err(StoreError::NotFound { .. })));
    // The venue's answer resolves an unknown order.
    store.record_order_result("u-1", &report("u-1", OrderStatus::Filled, 10)).await.unwrap();
    let o = store.order("u-1").await.unwrap().unwrap();
    assert_eq!((o.state, o.reason.as_str()), (OrderState::Filled, ""));

    store.close_intent(intent, IntentState::Done).await.unwrap();
    store.close_intent(intent, IntentState::Done).await.unwrap(); // idempotent
    let err = store.close_intent(intent, IntentState::Failed).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err:?}");
    assert!(matches!(store.close_intent(intent, IntentState::Written).await, Err(StoreError::Invalid { .. })));
    assert!(matches!(store.close_intent(intent + 99, IntentState::Done).await, Err(StoreError::NotFound { .. })));
}

async fn unresolved_orders_after_a_crash(db: TestDb) {
    let link;
    let (b1, b2, i1);
    {
        let store = db.store().await;
        link = with_link(&store).await;
        // Bundle 1: written, one answer recorded, then the host died.
        (b1, i1) = store
            .begin_bundle(
                &new_bundle(link),
                &[order("c1-k", kalshi("K"), Side::Yes, "0.43"), order("c1-p", poly("P"), Side::No, "0.5")],
            )
            .await
            .unwrap();
        store.record_order_result("c1-k", &report("c1-k", OrderStatus::Filled, 10)).await.unwrap();
        // Bundle 2: open and fine, then an exit written and a send that timed out.
        (b2, _) = store.begin_bundle(&new_bundle(link), &[order("c2-k", kalshi("K2"), Side::No, "0.4")]).await.unwrap();
        store.record_order_result("c2-k", &report("c2-k", OrderStatus::Filled, 10)).await.unwrap();
        store
            .update_bundle(b2, &BundleUpdate { status: Some(BundleStatus::Open), ..Default::default() })
            .await
            .unwrap();
        store.add_intent(b2, IntentKind::Exit, &[order("c2-x", kalshi("K2"), Side::No, "0.6")]).await.unwrap();
        store.mark_order_unknown("c2-x", "connection reset").await.unwrap();
        // Crash: the process goes away without closing anything.
        std::mem::forget(store);
    }

    let store = db.store().await;
    let todo = store.unresolved_orders().await.unwrap();
    let got: Vec<_> =
        todo.iter().map(|u| (u.order.client_order_id.as_str(), u.order.state, u.intent.kind, u.bundle.id)).collect();
    assert_eq!(
        got,
        vec![("c1-p", OrderState::Intent, IntentKind::Entry, b1), ("c2-x", OrderState::Unknown, IntentKind::Exit, b2)]
    );
    assert_eq!(todo[0].intent.id, i1);
    assert_eq!(
        todo[0].order.request(),
        order("c1-p", poly("P"), Side::No, "0.5"),
        "enough to ask the venue and resend"
    );
    assert_eq!(todo[1].bundle.status, BundleStatus::Open);

    // Reconciling: the venue never saw c1-p; c2-x did fill.
    store
        .record_order_result(
            "c1-p",
            &OrderReport { venue_order_id: String::new(), ..report("c1-p", OrderStatus::Cancelled, 0) },
        )
        .await
        .unwrap();
    store.record_order_result("c2-x", &report("c2-x", OrderStatus::Filled, 10)).await.unwrap();
    assert!(store.unresolved_orders().await.unwrap().is_empty());
}

async fn terminal_bundles_keep_their_status(db: TestDb) {
    let store = db.store().await.with_clock(|| 1_800_000_000_000);
    let link = with_link(&store).await;
    let (b, _) = store.begin_bundle(&new_bundle(link), &[order("t-1", kalshi("K"), Side::Yes, "0.43")]).await.unwrap();
    for s in [BundleStatus::Open, BundleStatus::Closing, BundleStatus::Settled] {
        store.update_bundle(b, &BundleUpdate { status: Some(s), ..Default::default() }).await.unwrap();
    }
    let got = store.bundle(b).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.closed_at),
        (BundleStatus::Settled, Some(1_800_000_000_000)),
        "terminal status dates the bundle"
    );
    let err = store
        .update_bundle(b, &BundleUpdate { status: Some(BundleStatus::Open), ..Default::default() })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidTransition { from, to, .. } if from == "settled" && to == "open"),
        "{err:?}"
    );
    // Figures can still be corrected, and repeating the terminal status is fine.
    store
        .update_bundle(
            b,
            &BundleUpdate {
                status: Some(BundleStatus::Settled),
                realized_pnl: Some(money("0.42")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(store.bundle(b).await.unwrap().unwrap().realized_pnl, money("0.42"));
    assert!(store.open_bundles().await.unwrap().is_empty());
    assert!(matches!(store.update_bundle(b + 7, &BundleUpdate::default()).await, Err(StoreError::NotFound { .. })));
}
