//! The model's traits over the clients: [`PolymarketFeed`] (`MarketFeed`) and
//! [`PolymarketVenue`] (`ExecutionVenue`). They share a [`Registry`] of markets
//! so the execution side knows each market's tokens, tick and exchange.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::{B256, keccak256};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use arbytron_model::venue::{
    Action, ExecutionVenue, FillEvent, MarketFeed, OpenOrder, OrderReport, OrderRequest, OrderStatus, TimeInForce,
    UpdateSink, VenueError, VenuePosition,
};
use arbytron_model::{MarketInfo, MarketKey, Money, Price, Qty, Side, Venue};
use arbytron_sdk::Rounding;

use crate::amounts::{OrderSide, TickSize, limit_amounts, market_amounts};
use crate::clob::{ClobClient, OrderType, PlaceRequest, Placed};
use crate::config::Config;
use crate::error::PolyError;
use crate::feed::{ShardState, run_shard, shards};
use crate::gamma::GammaClient;
use crate::markets::{Registry, VENUE};
use crate::signing::{OrderSigner, SignatureType};
use crate::user::{FillLedger, fills_from_trade, run_user_channel};
use crate::wire::WireOpenOrder;

/// Market data: Gamma discovery and the market channel.
pub struct PolymarketFeed {
    cfg: Config,
    gamma: GammaClient,
    registry: Arc<Registry>,
}

impl PolymarketFeed {
    pub fn new(cfg: Config, registry: Arc<Registry>) -> Result<PolymarketFeed, PolyError> {
        let http = crate::http::client(cfg.request_timeout)?;
        let gamma = GammaClient::new(http, &cfg.gamma_url, cfg.page_size);
        Ok(PolymarketFeed { cfg, gamma, registry })
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

#[async_trait::async_trait]
impl MarketFeed for PolymarketFeed {
    fn venue(&self) -> Venue {
        VENUE
    }

    async fn discover(&self) -> Result<Vec<MarketInfo>, VenueError> {
        let markets = self.gamma.discover(&self.cfg.selection).await?;
        for m in &markets {
            self.registry.insert(m.clone());
        }
        Ok(markets)
    }

    async fn stream(&self, markets: Vec<MarketKey>, sink: UpdateSink) -> Result<(), VenueError> {
        let mut tokens = Vec::with_capacity(markets.len());
        let mut unknown = Vec::new();
        for m in &markets {
            match self.registry.get(&m.symbol).and_then(|i| i.refs.yes_token) {
                Some(t) if m.venue == VENUE => tokens.push(t),
                _ => unknown.push(m.to_string()),
            }
        }
        if !unknown.is_empty() {
            return Err(PolyError::Invalid(format!("markets not discovered: {}", unknown.join(", "))).into());
        }
        let mut tasks = Vec::new();
        for (i, shard) in shards(tokens, self.cfg.assets_per_connection).into_iter().enumerate() {
            let state = ShardState::new(format!("{i}"), shard, self.cfg.book_depth, self.registry.clone());
            tasks.push(tokio::spawn(run_shard(self.cfg.clone(), state, sink.clone())));
        }
        drop(sink);
        for t in tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "a market channel shard task failed");
            }
        }
        Ok(())
    }
}

/// What we remember about an order we sent, for `find_order`.
#[derive(Clone, Debug)]
struct SentOrder {
    market: MarketKey,
    quantity: Qty,
    report: OrderReport,
}

/// Trading on the CLOB.
pub struct PolymarketVenue {
    cfg: Config,
    clob: Arc<ClobClient>,
    registry: Arc<Registry>,
    sent: Mutex<HashMap<String, SentOrder>>,
}

impl PolymarketVenue {
    /// Load the account's key, and its API credentials (configured, or created
    /// or derived with L1 auth).
    pub async fn connect(cfg: Config, registry: Arc<Registry>) -> Result<PolymarketVenue, PolyError> {
        let account = cfg.account.clone().ok_or_else(|| PolyError::Config("no [account] configured".into()))?;
        let key = account.private_key.load()?;
        let signer = OrderSigner::new(&key, account.signature_type, account.funder, cfg.chain_id, cfg.exchanges)?;
        let creds = account.stored_creds()?;
        let http = crate::http::client(cfg.request_timeout)?;
        let clob = ClobClient::new(
            http,
            &cfg.clob_url,
            Some(signer),
            creds.clone(),
            cfg.post_only_window,
            cfg.max_retry_after,
        );
        if creds.is_none() {
            clob.create_or_derive_api_key(account.api_nonce).await?;
        }
        Ok(PolymarketVenue { cfg, clob: Arc::new(clob), registry, sent: Mutex::new(HashMap::new()) })
    }

