//! The AMM execution leg: swaps against a pool with exact, pre-computed bounds.
//!
//! A swap is quoted with the SDK math at the latest block, bounded (slippage and the order's
//! price limit, see [`crate::quote`]), simulated, sent and awaited. The pool either fills it
//! completely or reverts, so a report is `Filled` (or `PartiallyFilled { resting: false }`
//! when the tokens traded fall short of the requested quantity) or `Rejected`:
//!
//! - refused before sending (beyond the limit at the current state, or the simulation
//!   reverted): nothing happened, nothing was spent;
//! - reverted on-chain (the state moved between simulation and inclusion, e.g. another
//!   trader got in first): nothing traded, the gas is reported as the leg's fee.
//!
//! Each swap's calldata carries `arbytron:<client order id>` after the ABI arguments (the
//! contract ignores trailing bytes), which is how [`AmmTrader::find_order`] recognises our
//! own transactions after a restart.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::{SolCall, SolEvent};
use arbytron_model::venue::{
    Action, FillEvent, FillState, OrderReport, OrderRequest, OrderStatus, Redemption, TimeInForce,
};
use arbytron_model::{Money, PoolState, Price, Qty, Venue, now_ms};
use arbytron_sdk::Rounding;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::bindings::{ConditionalTokens, FixedProductMarketMaker, TestCollateral};
use crate::chain::{Chain, Mined};
use crate::market::{PoolMarket, format_address};
use crate::pool::{PoolInfo, contract_err};
use crate::quote::{self, Bounds, SwapIntent, SwapQuote};
use crate::{Error, metrics, units};

/// Marks our swaps' calldata; the client order id follows.
pub const TAG_PREFIX: &[u8] = b"arbytron:";

/// How the leg trades.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecConfig {
    /// Worst token amount relative to the quote, parts per million.
    pub max_slippage_ppm: u32,
    /// How far back [`AmmTrader::find_order`] searches the chain for our swaps.
    pub find_order_lookback_blocks: u64,
    /// Pools whose positions and collateral are reported (pools traded are added on use).
    pub pools: Vec<Address>,
}

impl Default for ExecConfig {
    fn default() -> ExecConfig {
        ExecConfig { max_slippage_ppm: 5_000, find_order_lookback_blocks: 50_000, pools: Vec::new() }
    }
}

/// How a swap ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SwapResult {
    /// Mined and executed; the amounts are the pool's own (from its event).
    Done {
        /// Buy: investment (fee included). Sell: collateral returned (fee excluded).
        collateral: u128,
        pool_fee: u128,
        tokens: u128,
    },
    /// Not sent: the quote was beyond its bounds or the simulation reverted.
    Refused { reason: String },
    /// Mined and reverted: nothing traded, gas spent.
    Reverted { reason: String },
}

/// Everything that happened to one swap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapOutcome {
    pub pool: Address,
    pub quote: SwapQuote,
    pub result: SwapResult,
    pub tx_hash: Option<B256>,
    pub block: Option<u64>,
    /// Gas of the swap and of any approvals it needed.
    pub gas_used: u64,
    pub gas_cost: Money,
}

/// Result of adding liquidity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundingOutcome {
    pub tx_hash: B256,
    pub shares_minted: u128,
    /// Outcome tokens the pool kept, per outcome.
    pub amounts_added: Vec<u128>,
    /// Outcome tokens sent back to us, per outcome (`funds - kept`).
    pub amounts_returned: Vec<u128>,
    pub gas_cost: Money,
}

/// Result of removing liquidity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovalOutcome {
    pub tx_hash: B256,
    pub shares_burnt: u128,
    /// Outcome tokens received, per outcome.
    pub amounts_removed: Vec<u128>,
    /// Our accrued LP fees, paid out by the burn.
    pub fees_collected: u128,
    pub gas_cost: Money,
}

/// The AMM trading account: swaps, liquidity, positions.
pub struct AmmTrader {
    chain: Arc<Chain>,
    cfg: ExecConfig,
    pools: tokio::sync::Mutex<HashMap<Address, Arc<PoolInfo>>>,
    approved_erc20: Mutex<HashSet<(Address, Address)>>,
    approved_erc1155: Mutex<HashSet<(Address, Address)>>,
    lp_shares: Mutex<HashMap<Address, u128>>,
    /// Reports by client order id; `None` while the order is in flight or
    /// its outcome was lost (then the chain decides, see [`AmmTrader::place`]).
    orders: Mutex<HashMap<String, Option<OrderReport>>>,
    fill_subscribers: Mutex<Vec<mpsc::Sender<FillEvent>>>,
}

