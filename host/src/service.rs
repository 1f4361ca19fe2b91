//! The service: `arbytron run` (and its `ingest` / `run --bus` halves).
//!
//! ```text
//! venues ──feeds──▶ ingest ──▶ bus ──▶ engine ──▶ execution ──▶ venues
//!                                        ▲  (WASM strategies, risk)  │
//!                                        └──────── outcomes ◀────────┘
//! ```
//! By default one process plays both roles over the in-process bus. With
//! `--bus redis|kafka`, `arbytron ingest` runs the feeds and any number of
//! `arbytron run` processes share the work.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arbytron_bus::{ConsumeOptions, Deduplicator, IngestOptions};
use arbytron_engine::{Engine, EngineConfig, LinkSpec};
use arbytron_execution::Executor;
use arbytron_model::venue::MarketFeed;
use arbytron_model::{MarketInfo, MarketUpdate};
use arbytron_runtime::{LoadOutcome, Runtime, StrategySet};
use arbytron_store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::control::Control;
use crate::pipeline::{self, PipelineConfig};
use crate::settings::Settings;
use crate::world::World;

/// Which half (or both) of the pipeline this process runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Feeds, engine and execution in one process.
    All,
    /// Feeds → bus only.
    Ingest,
    /// Bus → engine → execution only.
    Trade,
}

/// Everything the running service holds; dropping it stops it.
pub struct Service {
    pub strategies: Arc<StrategySet>,
    pub control: Arc<Control>,
    pub admin_addr: std::net::SocketAddr,
    pub world: Option<World>,
    pub shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _watch: Option<arbytron_runtime::WatchHandle>,
}

impl Service {
    /// Stop every task and wait (briefly) for in-flight work.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            match tokio::time::timeout(Duration::from_secs(10), t).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a service task failed"),
                Err(_) => tracing::warn!("a service task did not stop within 10 s"),
            }
        }
        if let Some(w) = self.world {
            w.shutdown().await;
        }
    }
}

/// Load attempts waiting to be written to the store (which opens later).
type LoadHistory = mpsc::UnboundedReceiver<arbytron_runtime::LoadRecord>;

async fn load_strategies(
    settings: &Settings,
) -> anyhow::Result<(Arc<StrategySet>, Option<arbytron_runtime::WatchHandle>, LoadHistory)> {
    let st = &settings.strategies;
    let runtime = Runtime::new(st.runtime_config()).context("starting the strategy runtime")?;
    let params_src = st.clone();
    let strategies = Arc::new(StrategySet::new(runtime, Arc::new(move |name| params_src.params_for(name))));
    let (history_tx, history) = mpsc::unbounded_channel();
    strategies.on_load(Box::new(move |r| {
        if history_tx.send(r.clone()).is_err() {
            tracing::debug!(strategy = %r.name, "store writer gone; load attempt not recorded");
        }
    }));
    if !st.dir.exists() {
        std::fs::create_dir_all(&st.dir)
            .with_context(|| format!("strategies.dir {}: cannot create", st.dir.display()))?;
    }
    let loaded =
        strategies.load_dir(&st.dir).with_context(|| format!("strategies.dir {}: cannot read", st.dir.display()))?;
    let live = loaded.iter().filter(|(_, r)| matches!(r, Ok(LoadOutcome::Live { .. }))).count();
    tracing::info!(dir = %st.dir.display(), live, failed = loaded.len() - live, "strategies loaded");
    if loaded.is_empty() {
        tracing::warn!(dir = %st.dir.display(), "no strategies found: build them with scripts/build-wasm.sh or drop a *.wasm here");
    }
    let watch = if st.watch {
        Some(
            arbytron_runtime::watch(strategies.clone(), &st.dir, Duration::from_millis(st.debounce_ms))
                .with_context(|| format!("watching {}", st.dir.display()))?,
        )
    } else {
        None
    };
    Ok((strategies, watch, history))
}

/// Write every strategy load attempt to the store, as they happen.
async fn record_loads(store: Store, mut history: LoadHistory, stop: CancellationToken) {
    loop {
        let r = tokio::select! {
            _ = stop.cancelled() => return,
            r = history.recv() => match r { Some(r) => r, None => return },
        };
        let v = arbytron_store::StrategyVersion {
            name: r.name,
            version: r.version,
            hash: r.hash,
            file: r.file.display().to_string(),
            loaded_at: r.at,
            result: if r.result == "ok" { "live".into() } else { r.result.into() },
            reason: r.reason,
        };
        if let Err(e) = store.record_strategy_version(&v).await {
            tracing::warn!(strategy = %v.name, error = %e, "could not record a strategy load");
        }
    }
}

