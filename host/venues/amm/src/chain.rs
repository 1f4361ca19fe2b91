//! The one path every transaction takes: simulate, price, sign, send, await the receipt.
//!
//! Sending is serialised per signer (nonce from the node's pending count under a lock), so
//! concurrent legs never collide on a nonce and a restarted process never reuses one; waiting
//! for receipts is not serialised. A transaction whose simulation reverts is never sent: the
//! caller gets the revert reason and has spent nothing. One that reverts on-chain is reported
//! with its gas cost and the reason recovered by replaying it at the block it was mined in.

use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, TxKind};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Log, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};
pub use arbytron_integration::{Secret, SecretSource};
use arbytron_model::Money;
use serde::{Deserialize, Serialize};

use crate::{Error, metrics, units};

/// Parse a hex private key. The error never echoes the input.
pub fn signer_from_secret(key: &Secret) -> Result<PrivateKeySigner, Error> {
    let hex = key.expose().trim();
    let hex = hex.strip_prefix("0x").unwrap_or(hex);
    hex.parse::<PrivateKeySigner>().map_err(|_| Error::Config("private key is not 32 bytes of hex".into()))
}

/// How transactions are sent and awaited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TxConfig {
    /// Blocks that must include the transaction (1 = mined) before it counts.
    pub confirmations: u64,
    /// Give up waiting (the transaction may still land) after this long.
    #[serde(with = "millis")]
    pub receipt_timeout: Duration,
    /// How often to ask the node for the receipt.
    #[serde(with = "millis")]
    pub receipt_poll: Duration,
    /// Gas limit = estimate × (100 + margin) / 100: state can move between estimate and inclusion.
    pub gas_margin_pct: u64,
    /// Dollars per whole native token (POL on Polygon), to express gas as money.
    pub native_price: Money,
}

impl Default for TxConfig {
    fn default() -> TxConfig {
        TxConfig {
            confirmations: 1,
            receipt_timeout: Duration::from_secs(120),
            receipt_poll: Duration::from_millis(250),
            gas_margin_pct: 25,
            native_price: Money::from_cents(25),
        }
    }
}

pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A transaction that made it into a block (successfully or not).
#[derive(Clone, Debug)]
pub struct Mined {
    pub tx_hash: B256,
    pub block: u64,
    pub success: bool,
    pub gas_used: u64,
    pub gas_price_wei: u128,
    /// `gas_used × gas_price` in money at the configured native price, rounded up.
    pub gas_cost: Money,
    /// Why it reverted (on-chain reverts only).
    pub revert_reason: Option<String>,
    /// Set for deployments.
    pub contract_address: Option<Address>,
    pub logs: Vec<Log>,
}

/// A connection to the chain with a signing account.
pub struct Chain {
    provider: DynProvider,
    from: Address,
    chain_id: u64,
    cfg: TxConfig,
    send_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("from", &self.from).field("chain_id", &self.chain_id).finish_non_exhaustive()
    }
}

/// The HTTP client every RPC connection uses: the integration layer's one
/// setup (timeouts, connection reuse, TLS), as for every other venue.
fn rpc_client() -> Result<reqwest::Client, Error> {
    use arbytron_integration::http::{HttpConfig, client};
    client(&HttpConfig::with_timeout(Duration::from_secs(30))).map_err(|e| Error::Config(e.to_string()))
}

/// A provider without a signer, for reading.
pub fn read_provider(rpc_url: &url::Url) -> Result<DynProvider, Error> {
    Ok(ProviderBuilder::new().connect_reqwest(rpc_client()?, rpc_url.clone()).erased())
}

impl Chain {
    pub async fn connect(rpc_url: &url::Url, key: &Secret, cfg: TxConfig) -> Result<Chain, Error> {
        let signer = signer_from_secret(key)?;
        let from = signer.address();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_reqwest(rpc_client()?, rpc_url.clone())
            .erased();
        let chain_id = provider.get_chain_id().await.map_err(Error::rpc)?;
        Ok(Chain { provider, from, chain_id, cfg, send_lock: tokio::sync::Mutex::new(()) })
    }