impl std::fmt::Debug for AmmTrader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmmTrader").field("chain", &self.chain).field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

fn require_success(mined: Mined, what: &str) -> Result<Mined, Error> {
    if mined.success {
        Ok(mined)
    } else {
        Err(Error::Reverted {
            reason: format!("{what}: {}", mined.revert_reason.unwrap_or_else(|| "no reason".into())),
        })
    }
}

fn decoded<E: SolEvent>(logs: &[Log], emitter: Address) -> impl Iterator<Item = E> + '_ {
    logs.iter().filter(move |l| l.address() == emitter).filter_map(|l| l.log_decode::<E>().ok()).map(|l| l.inner.data)
}

fn u(v: U256, what: &str) -> Result<u128, Error> {
    units::to_u128(v, what)
}

impl AmmTrader {
    pub fn new(chain: Arc<Chain>, cfg: ExecConfig) -> AmmTrader {
        AmmTrader {
            chain,
            cfg,
            pools: tokio::sync::Mutex::new(HashMap::new()),
            approved_erc20: Mutex::new(HashSet::new()),
            approved_erc1155: Mutex::new(HashSet::new()),
            lp_shares: Mutex::new(HashMap::new()),
            orders: Mutex::new(HashMap::new()),
            fill_subscribers: Mutex::new(Vec::new()),
        }
    }

    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    pub fn address(&self) -> Address {
        self.chain.address()
    }

    /// A pool's fixed facts, read once.
    pub async fn pool_info(&self, pool: Address) -> Result<Arc<PoolInfo>, Error> {
        let mut pools = self.pools.lock().await;
        if let Some(info) = pools.get(&pool) {
            return Ok(info.clone());
        }
        let info = Arc::new(PoolInfo::load(self.chain.provider(), pool).await?);
        pools.insert(pool, info.clone());
        Ok(info)
    }

    /// The pool at the latest block.
    pub async fn pool_state(&self, pool: Address) -> Result<PoolState, Error> {
        let info = self.pool_info(pool).await?;
        let head = self.chain.provider().get_block_number().await.map_err(Error::rpc)?;
        info.state(self.chain.provider(), BlockId::number(head), head).await
    }

    /// Our outcome-token balances in `pool`.
    pub async fn outcome_balances(&self, pool: Address) -> Result<Vec<u128>, Error> {
        let info = self.pool_info(pool).await?;
        info.outcome_balances(self.chain.provider(), self.address(), BlockId::latest()).await
    }

    /// Our balance of `pool`'s collateral.
    pub async fn collateral_balance(&self, pool: Address) -> Result<u128, Error> {
        let info = self.pool_info(pool).await?;
        let token = TestCollateral::new(info.collateral, self.chain.provider());
        u(token.balanceOf(self.address()).call().await.map_err(contract_err)?, "collateral balance")
    }

    /// Quote a swap at the pool's latest state with the configured slippage.
    pub async fn quote(
        &self,
        pool: Address,
        outcome: usize,
        intent: SwapIntent,
        limit: Option<Price>,
    ) -> Result<SwapQuote, Error> {
        let state = self.pool_state(pool).await?;
        let bounds = Bounds { max_slippage_ppm: self.cfg.max_slippage_ppm, limit };
        Ok(quote::quote(&state.balances, state.fee_wad, outcome, intent, bounds)?)
    }

    /// Quote and execute.
    pub async fn swap(
        &self,
        pool: Address,
        outcome: usize,
        intent: SwapIntent,
        limit: Option<Price>,
    ) -> Result<SwapOutcome, Error> {
        let q = self.quote(pool, outcome, intent, limit).await?;
        self.execute(pool, q, None).await
    }

