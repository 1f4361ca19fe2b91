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

#[cfg(test)]
mod tests {
    use alloy::primitives::{B256, FixedBytes};
    use alloy::sol_types::{SolCall, SolEvent};

    use super::*;

    fn topic(h: &str) -> B256 {
        h.parse().unwrap()
    }

    /// Selectors and event topics equal the Gnosis contracts' (as listed in the venue
    /// research): our contracts are drop-in for readers and traders of the real pools.
    #[test]
    fn interface_matches_the_gnosis_contracts() {
        use ConditionalTokens as C;
        use FixedProductMarketMaker as F;
        let sel = |s: [u8; 4], hex: &str| assert_eq!(FixedBytes::from(s), hex.parse::<FixedBytes<4>>().unwrap());
        sel(F::buyCall::SELECTOR, "0x40993b26");
        sel(F::sellCall::SELECTOR, "0xd3c9727c");
        sel(F::calcBuyAmountCall::SELECTOR, "0xf55c79d0");
        sel(F::calcSellAmountCall::SELECTOR, "0x4343116a");
        sel(F::addFundingCall::SELECTOR, "0xd5f15a46");
        sel(F::removeFundingCall::SELECTOR, "0xe03031a6");
        sel(F::feeCall::SELECTOR, "0xddca3f43");
        sel(F::collectedFeesCall::SELECTOR, "0x9003adfe");
        sel(F::feesWithdrawableByCall::SELECTOR, "0x16dbd776");
        sel(F::withdrawFeesCall::SELECTOR, "0x164e68de");
        sel(C::splitPositionCall::SELECTOR, "0x72ce4275");
        sel(C::mergePositionsCall::SELECTOR, "0x9e7212ad");
        sel(C::redeemPositionsCall::SELECTOR, "0x01b7037c");
        sel(C::getConditionIdCall::SELECTOR, "0x852c6ae2");
        sel(C::getCollectionIdCall::SELECTOR, "0x856296f7");
        sel(C::getPositionIdCall::SELECTOR, "0x39dd7530");
        sel(C::balanceOfCall::SELECTOR, "0x00fdd58e");
        sel(C::setApprovalForAllCall::SELECTOR, "0xa22cb465");
        sel(C::payoutDenominatorCall::SELECTOR, "0xdd34de67");
        sel(C::payoutNumeratorsCall::SELECTOR, "0x0504c814");
        sel(TestCollateral::approveCall::SELECTOR, "0x095ea7b3");

        assert_eq!(
            F::FPMMBuy::SIGNATURE_HASH,
            topic("0x4f62630f51608fc8a7603a9391a5101e58bd7c276139366fc107dc3b67c3dcf8")
        );
        assert_eq!(
            F::FPMMSell::SIGNATURE_HASH,
            topic("0xadcf2a240ed9300d681d9a3f5382b6c1beed1b7e46643e0c7b42cbe6e2d766b4")
        );
        assert_eq!(
            F::FPMMFundingAdded::SIGNATURE_HASH,
            topic("0xec2dc3e5a3bb9aa0a1deb905d2bd23640d07f107e6ceb484024501aad964a951")
        );
        assert_eq!(
            F::FPMMFundingRemoved::SIGNATURE_HASH,
            topic("0x8b4b2c8ebd04c47fc8bce136a85df9b93fcb1f47c8aa296457d4391519d190e7")
        );
        assert_eq!(
            C::PositionSplit::SIGNATURE_HASH,
            topic("0x2e6bb91f8cbcda0c93623c54d0403a43514fabc40084ec96b6d5379a74786298")
        );
        assert_eq!(
            C::PositionsMerge::SIGNATURE_HASH,
            topic("0x6f13ca62553fcc2bcd2372180a43949c1e4cebba603901ede2f4e14f36b282ca")
        );
        assert_eq!(
            C::PayoutRedemption::SIGNATURE_HASH,
            topic("0x2682012a4a4f1973119f1c9b90745d1bd91fa2bab387344f044cb3586864d18d")
        );
        assert_eq!(
            C::ConditionResolution::SIGNATURE_HASH,
            topic("0xb44d84d3289691f71497564b85d4233648d9dbae8cbdbb4329f301c3a0185894")
        );
        assert_eq!(
            C::ConditionPreparation::SIGNATURE_HASH,
            topic("0xab3760c3bd2bb38b5bcf54dc79802ed67338b4cf29f3054ded67ed24661e4177")
        );
        assert_eq!(
            C::TransferSingle::SIGNATURE_HASH,
            topic("0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62")
        );
        assert_eq!(
            C::TransferBatch::SIGNATURE_HASH,
            topic("0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb")
        );
    }
}