    pub fn address(&self) -> Address {
        self.from
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub fn config(&self) -> &TxConfig {
        &self.cfg
    }

    /// Simulate, send and await `input` to `to`. `kind` labels metrics (buy, sell, approve...).
    ///
    /// `Err(Error::Reverted)`: the simulation reverted and nothing was sent (no gas spent).
    /// `Ok(Mined { success: false, .. })`: it reverted on-chain; gas was spent and is reported.
    pub async fn send(&self, to: Address, input: Bytes, kind: &str) -> Result<Mined, Error> {
        self.send_kind(TxKind::Call(to), input, kind).await
    }

    /// Deploy `code` (creation bytecode with constructor arguments appended).
    pub async fn deploy(&self, code: Bytes, kind: &str) -> Result<(Address, Mined), Error> {
        let mined = self.send_kind(TxKind::Create, code, kind).await?;
        if !mined.success {
            return Err(Error::Reverted {
                reason: mined.revert_reason.unwrap_or_else(|| "deployment reverted".into()),
            });
        }
        let address = mined
            .contract_address
            .ok_or_else(|| Error::Malformed(format!("deployment {} has no contract address", mined.tx_hash)))?;
        Ok((address, mined))
    }

    async fn send_kind(&self, to: TxKind, input: Bytes, kind: &str) -> Result<Mined, Error> {
        let start = Instant::now();
        let hash = self.submit_kind(to, input.clone(), kind).await?;
        let receipt = self.await_receipt(hash).await?;
        metrics::TX_LATENCY.with_label_values(&[kind]).observe(start.elapsed().as_secs_f64());
        let mined = self.mined(&receipt, to, input).await?;
        metrics::GAS_USED.with_label_values(&[kind]).inc_by(mined.gas_used);
        metrics::GAS_COST_MICROS.with_label_values(&[kind]).inc_by(mined.gas_cost.micros().unsigned_abs());
        if !mined.success {
            metrics::REVERTS.with_label_values(&[kind, "onchain"]).inc();
        }
        Ok(mined)
    }

    /// Simulate and send; returns the transaction hash once the node accepted it.
    pub async fn submit(&self, to: Address, input: Bytes, kind: &str) -> Result<B256, Error> {
        self.submit_kind(TxKind::Call(to), input, kind).await
    }

    async fn submit_kind(&self, to: TxKind, input: Bytes, kind: &str) -> Result<B256, Error> {
        let base = request(self.from, to, input);
        let _guard = self.send_lock.lock().await;
        let (gas, nonce, fees) = tokio::try_join!(
            async {
                self.provider.estimate_gas(base.clone()).await.map_err(|e| {
                    let e = rpc_or_revert(e);
                    if matches!(e, Error::Reverted { .. }) {
                        metrics::REVERTS.with_label_values(&[kind, "simulation"]).inc();
                    }
                    e
                })
            },
            async { self.provider.get_transaction_count(self.from).pending().await.map_err(Error::rpc) },
            async { self.provider.estimate_eip1559_fees().await.map_err(Error::rpc) },
        )?;
        let gas_limit = gas.saturating_mul(100 + self.cfg.gas_margin_pct) / 100;
        let tx = base
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas_limit)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let pending = self.provider.send_transaction(tx).await.map_err(rpc_or_revert)?;
        Ok(*pending.tx_hash())
    }

