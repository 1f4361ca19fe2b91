//! The SDK's pool math against the contract, trade by trade, on a real EVM (anvil).
//!
//! Every swap is sent with zero slippage allowance, i.e. with the SDK's predicted token
//! amount as the contract's bound: if the SDK were off by one base unit in the pool's
//! disfavour the swap would revert, and in the other direction the event amounts differ.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use alloy::primitives::U256;
use arbytron_amm::bindings::FixedProductMarketMaker;
use arbytron_amm::quote::{self, Bounds, SwapIntent, return_for_tokens};
use arbytron_amm::{MarketSpec, SwapResult};
use arbytron_sdk::amm;
use common::{Env, PCT, exact};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEED: u64 = 0x0a4b_7c1e_2026;
const TRADES: usize = 240;

/// A random amount in [1, max], spread over orders of magnitude (log-uniform-ish).
fn spread(rng: &mut ChaCha8Rng, max: u128) -> u128 {
    let max = max.max(1);
    let digits = max.ilog10();
    let cap = 10u128.pow(rng.gen_range(0..=digits)).min(max);
    rng.gen_range(1..=cap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_trades_match_the_sdk_exactly() {
    let env = Env::start().await;
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);

    // Ten pools: 2 to 5 outcomes, fees from zero to an awkward 7.77%, sizes from a tenth of
    // a cent to ten million dollars, half of them shaped by a distribution hint.
    let fees = [0, 3 * PCT / 10, PCT, 2 * PCT, 777 * PCT / 100, 1_234_567_891_234_567];
    let sizes: [u128; 6] = [1_000, 100_000, 10_000_000, 1_000_000_000, 100_000_000_000, 10_000_000_000_000];
    let mut pools = Vec::new();
    let mut shared = None;
    for k in 0..10 {
        let outcomes = 2 + k % 4;
        let fee = fees[k % fees.len()];
        let size = sizes[(k * 7 + 3) % sizes.len()];
        let hint: Option<Vec<u128>> = (k % 2 == 1).then(|| (0..outcomes).map(|_| rng.gen_range(1..=100u128)).collect());
        let mut spec = MarketSpec::new(format!("random pool {k}"), outcomes, fee);
        if let Some(d) = &shared {
            spec = spec.sharing(d);
        }
        let (d, _lp) = env.funded_market(spec, size, hint.as_deref()).await;
        shared.get_or_insert(d.clone());
        pools.push(d);
    }
    let first = pools[0].clone();
    let trader = env.trader(&first, 1_000_000_000_000_000, exact()).await;

    // What we expect the chain to hold, advanced only by the SDK's predictions.
    let mut tracked: Vec<Vec<u128>> = Vec::new();
    let mut held: Vec<Vec<u128>> = Vec::new();
    for d in &pools {
        tracked.push(trader.pool_state(d.pool).await.unwrap().balances);
        held.push(vec![0; d.outcomes]);
    }
    let mut fees_expected = vec![0u128; pools.len()];
    let mut cash = trader.collateral_balance(first.pool).await.unwrap();

    let (mut buys, mut sells, mut skipped) = (0usize, 0usize, 0usize);
    let mut attempts = 0;
    while buys + sells < TRADES {
        attempts += 1;
        assert!(attempts < 2_000, "too many untradeable draws ({skipped} skipped)");
        let p = rng.gen_range(0..pools.len());
        let d = &pools[p];
        let outcome = rng.gen_range(0..d.outcomes);
        let state = trader.pool_state(d.pool).await.unwrap();
        assert_eq!(state.balances, tracked[p], "pool {p} balances drifted from the SDK's predictions");

        let have = held[p][outcome];
        let intent = if have > 0 && rng.gen_bool(0.45) {
            if rng.gen_bool(0.5) {
                SwapIntent::SellTokens { tokens: spread(&mut rng, have) }
            } else {
                match return_for_tokens(&state.balances, d.fee_wad, outcome, have).unwrap() {
                    0 => SwapIntent::SellTokens { tokens: have },
                    max => SwapIntent::SellFor { return_amount: spread(&mut rng, max) },
                }
            }
        } else {
            let smallest = *state.balances.iter().min().unwrap();
            SwapIntent::BuyWith { investment: spread(&mut rng, (smallest / 2).max(1)) }
        };
        let bounds = Bounds { max_slippage_ppm: 0, limit: None };
        let q = match quote::quote(&state.balances, d.fee_wad, outcome, intent, bounds) {
            Ok(q) => q,
            Err(_) => {
                skipped += 1; // e.g. a 1-unit sell that returns nothing
                continue;
            }
        };

        // The contract's own view functions agree before the trade...
        let fpmm = FixedProductMarketMaker::new(d.pool, env.node.provider());
        let onchain = match intent.action() {
            arbytron_model::venue::Action::Buy => {
                fpmm.calcBuyAmount(U256::from(q.collateral), U256::from(outcome)).call().await.unwrap()
            }
            arbytron_model::venue::Action::Sell => {
                fpmm.calcSellAmount(U256::from(q.collateral), U256::from(outcome)).call().await.unwrap()
            }
        };
        assert_eq!(onchain, U256::from(q.tokens), "calc view vs SDK, pool {p} outcome {outcome} {intent:?}");

        // ...and the trade itself does exactly what was predicted.
        let out = trader.execute(d.pool, q.clone(), None).await.unwrap();
        assert_eq!(
            out.result,
            SwapResult::Done { collateral: q.collateral, pool_fee: q.pool_fee, tokens: q.tokens },
            "pool {p} ({} outcomes, fee {}) outcome {outcome} {intent:?} at {:?}",
            d.outcomes,
            d.fee_wad,
            state.balances
        );
        let n = d.outcomes;
        match intent.action() {
            arbytron_model::venue::Action::Buy => {
                let net = q.collateral - q.pool_fee;
                for b in tracked[p].iter_mut() {
                    *b += net;
                }
                tracked[p][outcome] -= q.tokens;
                held[p][outcome] += q.tokens;
                cash -= q.collateral;
                assert_eq!(q.pool_fee, amm::buy_fee(d.fee_wad, q.collateral));
                buys += 1;
            }
            arbytron_model::venue::Action::Sell => {
                let gross = q.collateral + q.pool_fee;
                tracked[p][outcome] += q.tokens;
                for b in tracked[p].iter_mut() {
                    *b -= gross;
                }
                held[p][outcome] -= q.tokens;
                cash += q.collateral;
                sells += 1;
            }
        }
        fees_expected[p] += q.pool_fee;
        assert_eq!(trader.outcome_balances(d.pool).await.unwrap(), held[p], "our tokens in pool {p} ({n} outcomes)");
        assert_eq!(trader.collateral_balance(d.pool).await.unwrap(), cash, "our collateral");
    }

    for (p, d) in pools.iter().enumerate() {
        let fpmm = FixedProductMarketMaker::new(d.pool, env.node.provider());
        let collected = fpmm.collectedFees().call().await.unwrap();
        assert_eq!(collected, U256::from(fees_expected[p]), "fee pool of pool {p}");
        assert_eq!(trader.pool_state(d.pool).await.unwrap().balances, tracked[p]);
    }
    assert!(buys >= 50 && sells >= 50, "a mix of trades: {buys} buys, {sells} sells");
    eprintln!("{buys} buys and {sells} sells matched the SDK exactly ({skipped} untradeable draws skipped)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_buy_vector_holds_on_chain() {
    // Polymarket's amm-maths vector: 1,000,000 into [1e8, 1e8] at 1% buys 1,970,295.
    let env = Env::start().await;
    let (d, _lp) = env.funded_market(MarketSpec::new("vector", 2, PCT), 100_000_000, None).await;
    let fpmm = FixedProductMarketMaker::new(d.pool, env.node.provider());
    let onchain = fpmm.calcBuyAmount(U256::from(1_000_000u64), U256::ZERO).call().await.unwrap();
    assert_eq!(onchain, U256::from(1_970_295u64));
    assert_eq!(amm::calc_buy_amount(&[100_000_000, 100_000_000], PCT, 1_000_000, 0).unwrap(), 1_970_295);
}