/// The SQLite file a store URL names, if it names one.
fn sqlite_file(url: &str) -> Option<&std::path::Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| std::path::Path::new(path))
}

/// Move an earlier run's SQLite store (and its WAL files) aside, so a run
/// against freshly started simulators starts from an empty record. Other
/// backends are left alone. Returns where the old file went.
pub fn move_store_aside(url: &str) -> anyhow::Result<Option<std::path::PathBuf>> {
    let Some(path) = sqlite_file(url) else { return Ok(None) };
    if !path.exists() {
        return Ok(None);
    }
    let stamp = arbytron_model::now_ms();
    let mut target = path.as_os_str().to_owned();
    target.push(format!(".prev-{stamp}"));
    let target = std::path::PathBuf::from(target);
    for suffix in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_owned();
        from.push(suffix);
        let from = std::path::PathBuf::from(from);
        if from.exists() {
            let mut to = target.as_os_str().to_owned();
            to.push(suffix);
            std::fs::rename(&from, &to)
                .with_context(|| format!("sim.fresh_store: cannot move {} aside", from.display()))?;
        }
    }
    Ok(Some(target))
}

/// Open the store, creating the SQLite file's folder if needed.
pub async fn open_store(url: &str) -> anyhow::Result<Store> {
    if let Some(dir) = sqlite_file(url).and_then(|p| p.parent()).filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("store.url: cannot create {}", dir.display()))?;
    }
    Store::connect(url)
        .await
        .with_context(|| format!("store.url: cannot open {}", arbytron_integration::redact::url(url)))
}

/// Every market each feed lists, per feed.
async fn discover(feeds: &[Arc<dyn MarketFeed>]) -> anyhow::Result<Vec<Vec<MarketInfo>>> {
    let mut all = Vec::new();
    for f in feeds {
        let markets = f.discover().await.with_context(|| format!("discovering {} markets", f.venue()))?;
        tracing::info!(venue = %f.venue(), markets = markets.len(), "markets discovered");
        all.push(markets);
    }
    Ok(all)
}

