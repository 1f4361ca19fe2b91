//! Kalshi Trade API v2 connector: REST, WebSocket order books, V2 order entry.
//!
//! Built against the 2026 API: dollar-string prices, fixed-point counts, and
//! V2 order entry on a single YES book (`bid` buys YES, `ask` sells YES, which
//! is buying NO at `1 - price`). [`Kalshi`] implements the model's
//! [`MarketFeed`] and [`ExecutionVenue`].
//!
//! Layout: [`auth`] signs, [`ratelimit`] paces, [`rest`] talks HTTP, [`wire`]
//! holds the JSON shapes, [`decode`] parses WebSocket frames, [`book`] keeps
//! a market's ladders, [`ws`] runs the market-data stream, [`fills`] the
//! private fill stream, [`feed`] discovery, [`exec`] order translation.

pub mod auth;
pub mod book;
pub mod config;
pub mod convert;
pub mod decode;
pub mod exec;
pub mod feed;
mod fills;
mod intents;
pub mod metrics;
pub mod ratelimit;
pub mod rest;
pub mod wire;
pub mod ws;

use std::collections::HashMap;
use std::sync::Arc;

use arbytron_model::venue::{
    ExecutionVenue, FillEvent, MarketFeed, OpenOrder, OrderReport, OrderRequest, OrderStatus, UpdateSink, VenueError,
    VenuePosition,
};
use arbytron_model::{Book, MarketInfo, MarketKey, Money, Price, Qty, Venue};
use parking_lot::RwLock;
use tokio::sync::mpsc;

pub use auth::Signer;
pub use config::{Backoff, Discovery, Environment, KalshiConfig, SecretSource};
pub use ratelimit::{BucketLimit, RateLimits};
pub use rest::RestClient;

use crate::convert::BookSide;
use crate::intents::Intents;
use crate::rest::malformed;

/// The Kalshi venue: discovery, books, orders, positions, balance and fills.
pub struct Kalshi {
    cfg: Arc<KalshiConfig>,
    signer: Arc<Signer>,
    rest: RestClient,
    ranges: RwLock<HashMap<String, Vec<wire::PriceRange>>>,
    intents: Arc<Intents>,
}

impl std::fmt::Debug for Kalshi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kalshi").field("environment", &self.cfg.environment).field("key_id", &self.cfg.key_id).finish()
    }
}

impl Kalshi {
    /// Load the key and build the clients; no network until first use.
    pub fn new(cfg: KalshiConfig) -> Result<Kalshi, VenueError> {
        let signer = Arc::new(
            Signer::load(cfg.key_id.clone(), &cfg.private_key)
                .map_err(|e| VenueError::Auth { venue: Venue::Kalshi, message: e.to_string() })?,
        );
        let rest = RestClient::new(&cfg, signer.clone())?;
        Ok(Kalshi {
            cfg: Arc::new(cfg),
            signer,
            rest,
            ranges: RwLock::new(HashMap::new()),
            intents: Arc::new(Intents::default()),
        })
    }

    pub fn config(&self) -> &KalshiConfig {
        &self.cfg
    }

    pub fn rest(&self) -> &RestClient {
        &self.rest
    }

    /// The REST order book in the model's YES terms (all levels with `depth` 0).
    /// Accepts the current `orderbook_fp` shape and the legacy integer-cent one.
    pub async fn orderbook(&self, ticker: &str, depth: u32) -> Result<Book, VenueError> {
        let r = self.rest.orderbook(ticker, depth).await?;
        let (yes, no) = if let Some(fp) = &r.orderbook_fp {
            (fp.yes_dollars.as_deref().unwrap_or_default(), fp.no_dollars.as_deref().unwrap_or_default())
        } else if let Some(legacy) = &r.orderbook {
            (legacy.yes.as_deref().unwrap_or_default(), legacy.no.as_deref().unwrap_or_default())
        } else {
            return Err(malformed("orderbook response has neither orderbook_fp nor orderbook"));
        };
        let yes = convert::parse_levels(yes).map_err(malformed)?;
        let no = convert::parse_levels(no).map_err(malformed)?;
        let local = book::LocalBook::from_snapshot(&yes, &no).map_err(|e| malformed(e.to_string()))?;
        let levels = if depth == 0 { usize::MAX } else { depth as usize };
        local.to_book(levels).map_err(|e| malformed(e.to_string()))
    }