    pub fn clob(&self) -> &Arc<ClobClient> {
        &self.clob
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Make sure the registry knows `market`, asking the CLOB if discovery did not.
    async fn market(&self, market: &MarketKey) -> Result<MarketInfo, PolyError> {
        if market.venue != VENUE {
            return Err(PolyError::UnknownMarket(market.to_string()));
        }
        if let Some(info) = self.registry.get(&market.symbol) {
            return Ok(info);
        }
        let m = self.clob.clob_market(&market.symbol).await?;
        let info = crate::markets::market_from_clob(&m).map_err(PolyError::Malformed)?;
        self.registry.insert(info.clone());
        Ok(info)
    }

    /// Translate a model order into the venue's token, side and amounts.
    pub fn plan(&self, info: &MarketInfo, order: &OrderRequest) -> Result<PlaceRequest, PolyError> {
        let token = match order.side {
            Side::Yes => info.refs.yes_token.clone(),
            Side::No => info.refs.no_token.clone(),
        }
        .ok_or_else(|| PolyError::UnknownMarket(format!("{} has no {} token", info.key, order.side.as_str())))?;
        let tick = TickSize::from_micros(info.tick.micros())
            .ok_or_else(|| PolyError::Invalid(format!("market tick {} is not a Polymarket tick", info.tick)))?;
        if order.quantity < info.min_qty {
            return Err(PolyError::Invalid(format!("size {} below the minimum {}", order.quantity, info.min_qty)));
        }
        let side = match order.action {
            Action::Buy => OrderSide::Buy,
            Action::Sell => OrderSide::Sell,
        };
        let order_type = match order.time_in_force {
            TimeInForce::GoodTillCanceled => OrderType::Gtc,
            TimeInForce::ImmediateOrCancel => OrderType::Fak,
            TimeInForce::FillOrKill => OrderType::Fok,
        };
        // Immediate orders are market orders to the venue, with their own precision.
        let amounts = if order_type.is_immediate() {
            market_amounts(side, order.limit_price, order.quantity, tick)?
        } else {
            limit_amounts(side, order.limit_price, order.quantity, tick)?
        };
        Ok(PlaceRequest {
            token_id: token,
            side,
            amounts,
            neg_risk: info.refs.neg_risk,
            order_type,
            expiration: 0,
            post_only: false,
            // Our client order id, hashed into the signed order: it ties the
            // venue's order to our intent log without trusting memory alone.
            metadata: B256::from(keccak256(order.client_order_id.as_bytes())),
            salt: Some(deterministic_salt(&order.client_order_id)),
            timestamp_ms: created_ms(&order.client_order_id),
        })
    }

    /// Place with venue-specific options (GTD expiry, post-only).
    pub async fn place_with(
        &self,
        order: &OrderRequest,
        gtd_expiration: Option<u64>,
        post_only: bool,
    ) -> Result<OrderReport, PolyError> {
        let info = self.market(&order.market).await?;
        let mut req = self.plan(&info, order)?;
        if let Some(exp) = gtd_expiration {
            req.order_type = OrderType::Gtd;
            req.expiration = exp;
        }
        req.post_only = post_only;
        if post_only && req.order_type.is_immediate() {
            return Err(PolyError::Invalid("post-only applies to GTC/GTD orders only".into()));
        }
        let placed = self.clob.place(&req).await?;
        let report = order_report(order, &info, &req, &placed)?;
        self.sent.lock().insert(
            order.client_order_id.clone(),
            SentOrder { market: order.market.clone(), quantity: order.quantity, report: report.clone() },
        );
        Ok(report)
    }

    fn open_order(&self, o: &WireOpenOrder) -> Result<OpenOrder, String> {
        let token = self.registry.token(&o.asset_id).ok_or_else(|| format!("unknown asset {}", o.asset_id))?;
        let original = Qty::parse_non_negative(&o.original_size).map_err(|e| e.to_string())?;
        let matched = if o.size_matched.is_empty() {
            Qty::ZERO
        } else {
            Qty::parse_non_negative(&o.size_matched).map_err(|e| e.to_string())?
        };
        let action = match OrderSide::parse(&o.side).ok_or("bad side")? {
            OrderSide::Buy => Action::Buy,
            OrderSide::Sell => Action::Sell,
        };
        let client_order_id =
            self.sent.lock().iter().find(|(_, s)| s.report.venue_order_id == o.id).map(|(k, _)| k.clone());
        Ok(OpenOrder {
            venue_order_id: o.id.clone(),
            client_order_id,
            market: token.market,
            side: token.side,
            action,
            price: Price::parse(&o.price).map_err(|e| e.to_string())?,
            remaining: original - matched,
            filled: matched,
        })
    }

    /// Every trade of ours the venue reports, replayed into a fresh ledger.
    pub async fn ledger_from_trades(&self) -> Result<FillLedger, PolyError> {
        let creds = self.clob.creds().ok_or_else(|| PolyError::Config("no API credentials".into()))?;
        let maker = self.maker_address();
        let mut ledger = FillLedger::new();
        for t in self.clob.trades(&[]).await? {
            match fills_from_trade(&t, &creds.api_key, Some(&maker), &self.registry) {
                Ok(fills) => fills.iter().for_each(|f| {
                    ledger.apply(f);
                }),
                Err(reason) => arbytron_telemetry::malformed("polymarket-rest", "trade", &reason),
            }
        }
        Ok(ledger)
    }

    fn maker_address(&self) -> String {
        self.clob.signer().map(|s| s.maker().to_checksum(None)).unwrap_or_default()
    }

    pub fn signature_type(&self) -> Option<SignatureType> {
        self.clob.signer().map(|s| s.signature_type())
    }
}

/// The reply to `POST /order` in the model's terms. The venue reports what
/// matched at once (`makingAmount`/`takingAmount`, decimal strings).
fn order_report(
    order: &OrderRequest,
    info: &MarketInfo,
    req: &PlaceRequest,
    placed: &Placed,
) -> Result<OrderReport, PolyError> {
    let r = &placed.response;
    let mut report = OrderReport {
        client_order_id: order.client_order_id.clone(),
        venue_order_id: if r.order_id.is_empty() { placed.signed.order_id() } else { r.order_id.clone() },
        status: OrderStatus::Cancelled,
        filled: Qty::ZERO,
        notional: Money::ZERO,
        fee: Money::ZERO,
    };
    if !r.success {
        report.status = OrderStatus::Rejected { reason: r.error_msg.clone() };
        return Ok(report);
    }
    let amount = |s: &str| -> Result<i64, PolyError> {
        if s.trim().is_empty() {
            Ok(0)
        } else {
            arbytron_sdk::money::parse_micros(s).map_err(|e| PolyError::Malformed(format!("order amounts: {e}")))
        }
    };
    let (making, taking) = (amount(&r.making_amount)?, amount(&r.taking_amount)?);
    let (shares, cash) = match req.side {
        OrderSide::Buy => (taking, making),
        OrderSide::Sell => (making, taking),
    };
    report.filled = Qty::from_micros(shares);
    report.notional = Money::from_micros(cash);
    if let Some(avg) = report.notional.per_contract(report.filled, Rounding::Up) {
        report.fee = info.fee.taker_fee(report.filled, avg);
    }
    let resting = matches!(r.status.as_str(), "live" | "delayed");
    report.status = if report.filled >= order.quantity {
        OrderStatus::Filled
    } else if report.filled.is_positive() {
        OrderStatus::PartiallyFilled { resting }
    } else if resting {
        OrderStatus::Resting
    } else {
        OrderStatus::Cancelled
    };
    Ok(report)
}

#[async_trait::async_trait]
impl ExecutionVenue for PolymarketVenue {
    fn venue(&self) -> Venue {
        VENUE
    }