    /// Send a quoted swap (approving first if needed). `tag` goes into the calldata.
    pub async fn execute(&self, pool: Address, quote: SwapQuote, tag: Option<&str>) -> Result<SwapOutcome, Error> {
        let info = self.pool_info(pool).await?;
        if quote.outcome >= info.outcomes() {
            return Err(Error::Invalid(format!("outcome {} out of range for pool {pool}", quote.outcome)));
        }
        let approval = match quote.action {
            Action::Buy => self.approve_collateral(&info).await?,
            Action::Sell => self.approve_outcome_tokens(&info).await?,
        };
        let (mut gas_used, mut gas_cost) = approval.map(|m| (m.gas_used, m.gas_cost)).unwrap_or_default();
        let outcome_index = U256::from(quote.outcome);
        let (mut input, label) = match quote.action {
            Action::Buy => (
                FixedProductMarketMaker::buyCall {
                    investmentAmount: U256::from(quote.collateral),
                    outcomeIndex: outcome_index,
                    minOutcomeTokensToBuy: U256::from(quote.token_bound),
                }
                .abi_encode(),
                "buy",
            ),
            Action::Sell => (
                FixedProductMarketMaker::sellCall {
                    returnAmount: U256::from(quote.collateral),
                    outcomeIndex: outcome_index,
                    maxOutcomeTokensToSell: U256::from(quote.token_bound),
                }
                .abi_encode(),
                "sell",
            ),
        };
        if let Some(tag) = tag {
            input.extend_from_slice(TAG_PREFIX);
            input.extend_from_slice(tag.as_bytes());
        }
        let pool_label = format_address(pool);
        let (result, tx_hash, block) = match self.chain.send(pool, input.into(), label).await {
            Err(Error::Reverted { reason }) => (SwapResult::Refused { reason }, None, None),
            Err(e) => return Err(e),
            Ok(mined) => {
                gas_used += mined.gas_used;
                gas_cost += mined.gas_cost;
                let result = if mined.success {
                    self.swap_result(&mined, pool, quote.action)?
                } else {
                    SwapResult::Reverted { reason: mined.revert_reason.clone().unwrap_or_default() }
                };
                (result, Some(mined.tx_hash), Some(mined.block))
            }
        };
        let result_label = match &result {
            SwapResult::Done { .. } => "filled",
            SwapResult::Refused { .. } => "refused",
            SwapResult::Reverted { .. } => "reverted",
        };
        metrics::SWAPS.with_label_values(&[pool_label.as_str(), label, result_label]).inc();
        Ok(SwapOutcome { pool, quote, result, tx_hash, block, gas_used, gas_cost })
    }

    fn swap_result(&self, mined: &Mined, pool: Address, action: Action) -> Result<SwapResult, Error> {
        let me = self.address();
        let missing = || Error::Malformed(format!("swap {} succeeded without a pool event for us", mined.tx_hash));
        match action {
            Action::Buy => decoded::<FixedProductMarketMaker::FPMMBuy>(&mined.logs, pool)
                .find(|e| e.buyer == me)
                .ok_or_else(missing)
                .and_then(|e| {
                    Ok(SwapResult::Done {
                        collateral: u(e.investmentAmount, "investment")?,
                        pool_fee: u(e.feeAmount, "fee")?,
                        tokens: u(e.outcomeTokensBought, "tokens bought")?,
                    })
                }),
            Action::Sell => decoded::<FixedProductMarketMaker::FPMMSell>(&mined.logs, pool)
                .find(|e| e.seller == me)
                .ok_or_else(missing)
                .and_then(|e| {
                    Ok(SwapResult::Done {
                        collateral: u(e.returnAmount, "return")?,
                        pool_fee: u(e.feeAmount, "fee")?,
                        tokens: u(e.outcomeTokensSold, "tokens sold")?,
                    })
                }),
        }
    }

    /// Approve the pool to pull collateral, once (an unlimited allowance, then cached).
    async fn approve_collateral(&self, info: &PoolInfo) -> Result<Option<Mined>, Error> {
        let key = (info.collateral, info.address);
        if self.approved_erc20.lock().contains(&key) {
            return Ok(None);
        }
        let token = TestCollateral::new(info.collateral, self.chain.provider());
        let allowance = token.allowance(self.address(), info.address).call().await.map_err(contract_err)?;
        // Anything at or above 2^128 is effectively unlimited (more than any supply).
        let mined = if allowance >= U256::from(u128::MAX) {
            None
        } else {
            let call = TestCollateral::approveCall { spender: info.address, amount: U256::MAX };
            Some(require_success(
                self.chain.send(info.collateral, call.abi_encode().into(), "approve").await?,
                "collateral approval",
            )?)
        };
        self.approved_erc20.lock().insert(key);
        Ok(mined)
    }

