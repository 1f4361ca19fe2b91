//! The pool reader: follows pools block by block into the model.
//!
//! Polling over plain HTTP, on purpose: it works with every RPC provider, keeps no server-side
//! state (filters expire and subscriptions drop on reconnect; a poll loop simply asks again),
//! and on Polygon's ~2 s blocks a poll every 100–250 ms adds little to the block time itself.
//! Per new head the reader asks one `eth_getLogs` for the FPMM events of *all* watched pools
//! over the blocks since the last head, and re-reads (balances + share supply, pinned to the
//! head's hash so both numbers come from the same state) only the pools that had events. The
//! pool rejects outcome tokens it did not move itself, so its balances change only with its
//! own events. A full re-read of every pool happens at start, after a reorg or a gap longer
//! than the log range, after an RPC failure, and every `resync_every_blocks` as a backstop.
//!
//! Each changed pool is published as one [`MarketUpdate::Pool`] per subscribed market of that
//! pool (all carrying the same [`PoolState`]); when the node cannot be read the markets are
//! marked [`FeedState::Stale`] until the next good snapshot, then `Fresh` again.
//!
//! Resolution: the same `eth_getLogs` asks the pools' conditional-tokens contracts for
//! `ConditionResolution`, and every full re-read checks the unresolved pools' payouts too (a
//! resolution before start, or in a gap). A resolved pool's markets get one
//! [`MarketUpdate::Status`] each with the result, which is what settles held bundles.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use arbytron_model::venue::{MarketFeed, UpdateSink, VenueError};
use arbytron_model::{
    FeeSchedule, FeedState, MarketInfo, MarketKey, MarketStatus, MarketUpdate, PoolState, Price, Qty, Venue, now_ms,
};
use serde::{Deserialize, Serialize};

use crate::bindings::{ConditionalTokens, FixedProductMarketMaker};
use crate::chain::{millis, read_provider};
use crate::market::{PoolMarket, format_address};
use crate::pool::PoolInfo;
use crate::{Error, metrics};

/// A pool to list and follow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    pub address: Address,
    /// The question, e.g. "Will it rain in Paris on 1 June?".
    pub title: String,
    /// Outcome names in outcome order (e.g. ["Yes", "No"]); indices are used when missing.
    #[serde(default)]
    pub outcome_names: Vec<String>,
    /// When trading is expected to stop (Unix ms).
    #[serde(default)]
    pub closes_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedConfig {
    pub rpc_url: url::Url,
    pub pools: Vec<PoolSpec>,
    #[serde(with = "millis")]
    pub poll_interval: Duration,
    /// Re-read every pool at least this often (blocks), whatever the logs say.
    pub resync_every_blocks: u64,
    /// The widest `eth_getLogs` block range to ask for; a longer gap means a full re-read.
    pub max_log_range: u64,
}

impl Default for FeedConfig {
    fn default() -> FeedConfig {
        FeedConfig {
            rpc_url: url::Url::parse("http://127.0.0.1:8545").expect("static url"),
            pools: Vec::new(),
            poll_interval: Duration::from_millis(200),
            resync_every_blocks: 300,
            max_log_range: 1_000,
        }
    }
}

/// The AMM market feed.
pub struct AmmFeed {
    cfg: FeedConfig,
    provider: DynProvider,
    infos: tokio::sync::Mutex<HashMap<Address, Arc<PoolInfo>>>,
}

impl std::fmt::Debug for AmmFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmmFeed").field("rpc_url", &self.cfg.rpc_url.as_str()).finish_non_exhaustive()
    }
}

/// The chain head as the reader last processed it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Head {
    number: u64,
    hash: B256,
    parent: B256,
    timestamp: u64,
}

