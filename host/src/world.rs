//! The simulated world `arbytron run` trades in on its embedded defaults (and
//! `arbytron sim` serves): the same questions listed on Kalshi, Polymarket and
//! an on-chain AMM, the links between them, and a script that pulls prices
//! apart and back together so a new user sees the whole cycle within a minute:
//! opportunities, bundles bought on two venues at once, early exits, PnL.
//!
//! Kalshi and Polymarket run in-process (`arbytron-sim`); the AMM is a local
//! EVM node (anvil, from `npm ci`) with our FPMM contracts deployed on it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arbytron_engine::{LegKey, LinkSpec};
use arbytron_model::{MarketKey, now_ms};
use arbytron_sdk::{Money, Price, Side, Venue};
use arbytron_sim::scenario::{Action, Scenario, SettleResult, SimVenue, Step};

/// The demo's Kalshi API key id; its key pair is in `config/demo/`.
pub const KALSHI_DEMO_KEY_ID: &str = "arbytron-demo";
pub const KALSHI_DEMO_PRIVATE_KEY: &str = include_str!("../../config/demo/kalshi-sim.pem");
pub const KALSHI_DEMO_PUBLIC_KEY: &str = include_str!("../../config/demo/kalshi-sim.pub.pem");

const DAY: i64 = 86_400_000;

fn p(s: &str) -> Price {
    Price::parse(s).unwrap_or(Price::from_micros_const(500_000))
}

/// One question as each venue lists it.
struct Question {
    kalshi_series: &'static str,
    kalshi_event: &'static str,
    kalshi_ticker: &'static str,
    poly_event: &'static str,
    poly_question: &'static str,
    outcome: &'static str,
    fair: &'static str,
}

const CPI: Question = Question {
    kalshi_series: "KXCPI",
    kalshi_event: "KXCPI-26NOV",
    kalshi_ticker: "KXCPI-26NOV-T0.3",
    poly_event: "cpi-november-2026",
    poly_question: "Will November 2026 CPI come in above 0.3%?",
    outcome: "Above 0.3%",
    fair: "0.45",
};

const FED: [Question; 3] = [
    Question {
        kalshi_series: "KXFEDDECISION",
        kalshi_event: "KXFEDDECISION-26DEC",
        kalshi_ticker: "KXFEDDECISION-26DEC-H0",
        poly_event: "fed-decision-december-2026",
        poly_question: "Will the Fed hold rates in December 2026?",
        outcome: "Hold",
        fair: "0.60",
    },
    Question {
        kalshi_series: "KXFEDDECISION",
        kalshi_event: "KXFEDDECISION-26DEC",
        kalshi_ticker: "KXFEDDECISION-26DEC-C25",
        poly_event: "fed-decision-december-2026",
        poly_question: "Will the Fed cut rates by 25bp in December 2026?",
        outcome: "Cut 25bp",
        fair: "0.32",
    },
    Question {
        kalshi_series: "KXFEDDECISION",
        kalshi_event: "KXFEDDECISION-26DEC",
        kalshi_ticker: "KXFEDDECISION-26DEC-C50",
        poly_event: "fed-decision-december-2026",
        poly_question: "Will the Fed cut rates by 50bp or more in December 2026?",
        outcome: "Cut 50bp+",
        fair: "0.08",
    },
];

/// The AMM question (Kalshi lists it too).
const ETH: Question = Question {
    kalshi_series: "KXETHY",
    kalshi_event: "KXETHY-26DEC31",
    kalshi_ticker: "KXETHY-26DEC31-T5000",
    poly_event: "",
    poly_question: "Will ETH close 2026 above $5,000?",
    outcome: "Above $5,000",
    fair: "0.40",
};

/// The running simulators.
pub struct World {
    pub kalshi: Option<arbytron_sim::kalshi::Handle>,
    pub polymarket: Option<arbytron_sim::polymarket::Handle>,
    pub amm: Option<AmmWorld>,
    pub links: Vec<LinkSpec>,
    script: Option<tokio::task::JoinHandle<()>>,
}

/// The local chain and what was deployed on it.
pub struct AmmWorld {
    pub anvil: arbytron_amm::devnet::Anvil,
    pub deployment: arbytron_amm::Deployment,
    /// Another account's trader, used by the script to move the pool's price.
    pub other: Arc<arbytron_amm::AmmTrader>,
    /// The key the host trades with (funded with collateral).
    pub trader_key: arbytron_integration::Secret,
}

impl AmmWorld {
    pub fn market(&self, outcome: u32) -> MarketKey {
        MarketKey::new(Venue::PolymarketAmm, format!("{:#x}:{outcome}", self.deployment.pool))
    }
}