pub async fn start(settings: &Settings, role: Role) -> anyhow::Result<Service> {
    let shutdown = CancellationToken::new();
    let control = Arc::new(Control::default());
    let mut tasks = Vec::new();

    let world = if settings.sim.enabled && role != Role::Trade {
        let w = crate::world::start(settings.sim.seed, &settings.sim.scenario, settings.sim.amm).await?;
        for e in w.endpoints() {
            tracing::info!(endpoint = %e.name, url = %e.url, "simulator serving");
        }
        Some(w)
    } else {
        None
    };
    let connected = crate::venues::connect(settings, world.as_ref(), role != Role::Ingest).await?;
    let bus = arbytron_bus::connect(&settings.bus).await.context("bus")?;
    let (strategies, watch, history) = if role == Role::Ingest {
        let rt = Runtime::new(settings.strategies.runtime_config())?;
        (Arc::new(StrategySet::new(rt, Arc::new(|_| arbytron_sdk::Params::default()))), None, None)
    } else {
        let (s, w, h) = load_strategies(settings).await?;
        (s, w, Some(h))
    };
    let listings = discover(&connected.feeds).await?;

    // Ingest: listings first, then every feed's stream, onto the bus.
    if role != Role::Trade {
        let publisher = bus.publisher().await.context("bus publisher")?;
        let (tx, rx) = mpsc::channel::<MarketUpdate>(65_536);
        for (feed, markets) in connected.feeds.iter().zip(&listings) {
            for m in markets {
                if tx.send(MarketUpdate::Listing(m.clone())).await.is_err() {
                    anyhow::bail!("the ingest queue closed while starting");
                }
            }
            let (feed, keys, tx, stop) =
                (feed.clone(), markets.iter().map(|m| m.key.clone()).collect(), tx.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    r = feed.stream(keys, tx) => if let Err(e) = r {
                        tracing::error!(venue = %feed.venue(), error = %e, "market feed stopped");
                    }
                }
            }));
        }
        drop(tx);
        let stop = shutdown.clone();
        let opts = IngestOptions { source: format!("arbytron-{}", std::process::id()), ..IngestOptions::default() };
        tasks.push(tokio::spawn(async move {
            if let Err(e) = arbytron_bus::run_ingest(publisher.as_ref(), rx, opts, stop).await {
                tracing::error!(error = %e, "ingest stopped");
            }
        }));
    }

    // Trade: bus → engine → execution.
    if role != Role::Ingest {
        if world.is_some()
            && settings.sim.fresh_store
            && let Some(old) = move_store_aside(&settings.store.url)?
        {
            tracing::info!(
                moved_to = %old.display(),
                "the simulators start empty: an earlier run's store was moved aside (sim.fresh_store)"
            );
        }
        let store = open_store(&settings.store.url).await?;
        if let Some(history) = history {
            tasks.push(tokio::spawn(record_loads(store.clone(), history, shutdown.clone())));
        }
        let engine_cfg = EngineConfig {
            pack: arbytron_engine::candidate::PackConfig {
                depth: settings.engine.depth,
                max_book_age_ms: settings.risk.max_book_age_ms,
                amm_fixed_cost: settings.venues.amm.gas_estimate,
            },
            risk: settings.risk.clone(),
            reject_record_interval_ms: settings.engine.reject_record_interval_ms,
        };
        let mut engine = Engine::new(engine_cfg, control.kill_flag());
        let now = pipeline::now_ms();
        for m in listings.iter().flatten() {
            engine.markets.apply(&MarketUpdate::Listing(m.clone()), now);
            if let Err(e) = store.upsert_market(m).await {
                tracing::warn!(market = %m.key, error = %e, "could not record a market");
            }
        }
        let mut specs: Vec<LinkSpec> = Vec::new();
        if let Some(path) = &settings.engine.mappings {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("engine.mappings {}: cannot read", path.display()))?;
            specs.extend(
                arbytron_engine::parse_mappings(&text)
                    .map_err(|e| anyhow::anyhow!("engine.mappings {}: {e}", path.display()))?,
            );
        }
        if let Some(w) = &world {
            specs.extend(w.links.iter().cloned());
        }
        specs.extend(
            crate::matching::propose(&strategies, &mut engine, &listings, settings.engine.auto_approve_ppm, &store)
                .await,
        );
        for mut spec in specs {
            match store.insert_link(&crate::matching::to_store(&spec)).await {
                Ok(id) => spec.store_id = Some(id),
                Err(e) => tracing::warn!(link = %spec.name, error = %e, "could not record a link"),
            }
            match engine.add_link(spec.clone()) {
                Ok(id) => tracing::info!(link = %spec.name, id, outcomes = spec.outcomes.len(), "link live"),
                Err(e) => tracing::warn!(link = %spec.name, error = %e, "link refused"),
            }
        }

        // Money records go through the ledger: the store, or the local outbox
        // while the store is away. What an earlier run left there is applied
        // before anything is read back.
        let ledger = Arc::new(
            arbytron_store::Ledger::open(store.clone(), &settings.store.outbox_dir)
                .with_context(|| format!("store.outbox_dir {}", settings.store.outbox_dir.display()))?,
        );
        match ledger.drain().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(applied = n, "applied money records an earlier run left in the outbox"),
            Err(e) => anyhow::bail!("store.outbox_dir: cannot apply what an earlier run left: {e}"),
        }
        if !ledger.health().available() {
            anyhow::bail!("the store does not take writes; {} records wait in the outbox", ledger.pending().await);
        }
        engine.risk.add_pause("store_unavailable", ledger.health().unavailable_flag());
        {
            let (ledger, stop) = (ledger.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move { ledger.run(Duration::from_millis(250), stop).await }));
        }
        let executor =
            Arc::new(Executor::new(connected.venues.clone(), ledger.clone(), settings.execution.exec.clone()));
        let recovery = executor
            .recover(&|k| pipeline::market_ref(&engine, k), &|store_id| engine.link_by_store_id(store_id))
            .await;
        if recovery.resolved + recovery.never_sent + recovery.still_unknown + recovery.held.len() > 0 {
            tracing::info!(
                resolved = recovery.resolved,
                never_sent = recovery.never_sent,
                still_unknown = recovery.still_unknown,
                held = recovery.held.len(),
                repaired = recovery.repaired,
                "recovered state from the store and the venues"
            );
        }
        for held in recovery.held {
            let bundle = held.bundle;
            engine.exit_finished(bundle, Some(held), arbytron_sdk::Money::ZERO, now);
        }
        pipeline::apply_drift(&mut engine, &executor.check_positions().await);

        // Our fills as the venues stream them, into the store (or the outbox).
        for venue in connected.venues.values() {
            let (venue, ledger, stop) = (venue.clone(), ledger.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(mut rx) = venue.fills().await else { return };
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        f = rx.recv() => match f {
                            Some(f) => if let Err(e) = ledger.record_fill(&f).await {
                                tracing::warn!(error = %e, "could not record a fill");
                            },
                            None => return,
                        }
                    }
                }
            }));
        }

        let (utx, urx) = mpsc::channel::<pipeline::Inbound>(65_536);
        let consumer = bus.consumer().await.context("bus consumer")?;
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let mut dedup = Deduplicator::new(arbytron_bus::DEFAULT_DEDUP_CAPACITY);
            let handler = ToEngine(utx);
            if let Err(e) =
                arbytron_bus::run_consumer(consumer, &mut dedup, &ConsumeOptions::default(), stop, handler).await
            {
                tracing::error!(error = %e, "bus consumer stopped");
            }
        }));
        let cfg = PipelineConfig {
            reconcile_every: Duration::from_millis(settings.engine.reconcile_interval_ms.max(1_000)),
            snapshot_every: Duration::from_millis(settings.engine.pnl_snapshot_interval_ms.max(1_000)),
        };
        let (s, c, stop) = (strategies.clone(), control.clone(), shutdown.clone());
        tasks.push(tokio::spawn(pipeline::run(engine, s, executor, store, urx, c, cfg, stop)));
    }

    let admin_addr =
        admin::serve(settings.admin.listen, AdminState { strategies: strategies.clone(), control: control.clone() })
            .await?;
    tracing::info!(%admin_addr, "admin API: /metrics /status /kill /resume");
    Ok(Service { strategies, control, admin_addr, world, shutdown, tasks, _watch: watch })
}

