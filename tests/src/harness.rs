//! The trading service over the simulators, as the end-to-end tests drive it:
//! the service with its own PostgreSQL database, the simulated venues, and the
//! accounts' starting balances to check the books against.

use std::time::Duration;

use arbytron::service::{self, Role, Service};
use arbytron::world::KALSHI_DEMO_KEY_ID;
use arbytron_sdk::{Money, Price};
use arbytron_sim::polymarket::demo_account;
use arbytron_store::{BundleRecord, OpportunityFilter, OpportunityResult, Store};

use crate::{TestDb, init_logs, settings_with, wait_until};

pub const MIN: Duration = Duration::from_secs(60);

pub struct Harness {
    pub svc: Service,
    pub store: Store,
    pub db: Option<TestDb>,
    pub dir: tempfile::TempDir,
    pub k0: Money,
    pub p0: Money,
    pub c0: Option<u128>,
}

/// The host's AMM account, for reading its balances.
pub async fn amm_account(a: &arbytron::world::AmmWorld) -> arbytron_amm::AmmTrader {
    let chain =
        arbytron_amm::Chain::connect(a.anvil.url(), &a.trader_key, arbytron_amm::TxConfig::default()).await.unwrap();
    arbytron_amm::AmmTrader::new(std::sync::Arc::new(chain), arbytron_amm::ExecConfig::default())
}

impl Harness {
    pub async fn start(extra: &str) -> Harness {
        Harness::start_with(extra, false).await
    }

    /// With the local chain and the demo's AMM pool too.
    pub async fn start_with(extra: &str, amm: bool) -> Harness {
        let db = TestDb::create().await;
        let url = db.url.clone();
        Harness::launch(extra, amm, &url, Some(db)).await
    }

    /// On a store of the test's own (a private PostgreSQL server, say).
    pub async fn start_on(extra: &str, store_url: &str) -> Harness {
        Harness::launch(extra, false, store_url, None).await
    }

    async fn launch(extra: &str, amm: bool, store_url: &str, db: Option<TestDb>) -> Harness {
        init_logs();
        let dir = tempfile::tempdir().unwrap();
        let s = settings_with(dir.path(), store_url, extra, amm);
        let svc = service::start(&s, Role::All).await.expect("service starts");
        let store = Store::connect(store_url).await.unwrap();
        let w = svc.world.as_ref().unwrap();
        let k0 = w.kalshi.as_ref().unwrap().balance(KALSHI_DEMO_KEY_ID);
        let p0 = w.polymarket.as_ref().unwrap().balance(&demo_account().api_key).unwrap();
        // The host's collateral on chain, before it can trade.
        let c0 = match &w.amm {
            Some(a) => Some(amm_account(a).await.collateral_balance(a.deployment.pool).await.unwrap()),
            None => None,
        };
        // Books are live once the engine has seen updates from both venues.
        let addr = svc.admin_addr;
        wait_until("books from both venues", MIN, || async move {
            status(addr).await["trading"]["updates"].as_u64().unwrap_or(0) >= 9
        })
        .await;
        Harness { svc, store, db, dir, k0, p0, c0 }
    }

    pub fn kalshi(&self) -> &arbytron_sim::kalshi::Handle {
        self.svc.world.as_ref().unwrap().kalshi.as_ref().unwrap()
    }

    pub fn poly(&self) -> &arbytron_sim::polymarket::Handle {
        self.svc.world.as_ref().unwrap().polymarket.as_ref().unwrap()
    }

    /// Change of both simulated accounts' cash since the start.
    pub fn balance_change(&self) -> Money {
        (self.kalshi().balance(KALSHI_DEMO_KEY_ID) - self.k0)
            + (self.poly().balance(&demo_account().api_key).unwrap() - self.p0)
    }