fn kalshi_options(seed: u64, close: i64) -> arbytron_sim::kalshi::Options {
    use arbytron_sim::kalshi::MarketSpec;
    let spec = |q: &Question| {
        let mut m = MarketSpec::simple(q.kalshi_series, q.kalshi_event, q.kalshi_ticker, p(q.fair));
        m.outcome = q.outcome.into();
        m.title = q.poly_question.into();
        m.rules = format!("Resolves Yes if: {}", q.poly_question);
        m.close_time = close;
        m
    };
    let mut markets = vec![spec(&CPI), spec(&ETH)];
    for q in &FED {
        let mut m = spec(q);
        m.title = "Fed decision in December 2026".into();
        m.mutually_exclusive = true;
        markets.push(m);
    }
    arbytron_sim::kalshi::Options {
        seed,
        markets,
        api_keys: vec![(KALSHI_DEMO_KEY_ID.into(), KALSHI_DEMO_PUBLIC_KEY.into())],
        accounts: vec![(KALSHI_DEMO_KEY_ID.into(), Money::from_dollars(10_000))],
        ..arbytron_sim::kalshi::Options::default()
    }
}

fn polymarket_options(seed: u64, close: i64) -> arbytron_sim::polymarket::Options {
    use arbytron_sim::polymarket::{MarketSpec, demo_account, demo_options};
    let mut cpi = MarketSpec::simple(CPI.poly_event, CPI.poly_question, p(CPI.fair));
    cpi.end_date_ms = close;
    let mut markets = vec![cpi];
    for q in &FED {
        let mut m = MarketSpec::simple(q.poly_event, q.poly_question, p(q.fair));
        m.outcome = q.outcome.into();
        m.neg_risk = true;
        m.end_date_ms = close;
        markets.push(m);
    }
    arbytron_sim::polymarket::Options {
        markets,
        accounts: vec![demo_account()],
        confirm_delay_ms: 1_000,
        ..demo_options(seed)
    }
}

fn poly_key(question: &str) -> MarketKey {
    let spec = arbytron_sim::polymarket::MarketSpec::simple("", question, Price::ZERO);
    MarketKey::new(Venue::PolymarketClob, spec.condition_id)
}

fn kalshi_key(ticker: &str) -> MarketKey {
    MarketKey::new(Venue::Kalshi, ticker)
}

/// The demo's CPI question on Kalshi and on Polymarket.
pub fn cpi_markets() -> (MarketKey, MarketKey) {
    (kalshi_key(CPI.kalshi_ticker), poly_key(CPI.poly_question))
}

/// The demo's ETH question on Kalshi (its other side is the AMM pool, [`AmmWorld::market`]).
pub fn eth_kalshi_market() -> MarketKey {
    kalshi_key(ETH.kalshi_ticker)
}

/// The CLOB token ids (YES, NO) of the demo's CPI market on Polymarket.
pub fn cpi_poly_tokens() -> (String, String) {
    let spec = arbytron_sim::polymarket::MarketSpec::simple("", CPI.poly_question, Price::ZERO);
    (spec.yes_token, spec.no_token)
}

/// The demo's links as a `config/mappings.toml` text (for a host pointed at
/// simulators it does not run itself).
pub fn mappings_toml(links: &[LinkSpec]) -> String {
    let mut out = String::new();
    for l in links {
        out.push_str("[[link]]\n");
        out.push_str(&format!("name = {:?}\n", l.name));
        out.push_str(&format!("strategies = {:?}\n", l.strategies));
        let outcomes: Vec<Vec<String>> =
            l.outcomes.iter().map(|legs| legs.iter().map(|x| x.to_string()).collect()).collect();
        out.push_str(&format!("outcomes = {outcomes:?}\n\n"));
    }
    out
}

/// The demo's three Fed outcomes, each on Kalshi and on Polymarket.
pub fn fed_markets() -> Vec<(MarketKey, MarketKey)> {
    FED.iter().map(|q| (kalshi_key(q.kalshi_ticker), poly_key(q.poly_question))).collect()
}

fn leg(market: &MarketKey, side: Side) -> LegKey {
    LegKey { market: market.clone(), side }
}

