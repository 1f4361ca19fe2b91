//! Several writers at once lose nothing.

use arbytron_model::venue::{OrderReport, OrderStatus};
use arbytron_model::{Money, Qty, Side};
use arbytron_store::*;

use crate::common::*;
use crate::on_both_backends;

on_both_backends!(concurrent_writers_lose_no_updates);

const TASKS: usize = 8;
const BUNDLES_PER_TASK: usize = 12;

async fn concurrent_writers_lose_no_updates(db: TestDb) {
    let store = db.store().await;
    let link = with_link(&store).await;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for n in 0..BUNDLES_PER_TASK {
                let legs = [
                    order(&format!("{t}-{n}-k"), kalshi("K"), Side::Yes, "0.43"),
                    order(&format!("{t}-{n}-p"), poly("P"), Side::No, "0.52"),
                ];
                let (b, i) = store.begin_bundle(&new_bundle(link), &legs).await.unwrap();
                for leg in &legs {
                    let report = OrderReport {
                        client_order_id: leg.client_order_id.clone(),
                        venue_order_id: format!("v-{}", leg.client_order_id),
                        status: OrderStatus::Filled,
                        filled: leg.quantity,
                        notional: Money::from_micros(4_300_000),
                        fee: Money::from_micros(70_000),
                    };
                    assert_eq!(
                        store.record_order_result(&leg.client_order_id, &report).await.unwrap(),
                        OrderUpdate::Applied
                    );
                    store
                        .set_position(&PositionRecord {
                            bundle_id: b,
                            market: leg.market.clone(),
                            side: leg.side,
                            quantity: leg.quantity,
                            cost: Money::from_micros(4_300_000),
                            fees: Money::from_micros(70_000),
                        })
                        .await
                        .unwrap();
                }
                store.close_intent(i, IntentState::Done).await.unwrap();
                store
                    .update_bundle(b, &BundleUpdate { status: Some(BundleStatus::Open), ..Default::default() })
                    .await
                    .unwrap();
                written.push(b);
            }
            written
        }));
    }
    let mut bundles = Vec::new();
    for t in tasks {
        bundles.extend(t.await.unwrap());
    }
    let n = (TASKS * BUNDLES_PER_TASK) as i64;
    bundles.sort_unstable();
    bundles.dedup();
    assert_eq!(bundles.len() as i64, n, "every bundle got its own id");
    assert_eq!(count(&store, "bundles").await, n);
    assert_eq!(count(&store, "intents").await, n);
    assert_eq!(count(&store, "orders").await, 2 * n);
    assert_eq!(count(&store, "positions").await, 2 * n);
    assert!(store.unresolved_orders().await.unwrap().is_empty(), "every result was recorded");
    let open = store.open_bundles().await.unwrap();
    assert_eq!(open.len() as i64, n);
    assert!(open.iter().all(|b| b.legs.len() == 2));
    let totals = store.all_positions().await.unwrap();
    assert_eq!(
        totals.iter().map(|t| (t.side, t.quantity)).collect::<Vec<_>>(),
        vec![(Side::Yes, Qty::from_micros(10_000_000 * n)), (Side::No, Qty::from_micros(10_000_000 * n))]
    );
}
