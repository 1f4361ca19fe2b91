//! A local EVM node (anvil) for tests, benchmarks and the demo.
//!
//! anvil comes from the npm package `@foundry-rs/anvil` (a dev dependency in the repository's
//! `package.json`); `npm ci` at the repository root installs it. The native binary of the
//! platform package is started directly (not the Node wrapper), so killing the child really
//! stops the node. `ARBYTRON_ANVIL` overrides the path.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use arbytron_integration::Secret;

use crate::Error;
use crate::chain::read_provider;

/// The repository root, where `package.json` and `node_modules/` live.
pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    root.canonicalize().unwrap_or(root)
}

fn platform_package() -> Option<&'static str> {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => Some("anvil-linux-amd64"),
        ("linux", "aarch64") => Some("anvil-linux-arm64"),
        ("macos", "x86_64") => Some("anvil-darwin-amd64"),
        ("macos", "aarch64") => Some("anvil-darwin-arm64"),
        _ => None,
    }
}

/// Path of the anvil binary, or an error that says how to install it.
pub fn anvil_binary() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("ARBYTRON_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    let root = repo_root();
    let install = format!("anvil is not installed: run `npm ci` in {}", root.display());
    let pkg =
        platform_package().ok_or_else(|| Error::Node(format!("{install} (no anvil package for this platform)")))?;
    let bin = root.join("node_modules/@foundry-rs").join(pkg).join("bin/anvil");
    if bin.is_file() { Ok(bin) } else { Err(Error::Node(install)) }
}

/// How to start the node.
#[derive(Clone, Debug, Default)]
pub struct AnvilOptions {
    /// `None`: automine (a block per transaction). `Some(s)`: a block every `s` seconds.
    pub block_time: Option<u64>,
    /// Start with mining off (blocks only on `evm_mine`): for ordering transactions by hand.
    pub no_mining: bool,
    /// Listen on this loopback port instead of a free one.
    pub port: Option<u16>,
}

/// A running anvil on a free loopback port; stopped when dropped.
pub struct Anvil {
    child: Child,
    url: url::Url,
    /// Unique per node: how `ready` knows the node answering on the port is
    /// this one (a port picked as free can be taken by a parallel test's node,
    /// in which case this one fails to bind while the other answers).
    chain_id: u64,
    provider: DynProvider,
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16, Error> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::Node(format!("no free loopback port: {e}")))?;
    l.local_addr().map(|a| a.port()).map_err(|e| Error::Node(format!("no free loopback port: {e}")))
}

/// anvil's first default dev account (from its well-known test mnemonic); funded at start.
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

impl Anvil {
    pub fn spawn(opts: AnvilOptions) -> Result<Anvil, Error> {
        let bin = anvil_binary()?;
        let port = match opts.port {
            Some(p) => p,
            None => free_port()?,
        };
        // Anvil's default is 31337; a random id in a range real chains do not use.
        let chain_id = 1_000_000_000 + u64::from(rand_u32());
        let mut cmd = Command::new(&bin);
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent", "--accounts", "2"])
            .args(["--chain-id", &chain_id.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(s) = opts.block_time {
            cmd.args(["--block-time", &s.to_string()]);
        }
        if opts.no_mining {
            cmd.arg("--no-mining");
        }
        let child = cmd.spawn().map_err(|e| Error::Node(format!("cannot start {}: {e}", bin.display())))?;
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}"))
            .map_err(|e| Error::Node(format!("bad node url: {e}")))?;
        let provider = read_provider(&url)?;
        Ok(Anvil { child, url, chain_id, provider })
    }

    /// Wait until this node answers (another node on the port is an error).
    pub async fn ready(&mut self) -> Result<(), Error> {
        let provider = self.provider();
        let start = Instant::now();
        loop {
            match provider.get_chain_id().await {
                Ok(id) if id == self.chain_id => return Ok(()),
                Ok(id) => {
                    return Err(Error::Node(format!(
                        "another node (chain {id}) answers on {}: this one could not bind its port",
                        self.url
                    )));
                }
                Err(_) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Node(format!("anvil at {} exited at start: {status}", self.url)));
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(Error::Node(format!("anvil at {} did not answer within 30 s", self.url)));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Spawn and wait until ready. On a port race with another node (only
    /// when the port was picked here), try again on a new port.
    pub async fn start(opts: AnvilOptions) -> Result<Anvil, Error> {
        let mut attempts = 0;
        loop {
            let mut node = Anvil::spawn(opts.clone())?;
            match node.ready().await {
                Ok(()) => return Ok(node),
                Err(e) if opts.port.is_none() && attempts < 4 => {
                    attempts += 1;
                    tracing::debug!(error = %e, "anvil did not start; trying another port");
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn url(&self) -> &url::Url {
        &self.url
    }

    pub fn provider(&self) -> DynProvider {
        self.provider.clone()
    }

    /// The funded dev account anvil starts with.
    pub fn dev_key(&self) -> Secret {
        Secret::new(DEV_KEY)
    }

    /// A fresh random account with `ether` of native balance (via `anvil_setBalance`), so
    /// tests sharing a node never share a nonce.
    pub async fn funded_account(&self, ether: u64) -> Result<Secret, Error> {
        let signer = PrivateKeySigner::random();
        self.set_balance(signer.address(), U256::from(ether) * U256::from(10u64).pow(U256::from(18u64))).await?;
        Ok(Secret::new(format!("0x{}", hex::encode(signer.to_bytes()))))
    }

    pub async fn set_balance(&self, who: Address, wei: U256) -> Result<(), Error> {
        let _: serde_json::Value =
            self.provider().raw_request("anvil_setBalance".into(), (who, wei)).await.map_err(Error::rpc)?;
        Ok(())
    }

    /// Mine one block now.
    pub async fn mine(&self) -> Result<(), Error> {
        let _: serde_json::Value = self.provider().raw_request("evm_mine".into(), ()).await.map_err(Error::rpc)?;
        Ok(())
    }

    /// Turn automine on or off.
    pub async fn set_automine(&self, on: bool) -> Result<(), Error> {
        let _: serde_json::Value =
            self.provider().raw_request("evm_setAutomine".into(), (on,)).await.map_err(Error::rpc)?;
        Ok(())
    }

    /// Transactions waiting in the node's mempool.
    pub async fn pending_count(&self) -> Result<u64, Error> {
        let status: serde_json::Value =
            self.provider().raw_request("txpool_status".into(), ()).await.map_err(Error::rpc)?;
        match status.get("pending") {
            Some(serde_json::Value::Number(n)) => {
                n.as_u64().ok_or_else(|| Error::Malformed(format!("txpool_status pending {n}")))
            }
            Some(serde_json::Value::String(s)) => u64::from_str_radix(s.trim_start_matches("0x"), 16)
                .map_err(|e| Error::Malformed(format!("txpool_status pending {s:?}: {e}"))),
            _ => Err(Error::Malformed(format!("txpool_status without pending: {status}"))),
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // Best effort at teardown: the node may have exited already.
        if self.child.kill().is_ok()
            && let Err(e) = self.child.wait()
        {
            tracing::debug!(error = %e, "anvil did not report its exit");
        }
    }
}