    /// Let the pool move our outcome tokens (ERC-1155 operator approval), once.
    async fn approve_outcome_tokens(&self, info: &PoolInfo) -> Result<Option<Mined>, Error> {
        let key = (info.conditional_tokens, info.address);
        if self.approved_erc1155.lock().contains(&key) {
            return Ok(None);
        }
        let ctf = ConditionalTokens::new(info.conditional_tokens, self.chain.provider());
        let approved = ctf.isApprovedForAll(self.address(), info.address).call().await.map_err(contract_err)?;
        let mined = if approved {
            None
        } else {
            let call = ConditionalTokens::setApprovalForAllCall { operator: info.address, approved: true };
            Some(require_success(
                self.chain.send(info.conditional_tokens, call.abi_encode().into(), "approve").await?,
                "outcome token approval",
            )?)
        };
        self.approved_erc1155.lock().insert(key);
        Ok(mined)
    }

    // ---- liquidity ----------------------------------------------------------------------

    /// Add `amount` collateral as liquidity. `hint` shapes the first funding only.
    pub async fn add_liquidity(
        &self,
        pool: Address,
        amount: u128,
        hint: Option<&[u128]>,
    ) -> Result<FundingOutcome, Error> {
        let info = self.pool_info(pool).await?;
        let approval = self.approve_collateral(&info).await?;
        let call = FixedProductMarketMaker::addFundingCall {
            addedFunds: U256::from(amount),
            distributionHint: hint.unwrap_or_default().iter().map(|&h| U256::from(h)).collect(),
        };
        let mined =
            require_success(self.chain.send(pool, call.abi_encode().into(), "add_funding").await?, "addFunding")?;
        let me = self.address();
        let ev = decoded::<FixedProductMarketMaker::FPMMFundingAdded>(&mined.logs, pool)
            .find(|e| e.funder == me)
            .ok_or_else(|| Error::Malformed(format!("addFunding {} emitted no FPMMFundingAdded", mined.tx_hash)))?;
        let amounts_added = ev.amountsAdded.iter().map(|&a| u(a, "amount added")).collect::<Result<Vec<_>, _>>()?;
        let amounts_returned = amounts_added.iter().map(|&a| amount.saturating_sub(a)).collect();
        let shares_minted = u(ev.sharesMinted, "shares minted")?;
        *self.lp_shares.lock().entry(pool).or_default() += shares_minted;
        Ok(FundingOutcome {
            tx_hash: mined.tx_hash,
            shares_minted,
            amounts_added,
            amounts_returned,
            gas_cost: mined.gas_cost + approval.map(|m| m.gas_cost).unwrap_or_default(),
        })
    }

    /// Burn `shares` for their slice of every outcome balance (and our accrued fees).
    pub async fn remove_liquidity(&self, pool: Address, shares: u128) -> Result<RemovalOutcome, Error> {
        let call = FixedProductMarketMaker::removeFundingCall { sharesToBurn: U256::from(shares) };
        let mined =
            require_success(self.chain.send(pool, call.abi_encode().into(), "remove_funding").await?, "removeFunding")?;
        let me = self.address();
        let ev = decoded::<FixedProductMarketMaker::FPMMFundingRemoved>(&mined.logs, pool)
            .find(|e| e.funder == me)
            .ok_or_else(|| {
                Error::Malformed(format!("removeFunding {} emitted no FPMMFundingRemoved", mined.tx_hash))
            })?;
        let shares_burnt = u(ev.sharesBurnt, "shares burnt")?;
        if let Some(s) = self.lp_shares.lock().get_mut(&pool) {
            *s = s.saturating_sub(shares_burnt);
        }
        Ok(RemovalOutcome {
            tx_hash: mined.tx_hash,
            shares_burnt,
            amounts_removed: ev
                .amountsRemoved
                .iter()
                .map(|&a| u(a, "amount removed"))
                .collect::<Result<Vec<_>, _>>()?,
            fees_collected: u(ev.collateralRemovedFromFeePool, "fees collected")?,
            gas_cost: mined.gas_cost,
        })
    }

    /// Our LP shares on-chain (also refreshes the tracked figure).
    pub async fn lp_shares(&self, pool: Address) -> Result<u128, Error> {
        let fpmm = FixedProductMarketMaker::new(pool, self.chain.provider());
        let shares = u(fpmm.balanceOf(self.address()).call().await.map_err(contract_err)?, "shares")?;
        self.lp_shares.lock().insert(pool, shares);
        Ok(shares)
    }

    /// LP shares as tracked from our own funding and removals (no chain call).
    pub fn tracked_lp_shares(&self, pool: Address) -> u128 {
        self.lp_shares.lock().get(&pool).copied().unwrap_or_default()
    }

