//! Turning what the trader wants into exact pool amounts and on-chain bounds, with the SDK's
//! pool math (the same formulas the contract runs, so a quote is the contract's answer at the
//! balances it was computed from).
//!
//! Two limits protect a swap, and the stricter one is sent to the contract:
//! - slippage: the token amount may be at most `max_slippage_ppm` worse than quoted;
//! - price: the average price, pool fee included, may be no worse than the order's limit.
//!
//! If the pool's current state already violates the price limit the swap is refused before
//! anything is sent.

use arbytron_model::Price;
use arbytron_model::venue::Action;
use arbytron_sdk::amm;

/// What a swap should achieve. Amounts are base units (6 decimals).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SwapIntent {
    /// Invest exactly this much collateral (the pool's `investmentAmount`, fee included).
    BuyWith { investment: u128 },
    /// Invest the least collateral that buys at least this many tokens.
    BuyTokens { tokens: u128 },
    /// Receive exactly this much collateral (the pool's `returnAmount`, after the fee).
    SellFor { return_amount: u128 },
    /// Receive the most collateral that this many tokens can pay for.
    SellTokens { tokens: u128 },
}

impl SwapIntent {
    pub fn action(&self) -> Action {
        match self {
            SwapIntent::BuyWith { .. } | SwapIntent::BuyTokens { .. } => Action::Buy,
            SwapIntent::SellFor { .. } | SwapIntent::SellTokens { .. } => Action::Sell,
        }
    }
}

/// How far a swap may move against the quote.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Parts per million of the quoted token amount.
    pub max_slippage_ppm: u32,
    /// Worst average price per token, pool fee included (buy: highest; sell: lowest).
    pub limit: Option<Price>,
}

/// A priced swap, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapQuote {
    pub outcome: usize,
    pub action: Action,
    /// Buy: the investment (fee included). Sell: the collateral returned (fee excluded).
    pub collateral: u128,
    /// Tokens bought or sold at the quoted balances.
    pub tokens: u128,
    /// Buy: `minOutcomeTokensToBuy`. Sell: `maxOutcomeTokensToSell`.
    pub token_bound: u128,
    /// The pool's fee on this swap (collateral).
    pub pool_fee: u128,
    /// The balances and fee the quote was computed from.
    pub balances: Vec<u128>,
    pub fee_wad: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("pool math: {0}")]
    Math(String),
    #[error("nothing to trade: {0}")]
    TooSmall(String),
    #[error("price beyond limit: {0}")]
    BeyondLimit(String),
}

fn math(e: amm::AmmError) -> QuoteError {
    QuoteError::Math(e.to_string())
}

const PPM: u128 = 1_000_000;

