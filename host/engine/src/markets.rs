//! The current state of every known market: metadata, book or pool, freshness.
//!
//! Markets get dense [`MarketId`]s on first sight so the hot path indexes
//! vectors instead of hashing symbols more than once per update.

use std::collections::HashMap;

use arbytron_model::{Book, FeedState, MarketInfo, MarketKey, MarketStatus, MarketUpdate, PoolState, TimestampMs};
use arbytron_sdk::{FeeSchedule, MarketId, Price, Qty, Side, Venue};

/// One market as the engine sees it now.
#[derive(Clone, Debug)]
pub struct MarketState {
    pub key: MarketKey,
    /// `None` until a listing arrives; a book without a listing is kept but never traded.
    pub info: Option<MarketInfo>,
    pub book: Book,
    /// When the current book (or pool) arrived here, local ms.
    pub updated_at: TimestampMs,
    /// The venue's own timestamp of it.
    pub venue_ts: TimestampMs,
    pub feed: FeedState,
    pub has_book: bool,
}

impl MarketState {
    fn new(key: MarketKey) -> MarketState {
        MarketState {
            key,
            info: None,
            book: Book::default(),
            updated_at: 0,
            venue_ts: 0,
            feed: FeedState::Stale,
            has_book: false,
        }
    }

    pub fn status(&self) -> MarketStatus {
        self.info.as_ref().map(|i| i.status).unwrap_or(MarketStatus::Unopened)
    }

    pub fn fee(&self) -> FeeSchedule {
        self.info.as_ref().map(|i| i.fee).unwrap_or_default()
    }

    pub fn tick(&self) -> Price {
        self.info.as_ref().map(|i| i.tick).unwrap_or(Price::ZERO)
    }

    pub fn min_qty(&self) -> Qty {
        self.info.as_ref().map(|i| i.min_qty).unwrap_or(Qty::ZERO)
    }

    pub fn closes_at(&self) -> TimestampMs {
        self.info.as_ref().map(|i| i.closes_at).unwrap_or(0)
    }

    pub fn event(&self) -> &str {
        self.info.as_ref().map(|i| i.event.as_str()).unwrap_or("")
    }

    /// The pool this market trades in and which outcome token its `side` buys.
    pub fn pool_outcome(&self, side: Side) -> Option<(&str, usize)> {
        let refs = &self.info.as_ref()?.refs;
        let pool = refs.pool.as_deref()?;
        let yes = refs.pool_outcome as usize;
        match side {
            Side::Yes => Some((pool, yes)),
            // Only a binary pool has a single token for "not this outcome".
            Side::No if refs.pool_outcomes == 2 => Some((pool, 1 - yes.min(1))),
            Side::No => None,
        }
    }
}

/// What changed with an update, so the engine knows what to re-evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Touched {
    /// Prices of these markets changed (a pool touches every market on it).
    Prices(Vec<MarketId>),
    /// Metadata or status changed.
    Info(MarketId),
    Nothing,
}

/// Every market, by key and by dense id, plus pool states by address.
#[derive(Default)]
pub struct Markets {
    by_key: HashMap<MarketKey, MarketId>,
    states: Vec<MarketState>,
    pools: HashMap<String, PoolState>,
    pool_markets: HashMap<String, Vec<MarketId>>,
}

