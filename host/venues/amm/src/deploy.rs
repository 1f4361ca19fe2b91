//! Deploying a complete market (collateral, conditional tokens, condition, pool, liquidity)
//! from the committed artifacts: what the tests, the benchmark and the demo stand on.

use std::sync::Arc;

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::sol_types::{SolCall, SolConstructor};

use crate::Error;
use crate::bindings::{ConditionalTokens, FixedProductMarketMaker, TestCollateral, bytecode};
use crate::chain::{Chain, Mined};

/// Addresses and ids of a deployed market.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub collateral: Address,
    pub conditional_tokens: Address,
    /// The account allowed to report payouts (the deployer).
    pub oracle: Address,
    pub question_id: B256,
    pub condition_id: B256,
    pub pool: Address,
    pub outcomes: usize,
    pub fee_wad: u64,
}

/// Deploys contracts with the chain's signer.
#[derive(Clone, Debug)]
pub struct Deployer {
    chain: Arc<Chain>,
}

fn code(hex_code: &str, args: Vec<u8>) -> Result<Bytes, Error> {
    let mut code =
        hex::decode(hex_code.trim()).map_err(|e| Error::Malformed(format!("committed bytecode is not hex: {e}")))?;
    code.extend_from_slice(&args);
    Ok(code.into())
}

fn ensure(mined: Mined, what: &str) -> Result<Mined, Error> {
    if mined.success {
        Ok(mined)
    } else {
        Err(Error::Reverted {
            reason: format!("{what}: {}", mined.revert_reason.unwrap_or_else(|| "no reason".into())),
        })
    }
}

impl Deployer {
    pub fn new(chain: Arc<Chain>) -> Deployer {
        Deployer { chain }
    }

    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// A 6-decimal ERC-20 that the deployer can mint.
    pub async fn collateral(&self, name: &str, symbol: &str) -> Result<Address, Error> {
        let args = TestCollateral::constructorCall { name_: name.into(), symbol_: symbol.into() }.abi_encode();
        let (addr, _) = self.chain.deploy(code(bytecode::TEST_COLLATERAL, args)?, "deploy").await?;
        Ok(addr)
    }

    pub async fn conditional_tokens(&self) -> Result<Address, Error> {
        let (addr, _) = self.chain.deploy(code(bytecode::CONDITIONAL_TOKENS, Vec::new())?, "deploy").await?;
        Ok(addr)
    }

    /// Prepare a condition with the deployer as oracle; returns its id.
    pub async fn condition(&self, ctf: Address, question_id: B256, outcomes: usize) -> Result<B256, Error> {
        let call = ConditionalTokens::prepareConditionCall {
            oracle: self.chain.address(),
            questionId: question_id,
            outcomeSlotCount: U256::from(outcomes),
        };
        ensure(self.chain.send(ctf, call.abi_encode().into(), "prepare").await?, "prepareCondition")?;
        let mut packed = Vec::with_capacity(84);
        packed.extend_from_slice(self.chain.address().as_slice());
        packed.extend_from_slice(question_id.as_slice());
        packed.extend_from_slice(&U256::from(outcomes).to_be_bytes::<32>());
        Ok(keccak256(packed))
    }

    pub async fn pool(
        &self,
        ctf: Address,
        collateral: Address,
        condition_id: B256,
        fee_wad: u64,
    ) -> Result<Address, Error> {
        let args = FixedProductMarketMaker::constructorCall {
            conditionalTokens_: ctf,
            collateralToken_: collateral,
            conditionId: condition_id,
            fee_: U256::from(fee_wad),
            shareDecimals: 6,
        }
        .abi_encode();
        let (addr, _) = self.chain.deploy(code(bytecode::FIXED_PRODUCT_MARKET_MAKER, args)?, "deploy").await?;
        Ok(addr)
    }

    /// Mint test collateral (deployer only).
    pub async fn mint(&self, collateral: Address, to: Address, amount: u128) -> Result<(), Error> {
        let call = TestCollateral::mintCall { to, amount: U256::from(amount) };
        ensure(self.chain.send(collateral, call.abi_encode().into(), "mint").await?, "mint")?;
        Ok(())
    }

    /// Report the condition's payouts (the deployer is the oracle).
    pub async fn report_payouts(&self, ctf: Address, question_id: B256, payouts: &[u64]) -> Result<(), Error> {
        let call = ConditionalTokens::reportPayoutsCall {
            questionId: question_id,
            payouts: payouts.iter().map(|&p| U256::from(p)).collect(),
        };
        ensure(self.chain.send(ctf, call.abi_encode().into(), "report").await?, "reportPayouts")?;
        Ok(())
    }

    /// A new unfunded market: fresh collateral and conditional tokens unless given.
    pub async fn market(&self, spec: &MarketSpec) -> Result<Deployment, Error> {
        let collateral = match spec.collateral {
            Some(c) => c,
            None => self.collateral("Test USD", "tUSD").await?,
        };
        let ctf = match spec.conditional_tokens {
            Some(c) => c,
            None => self.conditional_tokens().await?,
        };
        let question_id = keccak256(spec.question.as_bytes());
        let condition_id = self.condition(ctf, question_id, spec.outcomes).await?;
        let pool = self.pool(ctf, collateral, condition_id, spec.fee_wad).await?;
        Ok(Deployment {
            collateral,
            conditional_tokens: ctf,
            oracle: self.chain.address(),
            question_id,
            condition_id,
            pool,
            outcomes: spec.outcomes,
            fee_wad: spec.fee_wad,
        })
    }
}

/// What market to deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketSpec {
    /// Hashed into the question id; must be unique per oracle and outcome count.
    pub question: String,
    pub outcomes: usize,
    pub fee_wad: u64,
    /// Reuse an existing collateral token / conditional tokens contract.
    pub collateral: Option<Address>,
    pub conditional_tokens: Option<Address>,
}

impl MarketSpec {
    pub fn new(question: impl Into<String>, outcomes: usize, fee_wad: u64) -> MarketSpec {
        MarketSpec { question: question.into(), outcomes, fee_wad, collateral: None, conditional_tokens: None }
    }

    pub fn sharing(mut self, d: &Deployment) -> MarketSpec {
        self.collateral = Some(d.collateral);
        self.conditional_tokens = Some(d.conditional_tokens);
        self
    }
}