/// Price the swap at `balances` and work out the token bound to send.
pub fn quote(
    balances: &[u128],
    fee_wad: u64,
    outcome: usize,
    intent: SwapIntent,
    bounds: Bounds,
) -> Result<SwapQuote, QuoteError> {
    let slip = u128::from(bounds.max_slippage_ppm);
    let limit = bounds.limit.map(|p| p.micros() as u128);
    match intent {
        SwapIntent::BuyWith { .. } | SwapIntent::BuyTokens { .. } => {
            let investment = match intent {
                SwapIntent::BuyWith { investment } => investment,
                SwapIntent::BuyTokens { tokens } => {
                    amm::investment_for_tokens(balances, fee_wad, outcome, tokens).map_err(math)?
                }
                _ => unreachable!("buy intents only"),
            };
            if investment == 0 {
                return Err(QuoteError::TooSmall("zero investment".into()));
            }
            let tokens = amm::calc_buy_amount(balances, fee_wad, investment, outcome).map_err(math)?;
            if tokens == 0 {
                return Err(QuoteError::TooSmall(format!("investing {investment} buys no tokens")));
            }
            // Slippage: at least (1 - slip) of the quote, rounded up (the bound protects us).
            let by_slippage = tokens - tokens.saturating_mul(slip.min(PPM)) / PPM;
            // Price: investment / tokens <= limit  <=>  tokens >= investment / limit.
            let by_limit = match limit {
                Some(0) => return Err(QuoteError::BeyondLimit("a buy limit of 0 accepts nothing".into())),
                Some(l) => investment.saturating_mul(PPM).div_ceil(l),
                None => 0,
            };
            let token_bound = by_slippage.max(by_limit);
            if token_bound > tokens {
                return Err(QuoteError::BeyondLimit(format!(
                    "investing {investment} buys {tokens} tokens now, the limit needs at least {by_limit}"
                )));
            }
            Ok(SwapQuote {
                outcome,
                action: Action::Buy,
                collateral: investment,
                tokens,
                token_bound,
                pool_fee: amm::buy_fee(fee_wad, investment),
                balances: balances.to_vec(),
                fee_wad,
            })
        }
        SwapIntent::SellFor { .. } | SwapIntent::SellTokens { .. } => {
            let return_amount = match intent {
                SwapIntent::SellFor { return_amount } => return_amount,
                SwapIntent::SellTokens { tokens } => return_for_tokens(balances, fee_wad, outcome, tokens)?,
                _ => unreachable!("sell intents only"),
            };
            if return_amount == 0 {
                return Err(QuoteError::TooSmall("zero return".into()));
            }
            let tokens = amm::calc_sell_amount(balances, fee_wad, return_amount, outcome).map_err(math)?;
            // Slippage: at most (1 + slip) of the quote, rounded down (the bound protects us).
            let by_slippage = tokens.saturating_add(tokens.saturating_mul(slip) / PPM);
            // Price: return / tokens >= limit  <=>  tokens <= return / limit.
            let by_limit = match limit {
                Some(0) | None => u128::MAX,
                Some(l) => return_amount.saturating_mul(PPM) / l,
            };
            let token_bound = by_slippage.min(by_limit);
            if token_bound < tokens {
                return Err(QuoteError::BeyondLimit(format!(
                    "returning {return_amount} takes {tokens} tokens now, the limit allows at most {by_limit}"
                )));
            }
            Ok(SwapQuote {
                outcome,
                action: Action::Sell,
                collateral: return_amount,
                tokens,
                token_bound,
                pool_fee: amm::sell_fee(fee_wad, return_amount).map_err(math)?,
                balances: balances.to_vec(),
                fee_wad,
            })
        }
    }
}

