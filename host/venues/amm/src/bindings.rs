//! Contract bindings generated from the committed ABI artifacts in `contracts/out/`, and the
//! creation bytecode the deployer sends.
//!
//! Generating from the artifacts (rather than a hand-written interface) means a change to a
//! contract's interface changes these types at the next build, and the drift test
//! (`tests/artifacts.rs`) guarantees the artifacts are what the sources compile to.

#![allow(clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    FixedProductMarketMaker,
    "../../../contracts/out/FixedProductMarketMaker.abi.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ConditionalTokens,
    "../../../contracts/out/ConditionalTokens.abi.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    TestCollateral,
    "../../../contracts/out/TestCollateral.abi.json"
);

/// Creation bytecode (hex, no 0x) of each contract, exactly as committed.
pub mod bytecode {
    pub const FIXED_PRODUCT_MARKET_MAKER: &str = include_str!("../../../../contracts/out/FixedProductMarketMaker.bin");
    pub const CONDITIONAL_TOKENS: &str = include_str!("../../../../contracts/out/ConditionalTokens.bin");
    pub const TEST_COLLATERAL: &str = include_str!("../../../../contracts/out/TestCollateral.bin");
}