/// The demo's price script: dislocate, converge, settle.
pub fn demo_scenario() -> Scenario {
    let cpi_poly = poly_key(CPI.poly_question).symbol;
    let c25 = FED[1].kalshi_ticker.to_string();
    let step = |at_ms: u64, action: Action| Step { at_ms, action };
    let fair = |venue, market: &str, price: &str| Action::SetFair { venue, market: market.into(), price: p(price) };
    let steps = vec![
        // Polymarket's CPI market slips 12 cents below Kalshi's: buy YES there and NO on Kalshi.
        step(6_000, fair(SimVenue::Polymarket, &cpi_poly, "0.33")),
        // Prices converge again: selling the bundle back beats holding to resolution.
        step(22_000, fair(SimVenue::Polymarket, &cpi_poly, "0.45")),
        // Kalshi's 25bp-cut market drops: the three Fed outcomes cost less than $1 in total.
        step(30_000, fair(SimVenue::Kalshi, &c25, "0.20")),
        step(48_000, fair(SimVenue::Kalshi, &c25, "0.32")),
        // Later the same dislocation again, held to resolution this time: CPI settles YES.
        step(56_000, fair(SimVenue::Polymarket, &cpi_poly, "0.33")),
        step(
            70_000,
            Action::Settle { venue: SimVenue::Kalshi, market: CPI.kalshi_ticker.into(), result: SettleResult::Yes },
        ),
        step(70_000, Action::Settle { venue: SimVenue::Polymarket, market: cpi_poly, result: SettleResult::Yes }),
    ];
    // The AMM's part is played by a second trader, see `World::run_script`.
    Scenario { steps }
}

/// Ports and extra credentials for the simulators (0 picks a free port).
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    pub kalshi_rest_port: u16,
    pub kalshi_ws_port: u16,
    pub polymarket_gamma_port: u16,
    pub polymarket_clob_port: u16,
    pub polymarket_ws_port: u16,
    /// More Kalshi API keys to accept: (key id, public key PEM), each with $10,000.
    pub kalshi_keys: Vec<(String, String)>,
}

/// Start every simulator the settings ask for, and the demo's links between them.
pub async fn start(seed: u64, scenario: &str, with_amm: bool) -> anyhow::Result<World> {
    start_with(seed, scenario, with_amm, &SimOptions::default()).await
}

/// [`start`] with ports and extra credentials.
pub async fn start_with(seed: u64, scenario: &str, with_amm: bool, opts: &SimOptions) -> anyhow::Result<World> {
    // Resolution three weeks out: close enough for a visible annualised return.
    let close = now_ms() + 21 * DAY;
    let script = match scenario {
        "none" | "" => None,
        "demo" => Some(demo_scenario()),
        path => Some(load_scenario(Path::new(path))?),
    };
    let mut kopts = kalshi_options(seed, close);
    kopts.rest_port = opts.kalshi_rest_port;
    kopts.ws_port = opts.kalshi_ws_port;
    for (id, pem) in &opts.kalshi_keys {
        kopts.api_keys.push((id.clone(), pem.clone()));
        kopts.accounts.push((id.clone(), Money::from_dollars(10_000)));
    }
    let kalshi = arbytron_sim::kalshi::start(kopts).await.context("starting the Kalshi simulator")?;
    let mut poly_opts = polymarket_options(seed, close);
    poly_opts.gamma_port = opts.polymarket_gamma_port;
    poly_opts.clob_port = opts.polymarket_clob_port;
    poly_opts.ws_port = opts.polymarket_ws_port;
    // The Polymarket simulator plays its part of a script from its own start.
    poly_opts.scenario = script.clone().unwrap_or_default();
    let polymarket = arbytron_sim::polymarket::start(poly_opts).await.context("starting the Polymarket simulator")?;
    let amm = if with_amm {
        match start_amm().await {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "AMM simulator not started (run `npm ci` for anvil); continuing without it");
                None
            }
        }
    } else {
        None
    };

    let mut links = Vec::new();
    let (k, pm) = (kalshi_key(CPI.kalshi_ticker), poly_key(CPI.poly_question));
    links.push(LinkSpec {
        name: "cpi-nov-2026-above-0.3".into(),
        strategies: vec!["cross-venue-binary".into()],
        outcomes: vec![vec![leg(&k, Side::Yes), leg(&pm, Side::Yes)], vec![leg(&k, Side::No), leg(&pm, Side::No)]],
        resolves_at: Some(close),
        source: "demo".into(),
        store_id: None,
    });
    links.push(LinkSpec {
        name: "fed-december-2026".into(),
        strategies: vec!["multi-outcome-bundle".into()],
        outcomes: FED
            .iter()
            .map(|q| vec![leg(&kalshi_key(q.kalshi_ticker), Side::Yes), leg(&poly_key(q.poly_question), Side::Yes)])
            .collect(),
        resolves_at: Some(close),
        source: "demo".into(),
        store_id: None,
    });
    if let Some(a) = &amm {
        let k = kalshi_key(ETH.kalshi_ticker);
        let yes = a.market(0);
        links.push(LinkSpec {
            name: "eth-2026-above-5000".into(),
            strategies: vec!["cross-venue-binary".into()],
            outcomes: vec![
                vec![leg(&k, Side::Yes), leg(&yes, Side::Yes)],
                vec![leg(&k, Side::No), leg(&yes, Side::No)],
            ],
            resolves_at: Some(close),
            source: "demo".into(),
            store_id: None,
        });
    }

    let mut world = World { kalshi: Some(kalshi), polymarket: Some(polymarket), amm, links, script: None };
    if let Some(s) = script {
        world.script = Some(world.run_script(s));
    }
    Ok(world)
}