/// The largest collateral return that `tokens` of `outcome` pay for: a binary search over
/// the SDK's `calc_sell_amount`, which is non-decreasing in the return amount.
pub fn return_for_tokens(balances: &[u128], fee_wad: u64, outcome: usize, tokens: u128) -> Result<u128, QuoteError> {
    // A sell merges (return + fee) full sets out of the pool, so it is bounded by the
    // smallest other balance; and a token never returns more than one unit of collateral.
    let cap = balances
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != outcome)
        .map(|(_, &b)| b.saturating_sub(1))
        .min()
        .ok_or_else(|| QuoteError::Math("pool has no other outcome".into()))?
        .min(tokens);
    let fits = |r: u128| matches!(amm::calc_sell_amount(balances, fee_wad, r, outcome), Ok(t) if t <= tokens);
    let (mut lo, mut hi) = (0u128, cap);
    // Invariant: fits(lo) (fits(0) holds trivially: selling for nothing needs no tokens).
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    Ok(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEE_2PCT: u64 = 20_000_000_000_000_000;
    const NONE: Bounds = Bounds { max_slippage_ppm: 0, limit: None };

    #[test]
    fn buy_bounds_take_the_stricter_of_slippage_and_limit() {
        let bal = [100_000_000u128, 100_000_000];
        let q = quote(&bal, FEE_2PCT, 0, SwapIntent::BuyWith { investment: 1_000_000 }, NONE).unwrap();
        assert_eq!(q.tokens, amm::calc_buy_amount(&bal, FEE_2PCT, 1_000_000, 0).unwrap());
        assert_eq!(q.token_bound, q.tokens, "zero slippage: the bound is the quote");
        assert_eq!(q.pool_fee, 20_000);

        let loose = Bounds { max_slippage_ppm: 10_000, limit: Some(Price::ONE) };
        let q = quote(&bal, FEE_2PCT, 0, SwapIntent::BuyWith { investment: 1_000_000 }, loose).unwrap();
        assert_eq!(q.token_bound, q.tokens - q.tokens / 100);

        // 1,950,489 tokens: average price ~0.5127; a limit of 0.515 binds harder than 1% slippage.
        let tight = Bounds { max_slippage_ppm: 10_000, limit: Some(Price::parse("0.515").unwrap()) };
        let q = quote(&bal, FEE_2PCT, 0, SwapIntent::BuyWith { investment: 1_000_000 }, tight).unwrap();
        assert_eq!(q.tokens, 1_950_489);
        assert_eq!(q.token_bound, (1_000_000u128 * PPM).div_ceil(515_000));
        assert!(q.token_bound <= q.tokens);

        let beyond = Bounds { max_slippage_ppm: 10_000, limit: Some(Price::parse("0.512").unwrap()) };
        let e = quote(&bal, FEE_2PCT, 0, SwapIntent::BuyWith { investment: 1_000_000 }, beyond).unwrap_err();
        assert!(matches!(e, QuoteError::BeyondLimit(_)), "{e}");
    }

    #[test]
    fn sell_bounds_take_the_stricter_of_slippage_and_limit() {
        let bal = [50_000_000u128, 200_000_000];
        let q = quote(&bal, FEE_2PCT, 0, SwapIntent::SellFor { return_amount: 500_000 }, NONE).unwrap();
        assert_eq!(q.tokens, amm::calc_sell_amount(&bal, FEE_2PCT, 500_000, 0).unwrap());
        assert_eq!(q.token_bound, q.tokens);
        let slip = Bounds { max_slippage_ppm: 5_000, limit: None };
        let q2 = quote(&bal, FEE_2PCT, 0, SwapIntent::SellFor { return_amount: 500_000 }, slip).unwrap();
        // Rounded down: never a base unit more slippage than allowed.
        assert_ne!((q.tokens * 5_000) % PPM, 0, "a case where the rounding matters");
        assert_eq!(q2.token_bound, q.tokens + q.tokens * 5_000 / PPM);
        let beyond = Bounds { max_slippage_ppm: 5_000, limit: Some(Price::parse("0.9").unwrap()) };
        assert!(matches!(
            quote(&bal, FEE_2PCT, 0, SwapIntent::SellFor { return_amount: 500_000 }, beyond),
            Err(QuoteError::BeyondLimit(_))
        ));
    }

    #[test]
    fn selling_tokens_finds_the_largest_return_they_cover() {
        for (bal, outcome) in [(vec![100_000_000u128, 100_000_000], 0), (vec![7_000_000, 90_000_000, 3_000_000], 2)] {
            for tokens in [1u128, 10, 999, 1_000_000, 2_500_000] {
                let r = return_for_tokens(&bal, FEE_2PCT, outcome, tokens).unwrap();
                if r > 0 {
                    assert!(amm::calc_sell_amount(&bal, FEE_2PCT, r, outcome).unwrap() <= tokens);
                }
                // One more unit of return needs more tokens (or is more than the pool can pay).
                if let Ok(t) = amm::calc_sell_amount(&bal, FEE_2PCT, r + 1, outcome) {
                    assert!(t > tokens, "r + 1 must need more than {tokens} tokens");
                }
            }
        }
    }

    #[test]
    fn buying_tokens_invests_enough() {
        let bal = [30_000_000u128, 70_000_000, 10_000_000, 5_000_000];
        let q = quote(&bal, FEE_2PCT, 1, SwapIntent::BuyTokens { tokens: 3_000_000 }, NONE).unwrap();
        assert!(q.tokens >= 3_000_000);
        let less = amm::calc_buy_amount(&bal, FEE_2PCT, q.collateral - 1, 1).unwrap();
        assert!(less < 3_000_000, "one unit less would not do");
        assert!(matches!(
            quote(&bal, FEE_2PCT, 1, SwapIntent::BuyWith { investment: 0 }, NONE),
            Err(QuoteError::TooSmall(_))
        ));
    }
}
