//! Shared set-up for the on-chain tests: one anvil per test (about 0.3 s to start, and a
//! node of its own means tests never share nonces or block production), a deployer on the
//! node's dev account, and fresh funded accounts for traders.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use arbytron_amm::devnet::{Anvil, AnvilOptions};
use arbytron_amm::{AmmTrader, Chain, Deployer, Deployment, ExecConfig, MarketSpec, TxConfig};
use arbytron_integration::Secret;
use arbytron_model::Money;

pub const PCT: u64 = 10_000_000_000_000_000; // 1% in 1e18 scale

pub fn tx_config() -> TxConfig {
    TxConfig { receipt_poll: Duration::from_millis(2), ..TxConfig::default() }
}

pub struct Env {
    pub node: Anvil,
    pub deployer: Deployer,
}

impl Env {
    /// Start anvil (automine unless `opts` say otherwise) and connect the deployer.
    pub async fn start_with(opts: AnvilOptions) -> Env {
        let node = match Anvil::start(opts).await {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        };
        let chain = Chain::connect(node.url(), &node.dev_key(), tx_config()).await.expect("deployer connects");
        Env { node, deployer: Deployer::new(Arc::new(chain)) }
    }

    pub async fn start() -> Env {
        Env::start_with(AnvilOptions::default()).await
    }

    /// A fresh account with gas money.
    pub async fn account(&self) -> Arc<Chain> {
        let key = self.account_key().await;
        Arc::new(Chain::connect(self.node.url(), &key, tx_config()).await.expect("account connects"))
    }

    /// A fresh funded account's key (to connect to it more than once).
    pub async fn account_key(&self) -> Secret {
        self.node.funded_account(1_000).await.expect("fund account")
    }

    /// A trader on the account with `key`.
    pub async fn trader_with_key(&self, key: &Secret, cfg: ExecConfig) -> AmmTrader {
        AmmTrader::new(Arc::new(Chain::connect(self.node.url(), key, tx_config()).await.expect("connect")), cfg)
    }

    /// A trader on a fresh account holding `cash` collateral of `d`.
    pub async fn trader(&self, d: &Deployment, cash: u128, cfg: ExecConfig) -> AmmTrader {
        let chain = self.account().await;
        if cash > 0 {
            self.deployer.mint(d.collateral, chain.address(), cash).await.expect("mint");
        }
        AmmTrader::new(chain, cfg)
    }

    /// Deploy a market and fund it from a fresh LP account; returns the LP too.
    pub async fn funded_market(
        &self,
        spec: MarketSpec,
        funding: u128,
        hint: Option<&[u128]>,
    ) -> (Deployment, AmmTrader) {
        let d = self.deployer.market(&spec).await.expect("deploy market");
        let lp = self.trader(&d, funding, ExecConfig::default()).await;
        lp.add_liquidity(d.pool, funding, hint).await.expect("initial funding");
        (d, lp)
    }

    pub fn deployer_address(&self) -> Address {
        self.deployer.chain().address()
    }
}

/// Zero slippage: the bound sent is exactly the SDK's prediction, so any difference between
/// the SDK and the contract makes the swap revert.
pub fn exact() -> ExecConfig {
    ExecConfig { max_slippage_ppm: 0, ..ExecConfig::default() }
}

pub fn dollars(n: i64) -> u128 {
    u128::try_from(Money::from_dollars(n).micros()).expect("positive")
}