impl Markets {
    pub fn new() -> Markets {
        Markets::default()
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The id of a market, assigning one on first sight.
    pub fn intern(&mut self, key: &MarketKey) -> MarketId {
        if let Some(&id) = self.by_key.get(key) {
            return id;
        }
        let id = self.states.len() as MarketId;
        self.states.push(MarketState::new(key.clone()));
        self.by_key.insert(key.clone(), id);
        id
    }

    pub fn id(&self, key: &MarketKey) -> Option<MarketId> {
        self.by_key.get(key).copied()
    }

    pub fn get(&self, id: MarketId) -> Option<&MarketState> {
        self.states.get(id as usize)
    }

    pub fn iter(&self) -> impl Iterator<Item = (MarketId, &MarketState)> {
        self.states.iter().enumerate().map(|(i, s)| (i as MarketId, s))
    }

    pub fn pool(&self, address: &str) -> Option<&PoolState> {
        self.pools.get(address)
    }

    /// Apply one update; `now` is the local receive time.
    pub fn apply(&mut self, update: &MarketUpdate, now: TimestampMs) -> Touched {
        match update {
            MarketUpdate::Listing(info) => {
                let id = self.intern(&info.key);
                if let Some(pool) = info.refs.pool.as_ref() {
                    let list = self.pool_markets.entry(pool.clone()).or_default();
                    if !list.contains(&id) {
                        list.push(id);
                    }
                }
                self.states[id as usize].info = Some(info.clone());
                Touched::Info(id)
            }
            MarketUpdate::Book { market, book, venue_ts } => {
                let id = self.intern(market);
                let s = &mut self.states[id as usize];
                // Reuse the level vectors: no allocation once warmed up.
                s.book.yes_bids.clone_from(&book.yes_bids);
                s.book.yes_asks.clone_from(&book.yes_asks);
                s.updated_at = now;
                s.venue_ts = *venue_ts;
                s.feed = FeedState::Fresh;
                s.has_book = true;
                Touched::Prices(vec![id])
            }
            MarketUpdate::Pool { market, pool, venue_ts } => {
                let id = self.intern(market);
                let address = pool.address.clone();
                self.pools.insert(address.clone(), pool.clone());
                let mut touched = self.pool_markets.get(&address).cloned().unwrap_or_default();
                if !touched.contains(&id) {
                    touched.push(id);
                }
                for &m in &touched {
                    let s = &mut self.states[m as usize];
                    s.updated_at = now;
                    s.venue_ts = *venue_ts;
                    s.feed = FeedState::Fresh;
                    s.has_book = true;
                }
                Touched::Prices(touched)
            }
            MarketUpdate::Status { market, status, .. } => {
                let id = self.intern(market);
                if let Some(info) = self.states[id as usize].info.as_mut() {
                    info.status = *status;
                }
                Touched::Info(id)
            }
            MarketUpdate::Feed { market, state, .. } => {
                let Some(id) = self.id(market) else { return Touched::Nothing };
                let mut ids = vec![id];
                // A stale pool market makes every market of that pool stale.
                if let Some(pool) = self.states[id as usize].info.as_ref().and_then(|i| i.refs.pool.clone()) {
                    ids = self.pool_markets.get(&pool).cloned().unwrap_or(ids);
                }
                for &m in &ids {
                    let s = &mut self.states[m as usize];
                    s.feed = *state;
                    // A feed vouching for a book it keeps in sync makes it
                    // current again, however long its market has been quiet.
                    if *state == FeedState::Fresh && s.has_book {
                        s.updated_at = now;
                    }
                }
                // A book that became tradable again is worth pricing at once.
                if *state == FeedState::Fresh { Touched::Prices(ids) } else { Touched::Info(id) }
            }
        }
    }

    /// Whether a market may be traded on now: listed, open, fresh feed, and
    /// its data no older than `max_age_ms`.
    pub fn tradable(&self, id: MarketId, now: TimestampMs, max_age_ms: i64) -> Result<(), &'static str> {
        let s = self.get(id).ok_or("unknown market")?;
        if s.info.is_none() {
            return Err("unlisted market");
        }
        if !s.status().is_tradable() {
            return Err("market not open");
        }
        if s.feed != FeedState::Fresh || !s.has_book {
            return Err("stale book");
        }
        if now - s.updated_at > max_age_ms {
            return Err("stale book");
        }
        Ok(())
    }

    /// Venue of a market (from its key, known even before a listing).
    pub fn venue(&self, id: MarketId) -> Option<Venue> {
        self.get(id).map(|s| s.key.venue)
    }
}