    pub async fn bundles(&self) -> Vec<BundleRecord> {
        let taken = self
            .store
            .opportunities(&OpportunityFilter {
                result: Some(OpportunityResult::Taken),
                ..OpportunityFilter::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        for o in taken {
            if let Some(id) = o.record.bundle_id
                && let Some(b) = self.store.bundle(id).await.unwrap()
            {
                out.push(b);
            }
        }
        out
    }

    pub async fn wait_bundle(&self, what: &str, pred: impl Fn(&BundleRecord) -> bool) -> BundleRecord {
        let start = std::time::Instant::now();
        loop {
            if let Some(b) = self.bundles().await.into_iter().find(|b| pred(b)) {
                return b;
            }
            assert!(start.elapsed() < MIN, "timed out waiting for a bundle: {what}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn stop(self) {
        self.svc.stop().await;
    }
}

pub async fn status(addr: std::net::SocketAddr) -> serde_json::Value {
    let r = arbytron_integration::http::client(&Default::default())
        .unwrap()
        .get(format!("http://{addr}/status"))
        .send()
        .await;
    match r {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

pub fn p(s: &str) -> Price {
    Price::parse(s).unwrap()
}

impl Harness {
    /// What every fault scenario must leave behind, checked against the
    /// venues themselves:
    /// - no fill lost: each order the venues show has the same fill in our
    ///   store (and no order of ours is left unresolved);
    /// - nothing executed twice: what each venue holds per market is exactly
    ///   what our books hold (a duplicate would show up as extra holdings);
    /// - no unhedged exposure: no bundle is left repairing, and every open
    ///   bundle holds the same quantity on each leg.
    pub async fn assert_invariants(&self) {
        use arbytron_sdk::{Qty, Side, Venue};
        use arbytron_store::BundleStatus;
        // Polymarket confirms trades a moment after they match.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(self.store.unresolved_orders().await.unwrap().is_empty(), "orders left unresolved");
        for o in self.kalshi().orders(KALSHI_DEMO_KEY_ID) {
            let Some(cid) = o["client_order_id"].as_str().filter(|c| !c.is_empty()) else { continue };
            let filled = Qty::parse(o["fill_count_fp"].as_str().unwrap_or("0")).unwrap();
            let ours =
                self.store.order(cid).await.unwrap().unwrap_or_else(|| panic!("Kalshi order {cid} not in our store"));
            assert_eq!(ours.filled, filled, "Kalshi order {cid}: our fill vs the venue's");
        }
        for o in self.poly().orders(&demo_account().api_key) {
            if o.matched.is_zero() {
                continue;
            }
            let ours = self.store.order_by_venue_id(&o.id).await.unwrap();
            let ours = ours.unwrap_or_else(|| panic!("Polymarket order {} not in our store", o.id));
            assert_eq!(ours.filled, o.matched, "Polymarket order {}: our fill vs the venue's", o.id);
        }
        // Holdings: ours (open bundles' legs) against the venues'.
        let mut ours: std::collections::BTreeMap<(Venue, String), Qty> = Default::default();
        for p in self.store.all_positions().await.unwrap() {
            let signed = match (p.market.venue, p.side) {
                (Venue::Kalshi, Side::No) => -p.quantity,
                _ => p.quantity,
            };
            *ours.entry((p.market.venue, p.market.symbol.clone())).or_default() += signed;
        }
        for (ticker, q) in self.kalshi().positions(KALSHI_DEMO_KEY_ID) {
            let mine = ours.get(&(Venue::Kalshi, ticker.clone())).copied().unwrap_or_default();
            assert_eq!(mine, q, "Kalshi {ticker}: we hold {mine}, the venue {q}");
        }
        let theirs: Qty =
            self.poly().positions(&demo_account().api_key).values().copied().filter(|q| q.is_positive()).sum();
        let mine: Qty = ours
            .iter()
            .filter(|((v, _), _)| *v == Venue::PolymarketClob)
            .map(|(_, q)| *q)
            .filter(|q| q.is_positive())
            .sum();
        assert_eq!(mine, theirs, "Polymarket: we hold {mine} shares, the venue {theirs}");
        for b in self.bundles().await {
            assert_ne!(b.status, BundleStatus::Repairing, "bundle {} left unhedged: {}", b.id, b.note);
            if b.status == BundleStatus::Open {
                assert!(b.legs.iter().all(|l| l.quantity == b.quantity), "bundle {} not hedged: {b:?}", b.id);
            }
        }
    }
}