/// Which pools to re-read at a head.
enum Reread {
    All(&'static str),
    Some(BTreeSet<Address>),
}

/// The reader loop's memory between polls.
struct Follow {
    pools: BTreeMap<Address, Arc<PoolInfo>>,
    /// Subscribed market keys per pool.
    markets: BTreeMap<Address, Vec<MarketKey>>,
    last: Option<Head>,
    last_resync: u64,
    published: HashMap<Address, PoolState>,
    /// Pools whose resolution has been published.
    resolved: BTreeSet<Address>,
    stale: bool,
}

impl AmmFeed {
    pub fn new(cfg: FeedConfig) -> Result<AmmFeed, Error> {
        let provider = read_provider(&cfg.rpc_url)?;
        Ok(AmmFeed { cfg, provider, infos: tokio::sync::Mutex::new(HashMap::new()) })
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub async fn pool_info(&self, pool: Address) -> Result<Arc<PoolInfo>, Error> {
        let mut infos = self.infos.lock().await;
        if let Some(i) = infos.get(&pool) {
            return Ok(i.clone());
        }
        let info = Arc::new(PoolInfo::load(&self.provider, pool).await?);
        infos.insert(pool, info.clone());
        Ok(info)
    }

    /// A pool's state at the latest block.
    pub async fn snapshot(&self, pool: Address) -> Result<PoolState, Error> {
        let info = self.pool_info(pool).await?;
        let head = self.provider.get_block_number().await.map_err(Error::rpc)?;
        info.state(&self.provider, BlockId::number(head), head).await
    }

    /// Listings for every outcome of every configured pool.
    pub async fn listings(&self) -> Result<Vec<MarketInfo>, Error> {
        let mut out = Vec::new();
        for spec in &self.cfg.pools {
            let info = self.pool_info(spec.address).await?;
            for i in 0..info.outcomes() {
                let market = PoolMarket::new(spec.address, i);
                out.push(MarketInfo {
                    key: market.key(),
                    event: format_address(spec.address),
                    title: spec.title.clone(),
                    outcome: spec.outcome_names.get(i).cloned().unwrap_or_else(|| format!("outcome {i}")),
                    rules: String::new(),
                    closes_at: spec.closes_at,
                    mutually_exclusive: true,
                    status: info.status(&self.provider, i).await?,
                    fee: FeeSchedule::Amm { fee_wad: info.fee_wad },
                    tick: Price::ZERO,
                    min_qty: Qty::from_micros(1),
                    refs: arbytron_model::VenueRefs {
                        pool: Some(format_address(spec.address)),
                        pool_outcome: u32::try_from(i).unwrap_or(u32::MAX),
                        pool_outcomes: u32::try_from(info.outcomes()).unwrap_or(u32::MAX),
                        ..Default::default()
                    },
                });
            }
        }
        Ok(out)
    }

    /// Follow the pools of `markets` into `sink` until the sink closes.
    pub async fn run(&self, markets: Vec<MarketKey>, sink: UpdateSink) -> Result<(), Error> {
        let mut by_pool: BTreeMap<Address, Vec<MarketKey>> = BTreeMap::new();
        for key in markets {
            let pm = PoolMarket::from_key(&key)?;
            by_pool.entry(pm.pool).or_default().push(key);
        }
        let mut follow = Follow {
            pools: BTreeMap::new(),
            markets: by_pool,
            last: None,
            last_resync: 0,
            published: HashMap::new(),
            resolved: BTreeSet::new(),
            stale: false,
        };
        let mut ticker = tokio::time::interval(self.cfg.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // How often a quiet, healthy reader vouches that its pools are current.
        let vouch_every = std::time::Duration::from_secs(5);
        let mut last_vouch = std::time::Instant::now();
        loop {
            ticker.tick().await;
            if sink.is_closed() {
                return Ok(());
            }
            match self.poll(&mut follow).await {
                Ok(updates) => {
                    for u in updates {
                        if sink.send(u).await.is_err() {
                            return Ok(());
                        }
                    }
                    // A successful poll after a failure was a full re-read that published
                    // every pool: the markets can be trusted again.
                    if follow.stale {
                        follow.stale = false;
                        if !self.mark(&follow, FeedState::Fresh, &sink).await {
                            return Ok(());
                        }
                        last_vouch = std::time::Instant::now();
                    } else if follow.last.is_some() && last_vouch.elapsed() >= vouch_every {
                        // The node answers and nothing changed: the pools as
                        // published are still current (consumers age them by
                        // the last vouch, not the last trade).
                        if !self.mark(&follow, FeedState::Fresh, &sink).await {
                            return Ok(());
                        }
                        last_vouch = std::time::Instant::now();
                    }
                }
                Err(e) => {
                    // Warn once per outage, not once per poll.
                    if follow.stale {
                        tracing::debug!(error = %e, "AMM pool reader still failing");
                    } else {
                        tracing::warn!(error = %e, "AMM pool reader poll failed; pools marked stale until re-read");
                    }
                    follow.last = None;
                    if !follow.stale {
                        follow.stale = true;
                        if !self.mark(&follow, FeedState::Stale, &sink).await {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    async fn mark(&self, follow: &Follow, state: FeedState, sink: &UpdateSink) -> bool {
        let ts = now_ms();
        for keys in follow.markets.values() {
            for market in keys {
                let u = MarketUpdate::Feed { market: market.clone(), state, venue_ts: ts };
                if sink.send(u).await.is_err() {
                    return false;
                }
            }
        }
        true
    }

    /// One poll: if there is a new head, the updates it brings.
    async fn poll(&self, follow: &mut Follow) -> Result<Vec<MarketUpdate>, Error> {
        if follow.pools.len() < follow.markets.len() {
            for &pool in follow.markets.keys() {
                if let std::collections::btree_map::Entry::Vacant(slot) = follow.pools.entry(pool) {
                    slot.insert(self.pool_info(pool).await?);
                }
            }
        }
        let head = self.head().await?;
        if follow.last.is_some_and(|l| l.hash == head.hash) {
            return Ok(Vec::new());
        }
        let mut resolving = BTreeSet::new();
        let reread = match follow.last {
            None => Reread::All("start"),
            Some(last) if head.number <= last.number => Reread::All("reorg"),
            Some(last) if head.number == last.number + 1 && head.parent != last.hash => Reread::All("reorg"),
            Some(last) if head.number - last.number > self.cfg.max_log_range => Reread::All("gap"),
            Some(_) if head.number >= follow.last_resync + self.cfg.resync_every_blocks => Reread::All("periodic"),
            Some(last) => {
                let (changed, resolutions) = self.pools_with_events(follow, last.number + 1, head.number).await?;
                resolving = resolutions;
                Reread::Some(changed)
            }
        };
        if matches!(reread, Reread::All(_)) {
            resolving = follow.pools.keys().copied().collect();
        }
        let targets: Vec<Arc<PoolInfo>> = match &reread {
            Reread::All(reason) => {
                metrics::READER_RESYNCS.with_label_values(&[reason]).inc();
                follow.last_resync = head.number;
                follow.pools.values().cloned().collect()
            }
            Reread::Some(set) => set.iter().filter_map(|a| follow.pools.get(a).cloned()).collect(),
        };
        let block = BlockId::hash(head.hash);
        let states =
            futures::future::try_join_all(targets.iter().map(|info| info.state(&self.provider, block, head.number)))
                .await?;
        // A node may answer a read pinned to the newest block with state that a
        // block being sealed already changed (anvil does under bursts). If the
        // head moved while we read, read again at the new head next poll.
        if self.head().await?.hash != head.hash {
            return Ok(Vec::new());
        }
        let mut updates = Vec::new();
        let venue_ts = i64::try_from(head.timestamp).unwrap_or(i64::MAX).saturating_mul(1000);
        for state in states {
            let Ok(address) = state.address.parse::<Address>() else { continue };
            let changed = follow.published.get(&address).is_none_or(|old| {
                old.balances != state.balances || old.total_shares != state.total_shares || old.fee_wad != state.fee_wad
            });
            // After a failure every market gets a snapshot, changed or not, to go Fresh on.
            if !changed && !follow.stale {
                continue;
            }
            let lag_ms = now_ms().saturating_sub(venue_ts).max(0);
            metrics::POOL_UPDATE_LAG.with_label_values(&[state.address.as_str()]).observe(lag_ms as f64 / 1000.0);
            for market in follow.markets.get(&address).into_iter().flatten() {
                updates.push(MarketUpdate::Pool { market: market.clone(), pool: state.clone(), venue_ts });
            }
            follow.published.insert(address, state);
        }
        for pool in resolving {
            if !follow.resolved.contains(&pool) {
                self.resolutions(follow, pool, venue_ts, &mut updates).await?;
            }
        }
        metrics::READER_HEAD.with_label_values::<&str>(&[]).set(i64::try_from(head.number).unwrap_or(i64::MAX));
        follow.last = Some(head);
        Ok(updates)
    }

    /// If `pool`'s condition has payouts, one status update per subscribed market.
    async fn resolutions(
        &self,
        follow: &mut Follow,
        pool: Address,
        venue_ts: i64,
        updates: &mut Vec<MarketUpdate>,
    ) -> Result<(), Error> {
        let Some(info) = follow.pools.get(&pool).cloned() else { return Ok(()) };
        let mut settled = Vec::new();
        for market in follow.markets.get(&pool).into_iter().flatten() {
            let outcome = PoolMarket::from_key(market)?.outcome;
            let status = info.status(&self.provider, outcome).await?;
            if matches!(status, MarketStatus::Settled { .. }) {
                settled.push(MarketUpdate::Status { market: market.clone(), status, venue_ts });
            }
        }
        if !settled.is_empty() {
            tracing::info!(pool = %format_address(pool), "AMM pool's condition resolved");
            updates.extend(settled);
            follow.resolved.insert(pool);
        }
        Ok(())
    }

    async fn head(&self) -> Result<Head, Error> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(Error::rpc)?
            .ok_or_else(|| Error::Malformed("node has no latest block".into()))?;
        let h = &block.header;
        Ok(Head { number: h.number, hash: h.hash, parent: h.parent_hash, timestamp: h.timestamp })
    }

    /// Pools with trading or funding events in `from..=to`, and pools whose condition
    /// was resolved there.
    async fn pools_with_events(
        &self,
        follow: &Follow,
        from: u64,
        to: u64,
    ) -> Result<(BTreeSet<Address>, BTreeSet<Address>), Error> {
        let ctfs: BTreeSet<Address> = follow.pools.values().map(|i| i.conditional_tokens).collect();
        let filter = Filter::new()
            .address(follow.pools.keys().copied().chain(ctfs.iter().copied()).collect::<Vec<_>>())
            .event_signature(vec![
                FixedProductMarketMaker::FPMMBuy::SIGNATURE_HASH,
                FixedProductMarketMaker::FPMMSell::SIGNATURE_HASH,
                FixedProductMarketMaker::FPMMFundingAdded::SIGNATURE_HASH,
                FixedProductMarketMaker::FPMMFundingRemoved::SIGNATURE_HASH,
                ConditionalTokens::ConditionResolution::SIGNATURE_HASH,
            ])
            .from_block(from)
            .to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(Error::rpc)?;
        let mut changed = BTreeSet::new();
        let mut resolved = BTreeSet::new();
        for log in logs {
            if log.topic0() == Some(&ConditionalTokens::ConditionResolution::SIGNATURE_HASH) {
                let condition = log.topics().get(1).copied();
                resolved.extend(
                    follow
                        .pools
                        .values()
                        .filter(|i| i.conditional_tokens == log.address() && Some(i.condition_id) == condition)
                        .map(|i| i.address),
                );
                continue;
            }
            let kind = match log.topic0() {
                Some(t) if *t == FixedProductMarketMaker::FPMMBuy::SIGNATURE_HASH => "buy",
                Some(t) if *t == FixedProductMarketMaker::FPMMSell::SIGNATURE_HASH => "sell",
                Some(t) if *t == FixedProductMarketMaker::FPMMFundingAdded::SIGNATURE_HASH => "funding_added",
                Some(_) => "funding_removed",
                None => continue,
            };
            let pool = log.address();
            if follow.pools.contains_key(&pool) {
                metrics::POOL_EVENTS.with_label_values(&[format_address(pool).as_str(), kind]).inc();
                changed.insert(pool);
            }
        }
        Ok((changed, resolved))
    }
}

#[async_trait::async_trait]
impl MarketFeed for AmmFeed {
    fn venue(&self) -> Venue {
        Venue::PolymarketAmm
    }

    async fn discover(&self) -> Result<Vec<MarketInfo>, VenueError> {
        Ok(self.listings().await?)
    }

    async fn stream(&self, markets: Vec<MarketKey>, sink: UpdateSink) -> Result<(), VenueError> {
        Ok(self.run(markets, sink).await?)
    }
}
