//! The execution leg on a real EVM (anvil): orders, slippage, reverts, liquidity, settlement.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::sync::Arc;
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use arbytron_amm::bindings::FixedProductMarketMaker;
use arbytron_amm::devnet::AnvilOptions;
use arbytron_amm::{AmmFeed, Error, ExecConfig, FeedConfig, MarketSpec, PoolMarket, PoolSpec, SwapIntent, SwapResult};
use arbytron_model::venue::{Action, ExecutionVenue, FillState, OrderRequest, OrderStatus, TimeInForce, VenueError};
use arbytron_model::{MarketStatus, Money, Price, Qty, Side};
use arbytron_sdk::amm;
use common::{Env, PCT, dollars};

fn order(id: &str, pool: Address, outcome: usize, side: Side, action: Action) -> OrderRequest {
    OrderRequest {
        client_order_id: id.into(),
        market: PoolMarket::new(pool, outcome).key(),
        side,
        action,
        quantity: Qty::ZERO,
        limit_price: Price::ONE,
        time_in_force: TimeInForce::FillOrKill,
        amount: None,
    }
}

async fn nonce(env: &Env, who: Address) -> u64 {
    env.node.provider().get_transaction_count(who).await.unwrap()
}

async fn native(env: &Env, who: Address) -> U256 {
    env.node.provider().get_balance(who).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_whose_price_moved_is_refused_before_sending_and_costs_nothing() {
    let env = Env::start().await;
    let (d, _lp) = env.funded_market(MarketSpec::new("moved", 2, 2 * PCT), dollars(1_000), None).await;
    let cfg = ExecConfig { max_slippage_ppm: 10_000, ..ExecConfig::default() };
    let us = env.trader(&d, dollars(100), cfg.clone()).await;
    let other = env.trader(&d, dollars(1_000), cfg).await;
    // Approvals out of the way, so the swap under test is one transaction or none.
    us.swap(d.pool, 0, SwapIntent::BuyWith { investment: 1_000 }, None).await.unwrap();

    let quote = us.quote(d.pool, 0, SwapIntent::BuyWith { investment: dollars(10) }, None).await.unwrap();
    let moved = other.swap(d.pool, 0, SwapIntent::BuyWith { investment: dollars(300) }, None).await.unwrap();
    assert!(matches!(moved.result, SwapResult::Done { .. }));

    let (cash, tokens, gas, n) = (
        us.collateral_balance(d.pool).await.unwrap(),
        us.outcome_balances(d.pool).await.unwrap(),
        native(&env, us.address()).await,
        nonce(&env, us.address()).await,
    );
    let out = us.execute(d.pool, quote, None).await.unwrap();
    match &out.result {
        SwapResult::Refused { reason } => assert!(reason.contains("minimum buy amount not reached"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!((out.tx_hash, out.gas_used, out.gas_cost), (None, 0, Money::ZERO));
    assert_eq!(us.collateral_balance(d.pool).await.unwrap(), cash);
    assert_eq!(us.outcome_balances(d.pool).await.unwrap(), tokens);
    assert_eq!(native(&env, us.address()).await, gas, "nothing sent, no gas spent");
    assert_eq!(nonce(&env, us.address()).await, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_front_run_swap_reverts_on_chain_and_is_a_failed_leg_that_lost_only_gas() {
    let env = Env::start_with(AnvilOptions::default()).await;
    let (d, _lp) = env.funded_market(MarketSpec::new("front-run", 2, 2 * PCT), dollars(1_000), None).await;
    let cfg = ExecConfig { max_slippage_ppm: 10_000, ..ExecConfig::default() };
    let us = Arc::new(env.trader(&d, dollars(100), cfg.clone()).await);
    let other = env.trader(&d, dollars(1_000), cfg).await;
    us.swap(d.pool, 0, SwapIntent::BuyWith { investment: 1_000 }, None).await.unwrap();
    other.swap(d.pool, 0, SwapIntent::BuyWith { investment: 1_000 }, None).await.unwrap();

    let cash = us.collateral_balance(d.pool).await.unwrap();
    let tokens = us.outcome_balances(d.pool).await.unwrap();
    let gas_before = native(&env, us.address()).await;

    // Blocks only on demand from here: our swap waits in the mempool while another trader's
    // bigger buy of the same outcome, paying a higher tip, is ordered before it.
    env.node.set_automine(false).await.unwrap();
    let mut o = order("front-run-1", d.pool, 0, Side::Yes, Action::Buy);
    o.amount = Some(Money::from_dollars(10));
    o.quantity = Qty::from_contracts(19);
    o.limit_price = Price::parse("0.99").unwrap();
    let leg = tokio::spawn({
        let us = us.clone();
        async move { us.place_order(&o).await }
    });
    wait_for_pending(&env, 1).await;

    let call = FixedProductMarketMaker::buyCall {
        investmentAmount: U256::from(dollars(300)),
        outcomeIndex: U256::ZERO,
        minOutcomeTokensToBuy: U256::ZERO,
    };
    let gwei = 1_000_000_000u128;
    let tx = TransactionRequest::default()
        .with_from(other.address())
        .with_to(d.pool)
        .with_input(call.abi_encode())
        .with_gas_limit(500_000)
        .with_max_fee_per_gas(1_000 * gwei)
        .with_max_priority_fee_per_gas(500 * gwei);
    let front = *other.chain().provider().send_transaction(tx).await.unwrap().tx_hash();
    wait_for_pending(&env, 2).await;
    env.node.mine().await.unwrap();

    let report = tokio::time::timeout(Duration::from_secs(30), leg).await.expect("leg finishes").unwrap().unwrap();
    env.node.set_automine(true).await.unwrap();

    let front_receipt = env.node.provider().get_transaction_receipt(front).await.unwrap().unwrap();
    assert!(front_receipt.status(), "the front-runner's trade went through");
    match &report.status {
        OrderStatus::Rejected { reason } => assert!(reason.contains("minimum buy amount not reached"), "{reason}"),
        s => panic!("expected a failed leg, got {s:?}"),
    }
    assert_eq!((report.filled, report.notional), (Qty::ZERO, Money::ZERO));
    let ours =
        env.node.provider().get_transaction_receipt(report.venue_order_id.parse().unwrap()).await.unwrap().unwrap();
    assert!(!ours.status(), "our swap was mined and reverted");
    assert_eq!(ours.block_number, front_receipt.block_number, "same block, front-runner first");
    assert!(front_receipt.transaction_index < ours.transaction_index);

    // Nothing lost but the gas, and the gas is what the report says.
    let spent = gas_before - native(&env, us.address()).await;
    assert_eq!(spent, U256::from(ours.gas_used) * U256::from(ours.effective_gas_price));
    let expected_fee =
        arbytron_amm::units::gas_cost(ours.gas_used, ours.effective_gas_price, us.chain().config().native_price)
            .unwrap();
    assert_eq!(report.fee, expected_fee);
    assert!(report.fee.is_positive());
    assert_eq!(us.collateral_balance(d.pool).await.unwrap(), cash);
    assert_eq!(us.outcome_balances(d.pool).await.unwrap(), tokens);
}

async fn wait_for_pending(env: &Env, n: u64) {
    for _ in 0..2_000 {
        if env.node.pending_count().await.unwrap() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("mempool never reached {n} transactions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_map_sides_report_amounts_stream_fills_and_survive_a_restart() {
    let env = Env::start().await;
    let (d, _lp) = env.funded_market(MarketSpec::new("orders", 2, PCT), dollars(1_000), None).await;
    let key = env.account_key().await;
    let us = env.trader_with_key(&key, ExecConfig::default()).await;
    env.deployer.mint(d.collateral, us.address(), dollars(100)).await.unwrap();
    let mut fills = us.fills().await.unwrap();

    // Buy 10 YES by quantity: the SDK sizes the investment.
    let before = us.pool_state(d.pool).await.unwrap();
    let mut buy = order("o-1", d.pool, 0, Side::Yes, Action::Buy);
    buy.quantity = Qty::from_contracts(10);
    buy.limit_price = Price::parse("0.60").unwrap();
    let r1 = us.place_order(&buy).await.unwrap();
    let investment = amm::investment_for_tokens(&before.balances, d.fee_wad, 0, 10_000_000).unwrap();
    let tokens = amm::calc_buy_amount(&before.balances, d.fee_wad, investment, 0).unwrap();
    let pool_fee = amm::buy_fee(d.fee_wad, investment);
    assert_eq!(r1.status, OrderStatus::Filled);
    assert_eq!(r1.filled, Qty::from_micros(tokens as i64));
    assert!(r1.filled >= buy.quantity);
    assert_eq!(r1.notional, Money::from_micros((investment - pool_fee) as i64));
    assert!(r1.fee > Money::from_micros(pool_fee as i64), "gas (approval + swap) is part of the fee");
    let fill = fills.recv().await.unwrap();
    assert_eq!((fill.trade_id.as_str(), fill.side, fill.action), (r1.venue_order_id.as_str(), Side::Yes, Action::Buy));
    assert_eq!((fill.quantity, fill.state, fill.market.clone()), (r1.filled, FillState::Confirmed, buy.market.clone()));
    assert!(fill.price <= buy.limit_price);

    // Approvals are cached: the next buy is exactly one transaction.
    let n = nonce(&env, us.address()).await;
    let mut no = order("o-2", d.pool, 0, Side::No, Action::Buy);
    no.amount = Some(Money::from_dollars(5));
    no.quantity = Qty::from_contracts(1);
    let r2 = us.place_order(&no).await.unwrap();
    assert_eq!(r2.status, OrderStatus::Filled);
    assert_eq!(nonce(&env, us.address()).await, n + 1);
    let held = us.outcome_balances(d.pool).await.unwrap();
    assert_eq!(held, vec![tokens, r2.filled.micros() as u128], "NO of <pool>:0 is outcome 1's token");

    // Positions: one net position on <pool>:0; balance: the collateral left.
    let pos = us.positions().await.unwrap();
    assert_eq!(pos.len(), 1);
    assert_eq!(pos[0].market, PoolMarket::new(d.pool, 0).key());
    assert_eq!(pos[0].yes_position, Qty::from_micros(held[0] as i64 - held[1] as i64));
    let cash = Money::from_micros((dollars(100) - investment - dollars(5)) as i64);
    assert_eq!(us.balance().await.unwrap(), cash);

    // Sell 4 YES at no less than 0.30: at most 4 tokens go, for the return they cover.
    let state = us.pool_state(d.pool).await.unwrap();
    let mut sell = order("o-3", d.pool, 0, Side::Yes, Action::Sell);
    sell.quantity = Qty::from_contracts(4);
    sell.limit_price = Price::parse("0.30").unwrap();
    let r3 = us.place_order(&sell).await.unwrap();
    let ret = arbytron_amm::quote::return_for_tokens(&state.balances, d.fee_wad, 0, 4_000_000).unwrap();
    let sold = amm::calc_sell_amount(&state.balances, d.fee_wad, ret, 0).unwrap();
    let sell_fee = amm::sell_fee(d.fee_wad, ret).unwrap();
    assert_eq!(r3.filled, Qty::from_micros(sold as i64));
    assert!(sold <= 4_000_000 && sold > 3_999_000, "sells all but rounding dust: {sold}");
    assert_eq!(r3.notional, Money::from_micros((ret + sell_fee) as i64));
    let expect_status =
        if sold == 4_000_000 { OrderStatus::Filled } else { OrderStatus::PartiallyFilled { resting: false } };
    assert_eq!(r3.status, expect_status);
    assert_eq!(us.balance().await.unwrap(), cash + Money::from_micros(ret as i64));

    // A retried order is answered from memory, not traded again.
    let n = nonce(&env, us.address()).await;
    assert_eq!(us.place_order(&buy).await.unwrap(), r1);
    assert_eq!(nonce(&env, us.address()).await, n);

    // Beyond the limit at the current state: refused before sending.
    let mut cheap = order("o-4", d.pool, 0, Side::Yes, Action::Buy);
    cheap.quantity = Qty::from_contracts(1);
    cheap.limit_price = Price::parse("0.01").unwrap();
    let r4 = us.place_order(&cheap).await.unwrap();
    assert!(matches!(&r4.status, OrderStatus::Rejected { reason } if reason.contains("beyond limit")), "{r4:?}");
    assert_eq!((r4.fee, nonce(&env, us.address()).await), (Money::ZERO, n));

    // Requests the venue cannot express.
    let mut gtc = buy.clone();
    gtc.client_order_id = "o-5".into();
    gtc.time_in_force = TimeInForce::GoodTillCanceled;
    assert!(matches!(us.place_order(&gtc).await, Err(VenueError::Invalid { .. })));
    assert!(matches!(us.cancel_order(&buy.market, &r1.venue_order_id).await, Err(VenueError::Invalid { .. })));
    assert!(us.open_orders().await.unwrap().is_empty());
    let (d3, _) = env.funded_market(MarketSpec::new("three", 3, PCT).sharing(&d), dollars(10), None).await;
    let mut no3 = order("o-6", d3.pool, 1, Side::No, Action::Buy);
    no3.amount = Some(Money::from_dollars(1));
    assert!(matches!(us.place_order(&no3).await, Err(VenueError::Invalid { .. })));

    // A restarted process finds its swaps on chain by client order id.
    let restarted = env.trader_with_key(&key, ExecConfig::default()).await;
    let found = restarted
        .find_order(&OrderRequest { client_order_id: "o-1".into(), ..buy.clone() })
        .await
        .unwrap()
        .expect("found on chain");
    assert_eq!(
        (found.venue_order_id.as_str(), found.filled, found.notional),
        (r1.venue_order_id.as_str(), r1.filled, r1.notional)
    );
    assert!(found.fee > Money::from_micros(pool_fee as i64) && found.fee < r1.fee, "swap gas only, no approval");
    let found3 = restarted
        .find_order(&OrderRequest { client_order_id: "o-3".into(), ..sell.clone() })
        .await
        .unwrap()
        .expect("sell found");
    assert_eq!((found3.filled, found3.notional), (r3.filled, r3.notional));
    assert_eq!(
        restarted.find_order(&OrderRequest { client_order_id: "o-4".into(), ..buy.clone() }).await.unwrap(),
        None,
        "refused orders left nothing"
    );
    assert_eq!(
        restarted.find_order(&OrderRequest { client_order_id: "never-sent".into(), ..buy.clone() }).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funding_round_trips_shares_and_tokens_exactly() {
    let env = Env::start().await;
    // First funding with a hint: the pool keeps F*hint/max(hint), the rest comes back.
    let d = env.deployer.market(&MarketSpec::new("funding", 3, 2 * PCT)).await.unwrap();
    let f1 = dollars(1_000);
    let lp1 = env.trader(&d, f1, ExecConfig::default()).await;
    let hint = [1u128, 2, 5];
    let predicted = amm::add_funding(&[0, 0, 0], 0, f1, Some(&hint)).unwrap();
    let added = lp1.add_liquidity(d.pool, f1, Some(&hint)).await.unwrap();
    assert_eq!(added.shares_minted, predicted.shares);
    assert_eq!(added.shares_minted, f1);
    assert_eq!(added.amounts_added, predicted.kept);
    assert_eq!(added.amounts_returned, predicted.returned);
    assert_eq!(lp1.outcome_balances(d.pool).await.unwrap(), predicted.returned);
    let state = lp1.pool_state(d.pool).await.unwrap();
    assert_eq!((state.balances.clone(), state.total_shares), (predicted.kept.clone(), f1));
    assert_eq!((lp1.tracked_lp_shares(d.pool), lp1.lp_shares(d.pool).await.unwrap()), (f1, f1));
    assert_eq!(lp1.collateral_balance(d.pool).await.unwrap(), 0);

    // First funding without a hint: a full set stays, nothing comes back.
    let (db, lpb) = env.funded_market(MarketSpec::new("plain", 2, 0).sharing(&d), dollars(50), None).await;
    assert_eq!(lpb.pool_state(db.pool).await.unwrap().balances, vec![dollars(50), dollars(50)]);
    assert_eq!(lpb.outcome_balances(db.pool).await.unwrap(), vec![0, 0]);

    // A hint after the first funding is refused by both the SDK and the contract.
    env.deployer.mint(d.collateral, lp1.address(), 10).await.unwrap();
    assert_eq!(
        amm::add_funding(&state.balances, state.total_shares, 10, Some(&hint)),
        Err(amm::AmmError::HintAfterInitialFunding)
    );
    match lp1.add_liquidity(d.pool, 10, Some(&hint)).await {
        Err(Error::Reverted { reason }) => assert!(reason.contains("cannot use distribution hint"), "{reason}"),
        other => panic!("expected a revert, got {other:?}"),
    }

    // Trading accrues fees to the sole LP, who withdraws exactly them.
    let trader = env.trader(&d, dollars(500), ExecConfig::default()).await;
    let mut fees = 0u128;
    for (i, x) in [(0usize, dollars(40)), (2, dollars(7)), (1, dollars(90))] {
        let out = trader.swap(d.pool, i, SwapIntent::BuyWith { investment: x }, None).await.unwrap();
        let SwapResult::Done { pool_fee, .. } = out.result else { panic!("{:?}", out.result) };
        assert_eq!(pool_fee, amm::buy_fee(d.fee_wad, x));
        fees += pool_fee;
    }
    let out = trader.swap(d.pool, 0, SwapIntent::SellFor { return_amount: dollars(3) }, None).await.unwrap();
    let SwapResult::Done { pool_fee, .. } = out.result else { panic!("{:?}", out.result) };
    assert_eq!(pool_fee, amm::sell_fee(d.fee_wad, dollars(3)).unwrap());
    fees += pool_fee;
    assert_eq!(lp1.fees_withdrawable(d.pool).await.unwrap(), fees);
    let cash = lp1.collateral_balance(d.pool).await.unwrap();
    let (paid, _) = lp1.withdraw_fees(d.pool).await.unwrap();
    assert_eq!(paid, fees);
    assert_eq!(lp1.collateral_balance(d.pool).await.unwrap(), cash + fees);
    assert_eq!(lp1.fees_withdrawable(d.pool).await.unwrap(), 0);

    // A later funding keeps the pool's proportions and returns the surplus.
    let f2 = dollars(250);
    let lp2 = env.trader(&d, f2, ExecConfig::default()).await;
    let state = lp2.pool_state(d.pool).await.unwrap();
    let predicted = amm::add_funding(&state.balances, state.total_shares, f2, None).unwrap();
    let added = lp2.add_liquidity(d.pool, f2, None).await.unwrap();
    assert_eq!(
        (added.shares_minted, &added.amounts_added, &added.amounts_returned),
        (predicted.shares, &predicted.kept, &predicted.returned)
    );
    assert_eq!(lp2.outcome_balances(d.pool).await.unwrap(), predicted.returned);
    let after: Vec<u128> = state.balances.iter().zip(&predicted.kept).map(|(b, k)| b + k).collect();
    let now = lp2.pool_state(d.pool).await.unwrap();
    assert_eq!((now.balances.clone(), now.total_shares), (after, state.total_shares + predicted.shares));

    // More trading, then a partial removal: tokens exactly as predicted, accrued fees paid out.
    for (i, x) in [(1usize, dollars(60)), (0, dollars(25))] {
        trader.swap(d.pool, i, SwapIntent::BuyWith { investment: x }, None).await.unwrap();
    }
    let burn = lp1.tracked_lp_shares(d.pool) * 2 / 5;
    let state = lp1.pool_state(d.pool).await.unwrap();
    let predicted = amm::remove_funding(&state.balances, state.total_shares, burn).unwrap();
    let due = lp1.fees_withdrawable(d.pool).await.unwrap();
    assert!(due > 0, "LP1 earned part of the later fees");
    let held = lp1.outcome_balances(d.pool).await.unwrap();
    let cash = lp1.collateral_balance(d.pool).await.unwrap();
    let removed = lp1.remove_liquidity(d.pool, burn).await.unwrap();
    assert_eq!((removed.shares_burnt, &removed.amounts_removed, removed.fees_collected), (burn, &predicted, due));
    let expect: Vec<u128> = held.iter().zip(&predicted).map(|(h, r)| h + r).collect();
    assert_eq!(lp1.outcome_balances(d.pool).await.unwrap(), expect);
    assert_eq!(lp1.collateral_balance(d.pool).await.unwrap(), cash + due);
    assert_eq!(lp1.tracked_lp_shares(d.pool), f1 - burn);
    assert_eq!(lp1.lp_shares(d.pool).await.unwrap(), f1 - burn);

    // LP2 leaves entirely and merges its complete sets back into collateral.
    let state = lp2.pool_state(d.pool).await.unwrap();
    let all = lp2.lp_shares(d.pool).await.unwrap();
    let predicted = amm::remove_funding(&state.balances, state.total_shares, all).unwrap();
    let removed = lp2.remove_liquidity(d.pool, all).await.unwrap();
    assert_eq!(removed.amounts_removed, predicted);
    assert_eq!(lp2.tracked_lp_shares(d.pool), 0);
    let tokens = lp2.outcome_balances(d.pool).await.unwrap();
    let sets = *tokens.iter().min().unwrap();
    let cash = lp2.collateral_balance(d.pool).await.unwrap();
    lp2.merge(d.pool, sets).await.unwrap();
    assert_eq!(lp2.collateral_balance(d.pool).await.unwrap(), cash + sets);
    assert_eq!(lp2.outcome_balances(d.pool).await.unwrap(), tokens.iter().map(|t| t - sets).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolution_settles_the_listing_and_redeems_the_winners() {
    let env = Env::start().await;
    let (d, _lp) = env.funded_market(MarketSpec::new("settle", 2, PCT), dollars(100), None).await;
    let us = env.trader(&d, dollars(20), ExecConfig::default()).await;
    us.swap(d.pool, 0, SwapIntent::BuyWith { investment: dollars(10) }, None).await.unwrap();
    us.swap(d.pool, 1, SwapIntent::BuyWith { investment: dollars(4) }, None).await.unwrap();
    let held = us.outcome_balances(d.pool).await.unwrap();

    let feed = AmmFeed::new(FeedConfig {
        rpc_url: env.node.url().clone(),
        pools: vec![PoolSpec { address: d.pool, title: "settle".into(), outcome_names: vec![], closes_at: 0 }],
        ..FeedConfig::default()
    })
    .unwrap();
    let open = feed.listings().await.unwrap();
    assert!(open.iter().all(|m| m.status == MarketStatus::Open));

    env.deployer.report_payouts(d.conditional_tokens, d.question_id, &[1, 0]).await.unwrap();
    let settled = feed.listings().await.unwrap();
    assert_eq!(settled[0].status, MarketStatus::Settled { result: Some(Side::Yes) });
    assert_eq!(settled[1].status, MarketStatus::Settled { result: Some(Side::No) });

    // Settlement goes through the venue interface, per market: the first of the
    // pool's markets redeems every token we hold, the second finds nothing to do.
    let cash = us.collateral_balance(d.pool).await.unwrap();
    let eth = env.node.provider().get_balance(us.address()).await.unwrap();
    let first = ExecutionVenue::redeem(&us, &PoolMarket::new(d.pool, 0).key()).await.unwrap().unwrap();
    assert_eq!(first.collected, Money::from_micros(held[0] as i64), "each winning token pays one unit of collateral");
    assert!(first.cost.is_positive(), "the redeem transaction's gas is reported: {}", first.cost);
    assert_eq!(us.collateral_balance(d.pool).await.unwrap(), cash + held[0]);
    assert_eq!(us.outcome_balances(d.pool).await.unwrap(), vec![0, 0]);
    let second = ExecutionVenue::redeem(&us, &PoolMarket::new(d.pool, 1).key()).await.unwrap().unwrap();
    assert_eq!(second, Default::default(), "nothing left to collect, no transaction");
    let spent = eth - env.node.provider().get_balance(us.address()).await.unwrap();
    assert!(spent > U256::ZERO, "one redeem transaction was paid for");
    // Redeeming again after a success (a retry) is harmless too.
    let again = ExecutionVenue::redeem(&us, &PoolMarket::new(d.pool, 0).key()).await.unwrap().unwrap();
    assert_eq!(again, Default::default());
    assert_eq!(env.node.provider().get_balance(us.address()).await.unwrap(), eth - spent, "no second transaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_waits_for_its_configured_confirmations() {
    let env = Env::start().await;
    let (d, _lp) = env.funded_market(MarketSpec::new("confirmations", 2, PCT), dollars(100), None).await;
    let key = env.account_key().await;
    // Approve with a 1-confirmation instance first; the 3-confirmation one finds the
    // approval on chain, so its swap is a single transaction.
    let quick = env.trader_with_key(&key, ExecConfig::default()).await;
    env.deployer.mint(d.collateral, quick.address(), dollars(10)).await.unwrap();
    quick.swap(d.pool, 0, SwapIntent::BuyWith { investment: 1_000 }, None).await.unwrap();
    let held = quick.outcome_balances(d.pool).await.unwrap()[0];

    let tx = arbytron_amm::TxConfig { confirmations: 3, ..common::tx_config() };
    let chain = Arc::new(arbytron_amm::Chain::connect(env.node.url(), &key, tx).await.unwrap());
    let us = Arc::new(arbytron_amm::AmmTrader::new(chain, ExecConfig::default()));
    let swap = tokio::spawn({
        let us = us.clone();
        let pool = d.pool;
        async move { us.swap(pool, 0, SwapIntent::BuyWith { investment: dollars(1) }, None).await }
    });
    // Automine puts the swap in a block at once; nothing else makes blocks.
    let mut mined = false;
    for _ in 0..2_000 {
        if us.outcome_balances(d.pool).await.unwrap()[0] > held {
            mined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(mined, "the swap was mined");
    let mined_in = env.node.provider().get_block_number().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!swap.is_finished(), "finished with 1 of 3 confirmations");
    env.node.mine().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!swap.is_finished(), "finished with 2 of 3 confirmations");
    env.node.mine().await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), swap).await.expect("finishes").unwrap().unwrap();
    assert_eq!(out.block, Some(mined_in));
    assert!(matches!(out.result, SwapResult::Done { .. }));
}

/// A swap whose receipt never came (the node took the transaction, no block
/// yet) is not swapped again when the executor sends the order once more:
/// while our transaction is pending the venue says "not yet", and once it is
/// mined the venue answers from the chain. One transaction, one swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_sent_again_after_a_lost_receipt_swaps_once() {
    let env = Env::start().await;
    let (d, _lp) = env.funded_market(MarketSpec::new("lost-receipt", 2, 2 * PCT), dollars(1_000), None).await;
    let key = env.account_key().await;
    let tx = arbytron_amm::TxConfig { receipt_timeout: Duration::from_millis(800), ..common::tx_config() };
    let chain = Arc::new(arbytron_amm::Chain::connect(env.node.url(), &key, tx).await.unwrap());
    env.deployer.mint(d.collateral, chain.address(), dollars(100)).await.unwrap();
    let us = arbytron_amm::AmmTrader::new(chain, ExecConfig::default());
    // Approvals out of the way while blocks are still mined.
    us.swap(d.pool, 0, SwapIntent::BuyWith { investment: 1_000 }, None).await.unwrap();
    let (tokens0, n0) = (us.outcome_balances(d.pool).await.unwrap(), nonce(&env, us.address()).await);

    env.node.set_automine(false).await.unwrap();
    let o = OrderRequest { amount: Some(Money::from_dollars(5)), ..order("lost-1", d.pool, 0, Side::Yes, Action::Buy) };
    let first = us.place_order(&o).await.unwrap_err();
    assert!(first.is_transient(), "no receipt: outcome unknown, not a failure ({first})");
    // Sent again while the transaction waits in the pool: not yet, and nothing new is sent.
    let again = us.place_order(&o).await.unwrap_err();
    assert!(again.is_transient() && again.to_string().contains("on its way"), "{again}");
    assert!(matches!(us.find_order(&o).await, Err(VenueError::Unavailable { .. })), "pending is not 'never'");
    env.node.mine().await.unwrap();
    let report = us.place_order(&o).await.unwrap();
    assert_eq!(report.status, OrderStatus::Filled);
    assert_eq!(nonce(&env, us.address()).await, n0 + 1, "one transaction in all");
    let tokens = us.outcome_balances(d.pool).await.unwrap();
    assert_eq!(
        u128::try_from(report.filled.micros()).unwrap(),
        tokens[0] - tokens0[0],
        "what the venue reported is what was bought, once"
    );
    env.node.set_automine(true).await.unwrap();
}
