//! Building the venue connectors from the settings: market feeds (discovery
//! and streaming) and execution venues, pointed at the simulators in paper
//! mode or at the real venues.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use arbytron_execution::Venues;
use arbytron_integration::Secret;
use arbytron_model::venue::MarketFeed;
use arbytron_sdk::Venue;

use crate::settings::Settings;
use crate::world::{KALSHI_DEMO_KEY_ID, KALSHI_DEMO_PRIVATE_KEY, World};

/// Connected venues.
pub struct Connected {
    pub feeds: Vec<Arc<dyn MarketFeed>>,
    pub venues: Venues,
}

/// Connect every enabled venue. `trade` also logs in for trading (an
/// `ingest`-only process needs just the feeds).
pub async fn connect(settings: &Settings, world: Option<&World>, trade: bool) -> anyhow::Result<Connected> {
    let mut feeds: Vec<Arc<dyn MarketFeed>> = Vec::new();
    let mut venues: Venues = Venues::new();
    let v = &settings.venues;
    let sim = |name: &str| -> anyhow::Result<&World> {
        world.with_context(|| format!("venues.{name}.environment = \"sim\" needs [sim] enabled"))
    };

    if v.kalshi.enabled {
        use arbytron_kalshi::{Environment, Kalshi, KalshiConfig, RateLimits, SecretSource};
        let k = &v.kalshi;
        let (env, key_id, key) = match k.environment.as_str() {
            "sim" => {
                let h = sim("kalshi")?.kalshi.as_ref().context("the Kalshi simulator is not running")?;
                (
                    Environment::Custom { rest: h.rest_url(), ws: h.ws_url() },
                    KALSHI_DEMO_KEY_ID.to_string(),
                    SecretSource::Value(Secret::new(KALSHI_DEMO_PRIVATE_KEY)),
                )
            }
            env => {
                let path = k.private_key_path.clone().context("venues.kalshi.private_key_path is not set")?;
                let environment = match env {
                    "demo" => Environment::Demo,
                    "production" => Environment::Production,
                    _ => Environment::Custom { rest: k.rest_url.clone(), ws: k.ws_url.clone() },
                };
                (environment, k.key_id.clone(), SecretSource::File(path))
            }
        };
        let mut cfg = KalshiConfig::new(env, key_id, key);
        cfg.limits = RateLimits::tier(&k.tier)
            .with_context(|| format!("venues.kalshi.tier: {:?} is not a Kalshi usage tier", k.tier))?;
        cfg.discovery.series = k.series.clone();
        cfg.discovery.events = k.events.clone();
        cfg.book_depth = k.book_depth;
        let kalshi = Arc::new(Kalshi::new(cfg).context("venues.kalshi")?);
        feeds.push(kalshi.clone());
        if trade {
            venues.insert(Venue::Kalshi, kalshi);
        }
    }

    if v.polymarket.enabled {
        use arbytron_polymarket::{
            AccountConfig, Config, PolymarketFeed, PolymarketVenue, Registry, SecretSource, Selection, SignatureType,
        };
        let p = &v.polymarket;
        let defaults = Config::default();
        let (gamma, clob, ws, account) = match p.environment.as_str() {
            "sim" => {
                let h = sim("polymarket")?.polymarket.as_ref().context("the Polymarket simulator is not running")?;
                let demo = arbytron_sim::polymarket::demo_account();
                let account = AccountConfig {
                    private_key: SecretSource::Value(Secret::new(arbytron_sim::polymarket::DEMO_PRIVATE_KEY)),
                    signature_type: SignatureType::Eoa,
                    funder: None,
                    api_key: Some(demo.api_key.clone()),
                    api_secret: Some(SecretSource::Value(demo.secret.clone())),
                    api_passphrase: Some(SecretSource::Value(demo.passphrase.clone())),
                    api_nonce: 0,
                };
                (h.gamma_url(), h.clob_url(), h.ws_url(), account)
            }
            env => {
                let private_key = match (&p.private_key_path, &p.private_key_env) {
                    (Some(path), _) => SecretSource::File(path.clone()),
                    (None, Some(var)) => SecretSource::Env(var.clone()),
                    (None, None) => bail!("venues.polymarket: set private_key_path or private_key_env"),
                };
                let account = AccountConfig {
                    private_key,
                    signature_type: match p.signature_type {
                        1 => SignatureType::PolyProxy,
                        2 => SignatureType::GnosisSafe,
                        _ => SignatureType::Eoa,
                    },
                    funder: match &p.funder {
                        Some(f) => Some(f.parse().map_err(|e| anyhow::anyhow!("venues.polymarket.funder {f:?}: {e}"))?),
                        None => None,
                    },
                    api_key: p.api_key.clone(),
                    api_secret: p.api_secret_env.clone().map(SecretSource::Env),
                    api_passphrase: p.api_passphrase_env.clone().map(SecretSource::Env),
                    api_nonce: 0,
                };
                if env == "production" {
                    (defaults.gamma_url.clone(), defaults.clob_url.clone(), defaults.ws_url.clone(), account)
                } else {
                    (p.gamma_url.clone(), p.clob_url.clone(), p.ws_url.clone(), account)
                }
            }
        };
        let cfg = Config {
            gamma_url: gamma,
            clob_url: clob,
            ws_url: ws,
            chain_id: p.chain_id,
            selection: Selection { event_slugs: p.event_slugs.clone(), ..Selection::default() },
            book_depth: p.book_depth,
            account: Some(account),
            ..defaults
        };
        let registry = Registry::new();
        let feed = Arc::new(PolymarketFeed::new(cfg.clone(), registry.clone()).context("venues.polymarket")?);
        feeds.push(feed);
        if trade {
            let venue = PolymarketVenue::connect(cfg, registry).await.context("venues.polymarket: logging in")?;
            venues.insert(Venue::PolymarketClob, Arc::new(venue));
        }
    }

    if v.amm.enabled {
        use arbytron_amm::{AmmFeed, AmmTrader, Chain, ExecConfig, FeedConfig, PoolSpec, TxConfig};
        let a = &v.amm;
        let (rpc, key, pools) = match a.environment.as_str() {
            "sim" => match sim("amm")?.amm.as_ref() {
                Some(w) => (
                    w.anvil.url().clone(),
                    w.trader_key.clone(),
                    vec![PoolSpec {
                        address: w.deployment.pool,
                        title: "Will ETH close 2026 above $5,000?".into(),
                        outcome_names: vec!["Yes".into(), "No".into()],
                        closes_at: 0,
                    }],
                ),
                None => {
                    tracing::warn!("AMM venue enabled but its simulator is not running; skipping it");
                    return Ok(Connected { feeds, venues });
                }
            },
            _ => {
                let rpc = url::Url::parse(&a.rpc_url).map_err(|e| anyhow::anyhow!("venues.amm.rpc_url: {e}"))?;
                let path: PathBuf = a.private_key_path.clone().context("venues.amm.private_key_path is not set")?;
                let key = arbytron_amm::SecretSource::File(path).load().context("venues.amm.private_key_path")?;
                let pools = a
                    .pools
                    .iter()
                    .map(|p| {
                        Ok(PoolSpec {
                            address: p.parse().map_err(|e| anyhow::anyhow!("venues.amm.pools {p:?}: {e}"))?,
                            title: p.clone(),
                            outcome_names: Vec::new(),
                            closes_at: 0,
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                (rpc, key, pools)
            }
        };
        let feed = AmmFeed::new(FeedConfig {
            rpc_url: rpc.clone(),
            pools: pools.clone(),
            poll_interval: Duration::from_millis(a.poll_ms),
            ..FeedConfig::default()
        })
        .context("venues.amm: RPC client")?;
        feeds.push(Arc::new(feed));
        if trade {
            let tx = TxConfig { confirmations: a.confirmations, native_price: a.native_price, ..TxConfig::default() };
            let chain = Arc::new(Chain::connect(&rpc, &key, tx).await.context("venues.amm: connecting")?);
            let trader = AmmTrader::new(
                chain,
                ExecConfig { pools: pools.iter().map(|p| p.address).collect(), ..ExecConfig::default() },
            );
            venues.insert(Venue::PolymarketAmm, Arc::new(trader));
        }
    }
    Ok(Connected { feeds, venues })
}