/// A scenario file: TOML (`[[steps]]`) or JSON (`{"steps": [...]}`).
pub fn load_scenario(path: &Path) -> anyhow::Result<Scenario> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("sim.scenario {}: cannot read", path.display()))?;
    let s = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("sim.scenario {}: {e}", path.display()))?
    } else {
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("sim.scenario {}: {}", path.display(), e.message()))?
    };
    Ok(s)
}

async fn start_amm() -> anyhow::Result<AmmWorld> {
    use arbytron_amm::devnet::{Anvil, AnvilOptions};
    use arbytron_amm::{AmmTrader, Chain, Deployer, ExecConfig, MarketSpec, TxConfig};
    let anvil = Anvil::start(AnvilOptions::default()).await.context("starting anvil")?;
    let tx = TxConfig::default();
    let deployer = Arc::new(Chain::connect(anvil.url(), &anvil.dev_key(), tx.clone()).await?);
    let d = Deployer::new(deployer.clone());
    let deployment = d.market(&MarketSpec::new(ETH.poly_question, 2, 20_000_000_000_000_000)).await?;
    // Fund the pool at the fair price (YES 0.40: the pool keeps 3 YES for every 2 NO).
    let lp = AmmTrader::new(deployer.clone(), ExecConfig::default());
    d.mint(deployment.collateral, deployer.address(), 200_000_000_000).await?;
    lp.add_liquidity(deployment.pool, 50_000_000_000, Some(&[3, 2])).await?;
    // The host's trading account and the script's "other trader".
    let trader_key = anvil.funded_account(100).await?;
    let other_key = anvil.funded_account(100).await?;
    for key in [&trader_key, &other_key] {
        let c = Chain::connect(anvil.url(), key, tx.clone()).await?;
        d.mint(deployment.collateral, c.address(), 10_000_000_000).await?;
    }
    let other = Arc::new(AmmTrader::new(
        Arc::new(Chain::connect(anvil.url(), &other_key, tx).await?),
        ExecConfig { max_slippage_ppm: 1_000_000, ..ExecConfig::default() },
    ));
    Ok(AmmWorld { anvil, deployment, other, trader_key })
}

impl World {
    /// Run a scenario's steps on the simulators at their times.
    fn run_script(&self, scenario: Scenario) -> tokio::task::JoinHandle<()> {
        let kalshi = self.kalshi.as_ref().map(|h| h.run_scenario(scenario));
        let amm = self.amm.as_ref().map(|a| (a.other.clone(), a.deployment.pool));
        tokio::spawn(async move {
            if let Some((other, pool)) = amm {
                // Another trader dumps YES on the pool, then buys it back later.
                tokio::time::sleep(Duration::from_secs(40)).await;
                let r =
                    other.swap(pool, 1, arbytron_amm::SwapIntent::BuyWith { investment: 6_000_000_000 }, None).await;
                tracing::info!(ok = r.is_ok(), "demo: another trader pushed the AMM's YES price down");
                tokio::time::sleep(Duration::from_secs(18)).await;
                let r =
                    other.swap(pool, 0, arbytron_amm::SwapIntent::BuyWith { investment: 6_000_000_000 }, None).await;
                tracing::info!(ok = r.is_ok(), "demo: the AMM's price recovered");
            }
            if let Some(k) = kalshi
                && let Err(e) = k.await
            {
                tracing::warn!(error = %e, "demo: the Kalshi script task failed");
            }
        })
    }

    /// `NAME URL` for every endpoint, as `arbytron sim` prints them.
    pub fn endpoints(&self) -> Vec<arbytron_sim::Endpoint> {
        let mut v = Vec::new();
        if let Some(k) = &self.kalshi {
            v.extend(k.endpoints());
        }
        if let Some(p) = &self.polymarket {
            v.extend(p.endpoints());
        }
        if let Some(a) = &self.amm {
            v.push(arbytron_sim::Endpoint { name: "amm-rpc".into(), url: a.anvil.url().to_string() });
            v.push(arbytron_sim::Endpoint { name: "amm-pool".into(), url: format!("{:#x}", a.deployment.pool) });
        }
        v
    }

    pub async fn shutdown(self) {
        if let Some(s) = self.script {
            s.abort();
        }
        if let Some(k) = self.kalshi {
            k.shutdown().await;
        }
        if let Some(p) = self.polymarket {
            p.shutdown().await;
        }
    }
}