    pub async fn fees_withdrawable(&self, pool: Address) -> Result<u128, Error> {
        let fpmm = FixedProductMarketMaker::new(pool, self.chain.provider());
        u(fpmm.feesWithdrawableBy(self.address()).call().await.map_err(contract_err)?, "fees")
    }

    /// Collect our accrued LP fees; returns the collateral received.
    pub async fn withdraw_fees(&self, pool: Address) -> Result<(u128, Money), Error> {
        let info = self.pool_info(pool).await?;
        let call = FixedProductMarketMaker::withdrawFeesCall { account: self.address() };
        let mined =
            require_success(self.chain.send(pool, call.abi_encode().into(), "withdraw_fees").await?, "withdrawFees")?;
        let me = self.address();
        let paid = decoded::<TestCollateral::Transfer>(&mined.logs, info.collateral)
            .filter(|t| t.from == pool && t.to == me)
            .map(|t| u(t.value, "fee transfer"))
            .sum::<Result<u128, Error>>()?;
        Ok((paid, mined.gas_cost))
    }

    /// Turn `amount` complete sets of the pool's outcome tokens back into collateral.
    pub async fn merge(&self, pool: Address, amount: u128) -> Result<Money, Error> {
        let info = self.pool_info(pool).await?;
        let call = ConditionalTokens::mergePositionsCall {
            collateralToken: info.collateral,
            parentCollectionId: B256::ZERO,
            conditionId: info.condition_id,
            partition: (0..info.outcomes()).map(|i| U256::from(1u8) << i).collect(),
            amount: U256::from(amount),
        };
        let mined = require_success(
            self.chain.send(info.conditional_tokens, call.abi_encode().into(), "merge").await?,
            "mergePositions",
        )?;
        Ok(mined.gas_cost)
    }

    /// After resolution: redeem every outcome token we hold; returns the payout.
    pub async fn redeem(&self, pool: Address) -> Result<(u128, Money), Error> {
        let info = self.pool_info(pool).await?;
        let call = ConditionalTokens::redeemPositionsCall {
            collateralToken: info.collateral,
            parentCollectionId: B256::ZERO,
            conditionId: info.condition_id,
            indexSets: (0..info.outcomes()).map(|i| U256::from(1u8) << i).collect(),
        };
        let mined = require_success(
            self.chain.send(info.conditional_tokens, call.abi_encode().into(), "redeem").await?,
            "redeemPositions",
        )?;
        let me = self.address();
        let payout = decoded::<ConditionalTokens::PayoutRedemption>(&mined.logs, info.conditional_tokens)
            .find(|e| e.redeemer == me)
            .ok_or_else(|| Error::Malformed(format!("redeem {} emitted no PayoutRedemption", mined.tx_hash)))?;
        Ok((u(payout.payout, "payout")?, mined.gas_cost))
    }

    /// The model's redemption for `market`: redeem the pool's outcome tokens
    /// if we hold any. A second call (another market of the same pool, or a
    /// retry after success) finds nothing and sends no transaction.
    pub async fn redeem_market(&self, market: &arbytron_model::MarketKey) -> Result<Redemption, Error> {
        let pool = PoolMarket::from_key(market)?.pool;
        if self.outcome_balances(pool).await?.iter().all(|&b| b == 0) {
            return Ok(Redemption::default());
        }
        let (payout, gas) = self.redeem(pool).await?;
        let r = Redemption { collected: units::money(payout)?, cost: gas };
        tracing::info!(market = %market, collected = %r.collected, gas = %r.cost, "redeemed resolved outcome tokens");
        Ok(r)
    }

    // ---- orders ------------------------------------------------------------------------

    /// The model's order on this venue. See the module docs for the outcomes.
    ///
    /// Sending the same order (client order id) again never swaps twice: an
    /// answer we have is returned; a send whose outcome was lost is looked up
    /// on chain first (mined: that is the answer; one of our transactions
    /// still pending: [`Error::InFlight`], transient, ask again later); only
    /// when the chain shows neither is it sent again, and then with the same
    /// nonce as a lost first send would have (nonces come from the node's
    /// pending count under the send lock), so at most one can be mined.
    pub async fn place(&self, order: &OrderRequest) -> Result<OrderReport, Error> {
        let known = self.orders.lock().get(&order.client_order_id).cloned();
        match known {
            Some(Some(report)) => return Ok(report),
            Some(None) => {
                if let Some(report) = self.find(&order.market, &order.client_order_id).await? {
                    self.orders.lock().insert(order.client_order_id.clone(), Some(report.clone()));
                    return Ok(report);
                }
            }
            None => {
                self.orders.lock().insert(order.client_order_id.clone(), None);
            }
        }
        let result = self.place_new(order).await;
        let mut orders = self.orders.lock();
        match &result {
            Ok(report) => {
                orders.insert(order.client_order_id.clone(), Some(report.clone()));
            }
            // Nothing was sent (refused before signing, or a simulation reverted): free the id.
            Err(e) if !e.is_transient() => {
                orders.remove(&order.client_order_id);
            }
            // Unknown outcome (a timeout, a lost receipt): the entry stays, so a
            // resend asks the chain instead of swapping again.
            Err(_) => {}
        }
        result
    }