    fn v2(&self, order: &OrderRequest) -> Result<wire::CreateOrderV2, VenueError> {
        let ranges = self.ranges.read();
        exec::v2_order(order, ranges.get(&order.market.symbol).map(Vec::as_slice), &self.cfg.self_trade_prevention)
    }

    async fn finish_report(
        &self,
        order: &OrderRequest,
        resp: &wire::CreateOrderResponse,
    ) -> Result<OrderReport, VenueError> {
        self.intents.record_order(&resp.order_id, (order.side, order.action));
        let mut report = exec::report_from_create(order, resp)?;
        if report.filled.is_positive() && self.cfg.exact_fill_totals {
            // The averages can be inexact; the order object carries exact totals.
            match self
                .rest
                .order(&resp.order_id)
                .await
                .and_then(|o| exec::report_from_order(order.action, &order.client_order_id, &o))
            {
                Ok(exact) if exact.filled == report.filled => {
                    report.notional = exact.notional;
                    report.fee = exact.fee;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(order_id = resp.order_id, error = %e, "exact fill totals unavailable; using averages")
                }
            }
        }
        let outcome = match report.status {
            OrderStatus::Filled => "filled",
            OrderStatus::PartiallyFilled { .. } => "partial",
            OrderStatus::Resting => "resting",
            OrderStatus::Cancelled => "unfilled",
            OrderStatus::Rejected { .. } => "rejected",
        };
        metrics::ORDERS.with_label_values(&["kalshi", outcome]).inc();
        Ok(report)
    }

    fn rejected(order: &OrderRequest, code: &str, message: &str) -> OrderReport {
        metrics::ORDERS.with_label_values(&["kalshi", "rejected"]).inc();
        OrderReport {
            client_order_id: order.client_order_id.clone(),
            venue_order_id: String::new(),
            status: OrderStatus::Rejected { reason: format!("{code}: {message}") },
            filled: Qty::ZERO,
            notional: Money::ZERO,
            fee: Money::ZERO,
        }
    }

