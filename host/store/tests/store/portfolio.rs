//! Daily realized PnL and positions summed for reconciliation.

use arbytron_model::{Money, Qty, Side};
use arbytron_store::*;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(daily_realized_pnl, positions_sum_by_market_and_side, sums_beyond_64_bits_are_errors);

const DAY: i64 = 86_400_000;
const TODAY: i64 = 1_782_864_000_000; // 2026-07-01T00:00:00Z

async fn bundle_with(store: &Store, link: i64, coid: &str, update: BundleUpdate) -> i64 {
    let (b, _) = store.begin_bundle(&new_bundle(link), &[order(coid, kalshi("K"), Side::Yes, "0.43")]).await.unwrap();
    store.update_bundle(b, &update).await.unwrap();
    b
}

async fn daily_realized_pnl(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    assert_eq!(store.realized_pnl_since(TODAY).await.unwrap(), Money::ZERO, "no bundles, no PnL");
    let closed = |pnl: &str, at: i64| BundleUpdate {
        status: Some(BundleStatus::Closed),
        realized_pnl: Some(money(pnl)),
        closed_at: Some(at),
        ..Default::default()
    };
    // Yesterday's profit does not count today.
    bundle_with(&store, link, "y-1", closed("5.000001", TODAY - 1)).await;
    // Today's: an early exit, a settlement, a failed entry's unwind loss.
    bundle_with(&store, link, "d-1", closed("1.250001", TODAY)).await;
    bundle_with(
        &store,
        link,
        "d-2",
        BundleUpdate {
            status: Some(BundleStatus::Settled),
            realized_pnl: Some(money("0.75")),
            closed_at: Some(TODAY + DAY - 1),
            ..Default::default()
        },
    )
    .await;
    bundle_with(
        &store,
        link,
        "d-3",
        BundleUpdate {
            status: Some(BundleStatus::Failed),
            realized_pnl: Some(money("-3.000003")),
            closed_at: Some(TODAY + 5),
            ..Default::default()
        },
    )
    .await;
    // A live bundle that already lost on a repair counts; one that realized nothing adds nothing.
    bundle_with(
        &store,
        link,
        "d-4",
        BundleUpdate { status: Some(BundleStatus::Open), realized_pnl: Some(money("-0.100001")), ..Default::default() },
    )
    .await;
    bundle_with(&store, link, "d-5", BundleUpdate { status: Some(BundleStatus::Open), ..Default::default() }).await;

    // 1.250001 + 0.75 - 3.000003 - 0.100001, to the micro-dollar.
    assert_eq!(store.realized_pnl_since(TODAY).await.unwrap(), money("-1.100003"));
    assert_eq!(store.realized_pnl_since(TODAY - DAY).await.unwrap(), money("3.899998"));
    // Tomorrow only the live bundle's realized loss remains.
    assert_eq!(store.realized_pnl_since(TODAY + DAY).await.unwrap(), money("-0.100001"));
}

async fn positions_sum_by_market_and_side(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let b1 =
        bundle_with(&store, link, "p-1", BundleUpdate { status: Some(BundleStatus::Open), ..Default::default() }).await;
    let b2 =
        bundle_with(&store, link, "p-2", BundleUpdate { status: Some(BundleStatus::Open), ..Default::default() }).await;
    let leg = |b, market, side, q: i64, cost: &str| PositionRecord {
        bundle_id: b,
        market,
        side,
        quantity: Qty::from_contracts(q),
        cost: money(cost),
        fees: money("0.000001"),
    };
    for p in [
        leg(b1, kalshi("K"), Side::Yes, 10, "4.30"),
        leg(b1, poly("P"), Side::No, 10, "5.20"),
        leg(b2, kalshi("K"), Side::Yes, 7, "3.01"),
        leg(b2, poly("P"), Side::Yes, 3, "1.50"),
        // Sold out: zero legs drop out of the totals.
        leg(b2, kalshi("Z"), Side::No, 0, "0"),
    ] {
        store.set_position(&p).await.unwrap();
    }
    let totals = store.all_positions().await.unwrap();
    let got: Vec<_> = totals.iter().map(|t| (t.market.to_string(), t.side, t.quantity, t.cost, t.fees)).collect();
    assert_eq!(
        got,
        vec![
            ("kalshi:K".to_string(), Side::Yes, Qty::from_contracts(17), money("7.31"), money("0.000002")),
            ("polymarket-clob:P".to_string(), Side::No, Qty::from_contracts(10), money("5.20"), money("0.000001")),
            ("polymarket-clob:P".to_string(), Side::Yes, Qty::from_contracts(3), money("1.50"), money("0.000001")),
        ]
    );
    // Open bundles carry their legs.
    let open = store.open_bundles().await.unwrap();
    assert_eq!(open.iter().map(|b| (b.id, b.legs.len())).collect::<Vec<_>>(), vec![(b1, 2), (b2, 3)]);
}

async fn sums_beyond_64_bits_are_errors(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let b1 = bundle_with(&store, link, "o-1", BundleUpdate::default()).await;
    let b2 = bundle_with(&store, link, "o-2", BundleUpdate::default()).await;
    for b in [b1, b2] {
        store
            .set_position(&PositionRecord {
                bundle_id: b,
                market: kalshi("K"),
                side: Side::Yes,
                quantity: Qty::MAX,
                cost: Money::MAX,
                fees: Money::ZERO,
            })
            .await
            .unwrap();
    }
    // Never a wrapped or rounded total.
    let err = store.all_positions().await.unwrap_err();
    assert!(matches!(err, StoreError::Query { op: "sum positions", .. }), "{err:?}");
    assert!(!err.is_transient());
}