    async fn place_order(&self, order: &OrderRequest) -> Result<OrderReport, VenueError> {
        Ok(self.place_with(order, None, false).await?)
    }

    async fn cancel_order(&self, _market: &MarketKey, venue_order_id: &str) -> Result<(), VenueError> {
        let r = self.clob.cancel(venue_order_id).await?;
        if r.canceled.iter().any(|id| id == venue_order_id) {
            return Ok(());
        }
        let reason = r
            .not_canceled
            .get(venue_order_id)
            .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
            .unwrap_or_else(|| "not canceled".into());
        Err(VenueError::Rejected { venue: VENUE, code: "not_canceled".into(), message: reason })
    }

    async fn find_order(&self, order: &OrderRequest) -> Result<Option<OrderReport>, VenueError> {
        let (market, client_order_id) = (&order.market, order.client_order_id.as_str());
        let sent = self.sent.lock().get(client_order_id).cloned();
        if let Some(s) = sent.filter(|s| &s.market == market) {
            // Refresh from the venue: the order may have filled since.
            return match self.clob.order(&s.report.venue_order_id).await {
                Ok(o) => {
                    let open = self.open_order(&o).map_err(PolyError::Malformed)?;
                    let mut report = s.report.clone();
                    if open.filled > report.filled {
                        report.filled = open.filled;
                        report.notional = open.filled.value_at(open.price, Rounding::Up);
                    }
                    report.status = if report.filled >= s.quantity {
                        OrderStatus::Filled
                    } else if !o.status.eq_ignore_ascii_case("live") {
                        report.status
                    } else if report.filled.is_positive() {
                        OrderStatus::PartiallyFilled { resting: true }
                    } else {
                        OrderStatus::Resting
                    };
                    Ok(Some(report))
                }
                Err(PolyError::Api { status: 404, .. }) => Ok(Some(s.report)),
                Err(e) => Err(e.into()),
            };
        }
        // Not sent by this process (a restart). Our orders are signed with a
        // salt and creation time derived from the client order id, so signing
        // the same request again gives the same order hash: the venue's id.
        if created_ms(client_order_id).is_none() {
            return Err(VenueError::Invalid {
                venue: VENUE,
                message: format!(
                    "client order id {client_order_id} carries no creation time; only orders whose id does can be found after a restart"
                ),
            });
        }
        let info = self.market(market).await?;
        let req = self.plan(&info, order)?;
        let version = self.clob.version().await?;
        let signed = self.clob.sign(&req, version)?;
        match self.clob.order(&signed.order_id()).await {
            Ok(o) => {
                let open = self.open_order(&o).map_err(PolyError::Malformed)?;
                let filled = open.filled;
                let notional = filled.value_at(open.price, Rounding::Up);
                let status = if filled >= order.quantity {
                    OrderStatus::Filled
                } else if o.status.eq_ignore_ascii_case("live") {
                    if filled.is_positive() {
                        OrderStatus::PartiallyFilled { resting: true }
                    } else {
                        OrderStatus::Resting
                    }
                } else if filled.is_positive() {
                    OrderStatus::PartiallyFilled { resting: false }
                } else {
                    OrderStatus::Cancelled
                };
                let fee =
                    if order.action == Action::Buy { info.fee.taker_fee(filled, open.price) } else { Money::ZERO };
                Ok(Some(OrderReport {
                    client_order_id: client_order_id.to_string(),
                    venue_order_id: o.id.clone(),
                    status,
                    filled,
                    notional,
                    fee,
                }))
            }
            Err(PolyError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        let wire = self.clob.open_orders(&[]).await?;
        let mut out = Vec::with_capacity(wire.len());
        for o in &wire {
            match self.open_order(o) {
                Ok(x) => out.push(x),
                Err(reason) => arbytron_telemetry::malformed("polymarket-rest", "open_order", &reason),
            }
        }
        Ok(out)
    }

    async fn positions(&self) -> Result<Vec<VenuePosition>, VenueError> {
        Ok(self.ledger_from_trades().await?.positions())
    }

    async fn balance(&self) -> Result<Money, VenueError> {
        Ok(Money::from_micros(self.clob.collateral_balance().await?))
    }

    async fn fills(&self) -> Result<mpsc::Receiver<FillEvent>, VenueError> {
        let creds = self.clob.creds().ok_or_else(|| PolyError::Config("no API credentials".into()))?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run_user_channel(
            self.cfg.clone(),
            creds,
            self.maker_address(),
            self.clob.clone(),
            self.registry.clone(),
            tx,
        ));
        Ok(rx)
    }
}

/// A salt (53 bits, as the venue's JSON needs) derived from the client order id.
fn deterministic_salt(client_order_id: &str) -> u64 {
    let h = keccak256(client_order_id.as_bytes());
    u64::from_be_bytes(h[..8].try_into().unwrap_or([0; 8]))
}

/// The creation time (Unix ms) our client order ids end with (`...-<ms>`).
fn created_ms(client_order_id: &str) -> Option<u64> {
    client_order_id.rsplit_once('-').and_then(|(_, t)| t.parse::<u64>().ok()).filter(|&t| t > 1_000_000_000_000)
}