    /// Send several orders in batch requests (billed per order; a batch must
    /// fit the write bucket, so larger sets go out in several). Each order gets
    /// its own result, in order.
    pub async fn place_batch(
        &self,
        orders: &[OrderRequest],
    ) -> Result<Vec<Result<OrderReport, VenueError>>, VenueError> {
        let bodies = orders.iter().map(|o| self.v2(o)).collect::<Result<Vec<_>, _>>()?;
        for o in orders {
            self.intents.record_client(&o.client_order_id, (o.side, o.action));
        }
        let per_batch = (self.cfg.limits.write.capacity / ratelimit::COST_DEFAULT).max(1) as usize;
        let mut out = Vec::with_capacity(orders.len());
        for (orders, bodies) in orders.chunks(per_batch).zip(bodies.chunks(per_batch)) {
            let results = self.rest.batch_create(bodies).await?;
            for (order, r) in orders.iter().zip(results) {
                out.push(match r {
                    Ok(resp) => self.finish_report(order, &resp).await,
                    Err(VenueError::Rejected { code, message, .. }) => Ok(Kalshi::rejected(order, &code, &message)),
                    Err(e) => Err(e),
                });
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl MarketFeed for Kalshi {
    fn venue(&self) -> Venue {
        Venue::Kalshi
    }

    async fn discover(&self) -> Result<Vec<MarketInfo>, VenueError> {
        let d = feed::discover(&self.rest, &self.cfg.discovery).await?;
        self.ranges.write().extend(d.price_ranges);
        Ok(d.markets)
    }

    async fn stream(&self, markets: Vec<MarketKey>, sink: UpdateSink) -> Result<(), VenueError> {
        let tickers: Vec<String> = markets.into_iter().filter(|m| m.venue == Venue::Kalshi).map(|m| m.symbol).collect();
        if tickers.is_empty() {
            return Err(rest::invalid("no Kalshi markets to stream"));
        }
        ws::BookFeed::new(self.cfg.clone(), self.signer.clone(), tickers, sink).run().await
    }
}

#[async_trait::async_trait]
impl ExecutionVenue for Kalshi {
    fn venue(&self) -> Venue {
        Venue::Kalshi
    }

    async fn place_order(&self, order: &OrderRequest) -> Result<OrderReport, VenueError> {
        let body = self.v2(order)?;
        self.intents.record_client(&order.client_order_id, (order.side, order.action));
        match self.rest.create_order(&body).await {
            Ok(resp) => self.finish_report(order, &resp).await,
            Err(VenueError::Rejected { code, message, .. }) => Ok(Kalshi::rejected(order, &code, &message)),
            Err(e) => {
                metrics::ORDERS.with_label_values(&["kalshi", "error"]).inc();
                Err(e)
            }
        }
    }

    async fn cancel_order(&self, _market: &MarketKey, venue_order_id: &str) -> Result<(), VenueError> {
        self.rest.cancel_order(venue_order_id).await.map(|_| ())
    }

    async fn find_order(&self, order: &OrderRequest) -> Result<Option<OrderReport>, VenueError> {
        let (market, client_order_id) = (&order.market, order.client_order_id.as_str());
        let orders = self.rest.orders(Some(&market.symbol), None).await?;
        let Some(o) = orders.iter().find(|o| o.client_order_id.as_deref() == Some(client_order_id)) else {
            return Ok(None);
        };
        let (_, action) = self
            .intents
            .lookup(Some(&o.order_id), Some(client_order_id))
            .unwrap_or_else(|| exec::default_intent(&o.outcome_side, &o.book_side));
        exec::report_from_order(action, client_order_id, o).map(Some)
    }

    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        let orders = self.rest.orders(None, Some("resting")).await?;
        orders
            .iter()
            .map(|o| {
                let (side, _) = self
                    .intents
                    .lookup(Some(&o.order_id), o.client_order_id.as_deref())
                    .unwrap_or_else(|| exec::default_intent(&o.outcome_side, &o.book_side));
                let yes = Price::parse(o.yes_price_dollars.as_deref().unwrap_or_default())
                    .map_err(|e| malformed(format!("yes_price_dollars: {e}")))?;
                let book_side = if o.book_side == "ask" || (o.book_side.is_empty() && o.outcome_side == "no") {
                    BookSide::Ask
                } else {
                    BookSide::Bid
                };
                let (action, price) = convert::from_v2(book_side, yes, side);
                let q = |s: Option<&str>| {
                    Qty::parse_non_negative(s.unwrap_or("0")).map_err(|e| malformed(format!("count: {e}")))
                };
                Ok(OpenOrder {
                    venue_order_id: o.order_id.clone(),
                    client_order_id: o.client_order_id.clone(),
                    market: MarketKey::new(Venue::Kalshi, o.ticker.clone()),
                    side,
                    action,
                    price,
                    remaining: q(o.remaining_count_fp.as_deref())?,
                    filled: q(o.fill_count_fp.as_deref())?,
                })
            })
            .collect()
    }

    async fn positions(&self) -> Result<Vec<VenuePosition>, VenueError> {
        self.rest
            .positions()
            .await?
            .into_iter()
            .map(|p| {
                Ok(VenuePosition {
                    yes_position: Qty::parse(&p.position_fp).map_err(|e| malformed(format!("position_fp: {e}")))?,
                    market: MarketKey::new(Venue::Kalshi, p.ticker),
                })
            })
            .collect()
    }

    async fn balance(&self) -> Result<Money, VenueError> {
        let b = self.rest.balance().await?;
        match (b.balance_dollars, b.balance) {
            (Some(d), _) => Money::parse(&d).map_err(|e| malformed(format!("balance_dollars: {e}"))),
            (None, Some(cents)) => Ok(Money::from_cents(cents)),
            (None, None) => Err(malformed("balance response has no balance")),
        }
    }

    async fn fills(&self) -> Result<mpsc::Receiver<FillEvent>, VenueError> {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(fills::run(self.cfg.clone(), self.signer.clone(), self.rest.clone(), self.intents.clone(), tx));
        Ok(rx)
    }
}