    async fn place_new(&self, order: &OrderRequest) -> Result<OrderReport, Error> {
        if order.time_in_force == TimeInForce::GoodTillCanceled {
            return Err(Error::Invalid("AMM swaps cannot rest: use fill-or-kill or immediate-or-cancel".into()));
        }
        let market = PoolMarket::from_key(&order.market)?;
        let info = self.pool_info(market.pool).await?;
        let outcome = market.token_outcome(order.side, info.outcomes())?;
        let intent = match (order.action, order.amount) {
            (Action::Buy, Some(m)) => SwapIntent::BuyWith { investment: units::base_units(m.micros(), "amount")? },
            (Action::Buy, None) => {
                SwapIntent::BuyTokens { tokens: units::base_units(order.quantity.micros(), "quantity")? }
            }
            (Action::Sell, Some(m)) => SwapIntent::SellFor { return_amount: units::base_units(m.micros(), "amount")? },
            (Action::Sell, None) => {
                SwapIntent::SellTokens { tokens: units::base_units(order.quantity.micros(), "quantity")? }
            }
        };
        let rejected = |reason: String, fee: Money, tx: Option<B256>| OrderReport {
            client_order_id: order.client_order_id.clone(),
            venue_order_id: tx.map(|h| format!("{h}")).unwrap_or_default(),
            status: OrderStatus::Rejected { reason },
            filled: Qty::ZERO,
            notional: Money::ZERO,
            fee,
        };
        let quote = match self.quote(market.pool, outcome, intent, Some(order.limit_price)).await {
            Ok(q) => q,
            Err(Error::Quote(q)) => {
                let label = format_address(market.pool);
                let action = if order.action == Action::Buy { "buy" } else { "sell" };
                metrics::SWAPS.with_label_values(&[label.as_str(), action, "refused"]).inc();
                return Ok(rejected(q.to_string(), Money::ZERO, None));
            }
            Err(e) => return Err(e),
        };
        let out = self.execute(market.pool, quote, Some(&order.client_order_id)).await?;
        let report = match &out.result {
            SwapResult::Refused { reason } => rejected(reason.clone(), out.gas_cost, None),
            SwapResult::Reverted { reason } => rejected(reason.clone(), out.gas_cost, out.tx_hash),
            &SwapResult::Done { collateral, pool_fee, tokens } => {
                let report = self.filled_report(order, &out, collateral, pool_fee, tokens)?;
                self.publish_fill(order, &report, market);
                report
            }
        };
        Ok(report)
    }

    fn filled_report(
        &self,
        order: &OrderRequest,
        out: &SwapOutcome,
        collateral: u128,
        pool_fee: u128,
        tokens: u128,
    ) -> Result<OrderReport, Error> {
        let filled = units::qty(tokens)?;
        let notional = match order.action {
            // Buy: of the investment, the fee went to LPs, the rest bought the tokens.
            Action::Buy => units::money(collateral.saturating_sub(pool_fee))?,
            // Sell: the tokens fetched the return plus the fee.
            Action::Sell => units::money(collateral.saturating_add(pool_fee))?,
        };
        let status = if filled >= order.quantity {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled { resting: false }
        };
        Ok(OrderReport {
            client_order_id: order.client_order_id.clone(),
            venue_order_id: out.tx_hash.map(|h| format!("{h}")).unwrap_or_default(),
            status,
            filled,
            notional,
            fee: units::money(pool_fee)? + out.gas_cost,
        })
    }

