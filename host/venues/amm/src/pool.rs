//! Reading a pool: its fixed facts (tokens, condition, fee) once, its balances per block.
//!
//! Only the Gnosis interface is used (`conditionalTokens()`, `collateralToken()`,
//! `conditionIds(0)`, `fee()`, the CTF's id functions and `balanceOfBatch`), so the reader
//! works against the real Polymarket FPMMs as well as our contracts.

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::DynProvider;
use arbytron_model::{MarketStatus, PoolState, Side};

use crate::bindings::{ConditionalTokens, FixedProductMarketMaker};
use crate::market::format_address;
use crate::{Error, units};

/// What does not change over a pool's life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolInfo {
    pub address: Address,
    pub conditional_tokens: Address,
    pub collateral: Address,
    pub condition_id: B256,
    /// ERC-1155 ids of the outcome tokens, in outcome order.
    pub position_ids: Vec<U256>,
    /// 1e18 = 100%.
    pub fee_wad: u64,
}

impl PoolInfo {
    pub async fn load(provider: &DynProvider, address: Address) -> Result<PoolInfo, Error> {
        let pool = FixedProductMarketMaker::new(address, provider);
        let (ctf, collateral, condition_id, fee) = tokio::try_join!(
            async { pool.conditionalTokens().call().await.map_err(contract_err) },
            async { pool.collateralToken().call().await.map_err(contract_err) },
            async { pool.conditionIds(U256::ZERO).call().await.map_err(contract_err) },
            async { pool.fee().call().await.map_err(contract_err) },
        )?;
        let fee_wad =
            u64::try_from(fee).map_err(|_| Error::Malformed(format!("pool {address} fee {fee} too large")))?;
        let ctf_contract = ConditionalTokens::new(ctf, provider);
        let outcomes = ctf_contract.getOutcomeSlotCount(condition_id).call().await.map_err(contract_err)?;
        let outcomes = usize::try_from(outcomes)
            .ok()
            .filter(|n| (2..=256).contains(n))
            .ok_or_else(|| Error::Malformed(format!("pool {address} condition has {outcomes} outcomes")))?;
        let mut position_ids = Vec::with_capacity(outcomes);
        for i in 0..outcomes {
            let index_set = U256::from(1u8) << i;
            let collection =
                ctf_contract.getCollectionId(B256::ZERO, condition_id, index_set).call().await.map_err(contract_err)?;
            position_ids.push(ctf_contract.getPositionId(collateral, collection).call().await.map_err(contract_err)?);
        }
        Ok(PoolInfo { address, conditional_tokens: ctf, collateral, condition_id, position_ids, fee_wad })
    }

    pub fn outcomes(&self) -> usize {
        self.position_ids.len()
    }

    /// Balances of `owner` in each outcome token, at `block`.
    pub async fn outcome_balances(
        &self,
        provider: &DynProvider,
        owner: Address,
        block: BlockId,
    ) -> Result<Vec<u128>, Error> {
        let ctf = ConditionalTokens::new(self.conditional_tokens, provider);
        let owners = vec![owner; self.outcomes()];
        let raw =
            ctf.balanceOfBatch(owners, self.position_ids.clone()).block(block).call().await.map_err(contract_err)?;
        if raw.len() != self.outcomes() {
            return Err(Error::Malformed(format!("balanceOfBatch returned {} balances", raw.len())));
        }
        raw.into_iter().map(|b| units::to_u128(b, "outcome balance")).collect()
    }

    /// The pool's state at `block` (`number` is that block's number, recorded in the state).
    pub async fn state(&self, provider: &DynProvider, block: BlockId, number: u64) -> Result<PoolState, Error> {
        let pool = FixedProductMarketMaker::new(self.address, provider);
        let (balances, supply) = tokio::try_join!(self.outcome_balances(provider, self.address, block), async {
            pool.totalSupply().block(block).call().await.map_err(contract_err)
        })?;
        Ok(PoolState {
            address: format_address(self.address),
            fee_wad: self.fee_wad,
            balances,
            total_shares: units::to_u128(supply, "total shares")?,
            block: number,
        })
    }

    /// Market status of outcome `outcome` from the condition's reported payouts.
    pub async fn status(&self, provider: &DynProvider, outcome: usize) -> Result<MarketStatus, Error> {
        let ctf = ConditionalTokens::new(self.conditional_tokens, provider);
        let den = ctf.payoutDenominator(self.condition_id).call().await.map_err(contract_err)?;
        if den.is_zero() {
            return Ok(MarketStatus::Open);
        }
        let num = ctf.payoutNumerators(self.condition_id, U256::from(outcome)).call().await.map_err(contract_err)?;
        let result = if num == den {
            Some(Side::Yes)
        } else if num.is_zero() {
            Some(Side::No)
        } else {
            None
        };
        Ok(MarketStatus::Settled { result })
    }
}

pub(crate) fn contract_err(e: alloy::contract::Error) -> Error {
    match e {
        alloy::contract::Error::TransportError(t) => crate::chain::rpc_or_revert(t),
        other => Error::Malformed(other.to_string()),
    }
}