    /// Poll for the receipt until it has the configured confirmations or the timeout passes.
    pub async fn await_receipt(&self, hash: B256) -> Result<TransactionReceipt, Error> {
        let start = Instant::now();
        loop {
            if let Some(receipt) = self.provider.get_transaction_receipt(hash).await.map_err(Error::rpc)? {
                let mined_in = receipt
                    .block_number
                    .ok_or_else(|| Error::Malformed(format!("receipt of {hash} has no block number")))?;
                if self.cfg.confirmations <= 1 {
                    return Ok(receipt);
                }
                let head = self.provider.get_block_number().await.map_err(Error::rpc)?;
                if head + 1 >= mined_in + self.cfg.confirmations {
                    // Still there after the confirmations (not reorged out)?
                    let again = self.provider.get_transaction_receipt(hash).await.map_err(Error::rpc)?;
                    if let Some(again) = again.filter(|a| a.block_hash == receipt.block_hash) {
                        return Ok(again);
                    }
                }
            }
            if start.elapsed() >= self.cfg.receipt_timeout {
                return Err(Error::Timeout {
                    tx: format!("{hash}"),
                    waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            tokio::time::sleep(self.cfg.receipt_poll).await;
        }
    }

    async fn mined(&self, receipt: &TransactionReceipt, to: TxKind, input: Bytes) -> Result<Mined, Error> {
        let block = receipt.block_number.unwrap_or_default();
        let gas_price_wei = receipt.effective_gas_price;
        let gas_cost = units::gas_cost(receipt.gas_used, gas_price_wei, self.cfg.native_price)?;
        let success = receipt.status();
        let revert_reason = if success { None } else { Some(self.replay_reason(to, input, block).await) };
        Ok(Mined {
            tx_hash: receipt.transaction_hash,
            block,
            success,
            gas_used: receipt.gas_used,
            gas_price_wei,
            gas_cost,
            revert_reason,
            contract_address: receipt.contract_address,
            logs: receipt.inner.logs().to_vec(),
        })
    }

    /// Receipts carry no revert reason; replaying the call on the state its block left
    /// behind (which includes whatever front-ran it) usually reproduces it.
    async fn replay_reason(&self, to: TxKind, input: Bytes, block: u64) -> String {
        let tx = request(self.from, to, input);
        match self.provider.call(tx).block(block.into()).await {
            Ok(_) => "reverted on-chain; replay at its block succeeded, reason unknown".into(),
            Err(e) => match rpc_or_revert(e) {
                Error::Reverted { reason } => reason,
                other => format!("reverted on-chain; replay failed: {other}"),
            },
        }
    }
}

fn request(from: Address, to: TxKind, input: Bytes) -> TransactionRequest {
    TransactionRequest::default().with_from(from).with_kind(to).with_input(input)
}

/// A node error that carries revert data (or says "execution reverted") is a revert with
/// the contract's reason; anything else is a transport problem.
pub(crate) fn rpc_or_revert(e: RpcError<TransportErrorKind>) -> Error {
    if let Some(payload) = e.as_error_resp() {
        if let Some(data) = payload.as_revert_data() {
            let reason = alloy::sol_types::decode_revert_reason(&data)
                .unwrap_or_else(|| format!("reverted with data 0x{}", hex::encode(&data)));
            return Error::Reverted { reason };
        }
        let msg = payload.message.to_string();
        if msg.contains("revert") {
            let reason = msg.strip_prefix("execution reverted: ").unwrap_or(&msg).to_string();
            return Error::Reverted { reason };
        }
        return Error::Rpc(msg);
    }
    Error::rpc(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)] // set_var, see SAFETY below
    fn keys_load_from_env_and_file_without_leaking() {
        let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        // SAFETY: the variable name is unique to this test; no other thread reads it.
        unsafe { std::env::set_var("ARBYTRON_AMM_TEST_KEY", format!("  {key}\n")) };
        let s = SecretSource::Env("ARBYTRON_AMM_TEST_KEY".into()).load().unwrap();
        assert_eq!(format!("{s:?}"), "[redacted]");
        let signer = signer_from_secret(&s).unwrap();
        assert_eq!(format!("{:#x}", signer.address()), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");

        let dir = std::env::temp_dir().join(format!("arbytron-amm-key-{}", std::process::id()));
        std::fs::write(&dir, key.trim_start_matches("0x")).unwrap();
        let s = SecretSource::File(dir.clone()).load().unwrap();
        assert_eq!(signer_from_secret(&s).unwrap().address(), signer.address());
        std::fs::remove_file(&dir).unwrap();

        let bad = signer_from_secret(&Secret::new("0xdeadbeef-not-a-key")).unwrap_err();
        assert!(!bad.to_string().contains("deadbeef"), "{bad}");
        assert!(SecretSource::Env("ARBYTRON_AMM_NO_SUCH_VAR".into()).load().is_err());
    }
}