    fn publish_fill(&self, order: &OrderRequest, report: &OrderReport, market: PoolMarket) {
        // Average price per token, fee included for a buy (what it cost), excluded for a sell
        // (what it fetched): rounded against us.
        let price = match order.action {
            Action::Buy => (report.notional + report.fee).per_contract(report.filled, Rounding::Up),
            Action::Sell => (report.notional - report.fee).per_contract(report.filled, Rounding::Down),
        }
        .unwrap_or(Price::ONE);
        let ev = FillEvent {
            venue: Venue::PolymarketAmm,
            trade_id: report.venue_order_id.clone(),
            venue_order_id: report.venue_order_id.clone(),
            client_order_id: Some(order.client_order_id.clone()),
            market: market.key(),
            side: order.side,
            action: order.action,
            quantity: report.filled,
            price,
            fee: report.fee,
            state: FillState::Confirmed,
            ts: now_ms(),
        };
        self.fill_subscribers.lock().retain(|tx| match tx.try_send(ev.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(trade = %ev.trade_id, "fill subscriber lagging; dropped a fill event");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// Subscribe to our fills.
    pub fn subscribe_fills(&self) -> mpsc::Receiver<FillEvent> {
        let (tx, rx) = mpsc::channel(1024);
        self.fill_subscribers.lock().push(tx);
        rx
    }

    /// Our order by client id: from memory, else from the chain (our tagged swaps on the
    /// market's pool within the lookback window). A swap that reverted left no event and is
    /// not found, which is right: it traded nothing.
    pub async fn find(
        &self,
        market: &arbytron_model::MarketKey,
        client_order_id: &str,
    ) -> Result<Option<OrderReport>, Error> {
        if let Some(Some(report)) = self.orders.lock().get(client_order_id) {
            return Ok(Some(report.clone()));
        }
        let pm = PoolMarket::from_key(market)?;
        let provider = self.chain.provider();
        let head = provider.get_block_number().await.map_err(Error::rpc)?;
        let me = self.address().into_word();
        let filter = Filter::new()
            .address(pm.pool)
            .event_signature(vec![
                FixedProductMarketMaker::FPMMBuy::SIGNATURE_HASH,
                FixedProductMarketMaker::FPMMSell::SIGNATURE_HASH,
            ])
            .topic1(me)
            .from_block(head.saturating_sub(self.cfg.find_order_lookback_blocks))
            .to_block(head);
        let logs = provider.get_logs(&filter).await.map_err(Error::rpc)?;
        let mut tag = TAG_PREFIX.to_vec();
        tag.extend_from_slice(client_order_id.as_bytes());
        for log in logs.iter().rev() {
            let Some(hash) = log.transaction_hash else { continue };
            let Some(tx) = provider.get_transaction_by_hash(hash).await.map_err(Error::rpc)? else { continue };
            let input = alloy::consensus::Transaction::input(&tx);
            // buy/sell calldata: 4-byte selector + three 32-byte words, then our tag.
            if input.len() < 100 || input[100..] != tag[..] {
                continue;
            }
            let receipt = provider.get_transaction_receipt(hash).await.map_err(Error::rpc)?;
            let gas = match receipt {
                Some(r) => units::gas_cost(r.gas_used, r.effective_gas_price, self.chain.config().native_price)?,
                None => Money::ZERO,
            };
            let (action, collateral, pool_fee, tokens) =
                if let Ok(b) = log.log_decode::<FixedProductMarketMaker::FPMMBuy>() {
                    let e = b.inner.data;
                    (Action::Buy, e.investmentAmount, e.feeAmount, e.outcomeTokensBought)
                } else if let Ok(s) = log.log_decode::<FixedProductMarketMaker::FPMMSell>() {
                    let e = s.inner.data;
                    (Action::Sell, e.returnAmount, e.feeAmount, e.outcomeTokensSold)
                } else {
                    continue;
                };
            let (collateral, pool_fee, tokens) =
                (u(collateral, "collateral")?, u(pool_fee, "fee")?, u(tokens, "tokens")?);
            let notional = match action {
                Action::Buy => units::money(collateral.saturating_sub(pool_fee))?,
                Action::Sell => units::money(collateral.saturating_add(pool_fee))?,
            };
            return Ok(Some(OrderReport {
                client_order_id: client_order_id.to_string(),
                venue_order_id: format!("{hash}"),
                // The requested quantity is not on chain; what traded is.
                status: OrderStatus::Filled,
                filled: units::qty(tokens)?,
                notional,
                fee: units::money(pool_fee)? + gas,
            }));
        }
        // Not mined. A transaction of ours still waiting in the pool may be
        // this order: that is "not yet", not "never".
        let me = self.address();
        let pending = provider.get_transaction_count(me).pending().await.map_err(Error::rpc)?;
        let mined = provider.get_transaction_count(me).latest().await.map_err(Error::rpc)?;
        if pending > mined {
            return Err(Error::InFlight(client_order_id.to_string()));
        }
        Ok(None)
    }

    /// Pools whose positions and balances are reported: configured plus traded.
    async fn known_pools(&self) -> Result<Vec<Arc<PoolInfo>>, Error> {
        for &p in &self.cfg.pools {
            self.pool_info(p).await?;
        }
        let pools = self.pools.lock().await;
        let mut v: Vec<_> = pools.values().cloned().collect();
        v.sort_by_key(|i| i.address);
        Ok(v)
    }

    /// Positions in the model's terms (see the crate docs for the mapping).
    pub async fn positions(&self) -> Result<Vec<arbytron_model::venue::VenuePosition>, Error> {
        let mut out = Vec::new();
        for info in self.known_pools().await? {
            let bal = info.outcome_balances(self.chain.provider(), self.address(), BlockId::latest()).await?;
            if bal.len() == 2 {
                let net = i128::try_from(bal[0]).unwrap_or(i128::MAX) - i128::try_from(bal[1]).unwrap_or(i128::MAX);
                if net != 0 {
                    let micros = i64::try_from(net)
                        .map_err(|_| Error::Invalid(format!("position {net} exceeds the model's range")))?;
                    out.push(arbytron_model::venue::VenuePosition {
                        market: PoolMarket::new(info.address, 0).key(),
                        yes_position: Qty::from_micros(micros),
                    });
                }
            } else {
                for (i, &b) in bal.iter().enumerate() {
                    if b > 0 {
                        out.push(arbytron_model::venue::VenuePosition {
                            market: PoolMarket::new(info.address, i).key(),
                            yes_position: units::qty(b)?,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Collateral held, summed over the distinct collateral tokens of the known pools.
    pub async fn cash(&self) -> Result<Money, Error> {
        let pools = self.known_pools().await?;
        if pools.is_empty() {
            return Err(Error::Config("no pools configured: the collateral token is unknown".into()));
        }
        let mut seen = HashSet::new();
        let mut total = Money::ZERO;
        for info in pools {
            if seen.insert(info.collateral) {
                total += units::money(self.collateral_balance(info.address).await?)?;
            }
        }
        Ok(total)
    }
}

#[async_trait::async_trait]
impl arbytron_model::venue::ExecutionVenue for AmmTrader {
    fn venue(&self) -> Venue {
        Venue::PolymarketAmm
    }

    async fn place_order(&self, order: &OrderRequest) -> Result<OrderReport, arbytron_model::venue::VenueError> {
        Ok(self.place(order).await?)
    }

    async fn cancel_order(
        &self,
        _market: &arbytron_model::MarketKey,
        venue_order_id: &str,
    ) -> Result<(), arbytron_model::venue::VenueError> {
        Err(Error::Invalid(format!("AMM swaps never rest; nothing to cancel for {venue_order_id}")).into())
    }

    async fn find_order(&self, order: &OrderRequest) -> Result<Option<OrderReport>, arbytron_model::venue::VenueError> {
        Ok(self.find(&order.market, &order.client_order_id).await?)
    }

    async fn open_orders(&self) -> Result<Vec<arbytron_model::venue::OpenOrder>, arbytron_model::venue::VenueError> {
        Ok(Vec::new())
    }

    async fn positions(&self) -> Result<Vec<arbytron_model::venue::VenuePosition>, arbytron_model::venue::VenueError> {
        Ok(AmmTrader::positions(self).await?)
    }

    async fn balance(&self) -> Result<Money, arbytron_model::venue::VenueError> {
        Ok(self.cash().await?)
    }

    async fn fills(&self) -> Result<mpsc::Receiver<FillEvent>, arbytron_model::venue::VenueError> {
        Ok(self.subscribe_fills())
    }

    async fn redeem(
        &self,
        market: &arbytron_model::MarketKey,
    ) -> Result<Option<Redemption>, arbytron_model::venue::VenueError> {
        Ok(Some(self.redeem_market(market).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::QuoteError;

    #[test]
    fn quote_errors_become_rejections_not_failures() {
        let e: arbytron_model::venue::VenueError = Error::Quote(QuoteError::BeyondLimit("x".into())).into();
        assert!(matches!(e, arbytron_model::venue::VenueError::Rejected { .. }));
        assert!(!e.is_transient());
    }
}