/// The bus consumer's handler: updates go onto the trading loop's queue, and
/// a batch is acknowledged only once the loop has worked through it.
struct ToEngine(mpsc::Sender<pipeline::Inbound>);

impl arbytron_bus::Handler for ToEngine {
    type Error = &'static str;

    async fn handle(&mut self, env: arbytron_bus::Envelope) -> Result<(), &'static str> {
        self.0.send(pipeline::Inbound::Update(env.update)).await.map_err(|_| "engine stopped")
    }

    async fn processed(&mut self) -> Result<(), &'static str> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.0.send(pipeline::Inbound::Processed(done)).await.map_err(|_| "engine stopped")?;
        wait.await.map_err(|_| "engine stopped")
    }
}

/// Wait for Ctrl-C or SIGTERM; SIGUSR1 engages the kill switch.
pub async fn wait_for_shutdown(control: Arc<Control>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
            _ = usr1.recv() => control.kill("SIGUSR1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_sqlite_store_is_moved_aside_with_its_wal_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("arbytron.db");
        std::fs::write(&db, b"old run").unwrap();
        std::fs::write(dir.path().join("arbytron.db-wal"), b"old wal").unwrap();
        let url = format!("sqlite://{}?mode=rwc", db.display());

        let moved = move_store_aside(&url).unwrap().expect("moved");
        assert!(!db.exists() && !dir.path().join("arbytron.db-wal").exists());
        assert_eq!(std::fs::read(&moved).unwrap(), b"old run", "kept, not deleted");
        let mut wal = moved.as_os_str().to_owned();
        wal.push("-wal");
        assert_eq!(std::fs::read(std::path::PathBuf::from(wal)).unwrap(), b"old wal");

        assert_eq!(move_store_aside(&url).unwrap(), None, "nothing there any more");
        assert_eq!(move_store_aside("sqlite::memory:").unwrap(), None);
        assert_eq!(move_store_aside("postgres://localhost/arbytron").unwrap(), None);
    }
}
