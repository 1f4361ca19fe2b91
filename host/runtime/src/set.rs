//! The loaded strategies, hot reload, and quarantine.
//!
//! Each `*.wasm` file in the strategies folder is a [`Slot`]. A slot's live
//! version is an `Arc<Live>` behind an `ArcSwapOption`: a caller takes the Arc
//! and calls on it, so a reload can publish a new version with one atomic swap
//! while calls already in flight finish on the old one (dropped when the last
//! caller lets go). Everything slow — compile, link, instantiate, init,
//! self-test, state hand-over — happens before the swap, off the hot path;
//! any failure leaves the old version running.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arbytron_sdk::wire::LegsBuf;
use arbytron_sdk::{ExitDecision, Link, Listing, Opportunity, Params, Position, StrategyInfo, TimestampMs};
use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::Mutex;

use crate::engine::{Runtime, module_hash};
use crate::error::{CallError, LoadError};
use crate::instance::Instance;
use crate::metrics::{CallMetrics, INFO, QUARANTINED, RELOADS};

/// Looks up a strategy's `init` parameters by the name it reports in `describe`.
pub type ParamsFn = Arc<dyn Fn(&str) -> Params + Send + Sync>;

/// One live version of a strategy.
pub struct Live {
    pub info: StrategyInfo,
    /// `info.name`, shareable without allocating (the engine labels every call with it).
    pub name: Arc<str>,
    /// SHA-256 of the module, hex.
    pub hash: String,
    /// Increases with every successful load in this process; tells versions apart.
    pub version_id: u64,
    instance: Mutex<Instance>,
    /// Set (under the instance lock) when a newer version took over this one's
    /// state: a caller that still holds this version must go to the new one,
    /// or its state change would be lost.
    retired: std::sync::atomic::AtomicBool,
}

impl Live {
    pub fn short_hash(&self) -> &str {
        &self.hash[..12.min(self.hash.len())]
    }
}

/// A slot's state, for status reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotStatus {
    Live {
        name: String,
        version: String,
        hash: String,
    },
    /// Disabled after a trap, timeout, memory overrun or invalid return; a new
    /// file version is needed to bring it back.
    Quarantined {
        name: String,
        reason: String,
    },
    /// Never loaded successfully (the reason of the last attempt).
    Failed {
        reason: String,
    },
}

/// One strategy file and whatever version of it is live.
pub struct Slot {
    /// The file stem; stable across versions.
    pub key: String,
    path: PathBuf,
    live: ArcSwapOption<Live>,
    status: Mutex<SlotStatus>,
}

/// The answer to one call, with the version that gave it.
#[derive(Debug)]
pub struct Answer<T> {
    pub version_id: u64,
    pub value: T,
}

impl Slot {
    fn new(key: String, path: PathBuf) -> Slot {
        Slot {
            key,
            path,
            live: ArcSwapOption::empty(),
            status: Mutex::new(SlotStatus::Failed { reason: "not loaded yet".into() }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn live(&self) -> Option<Arc<Live>> {
        self.live.load_full()
    }

    pub fn status(&self) -> SlotStatus {
        self.status.lock().clone()
    }

    /// Run `f` on the live instance; a fatal error quarantines that version.
    fn with_live<T>(&self, f: impl FnOnce(&mut Instance) -> Result<T, CallError>) -> Result<Answer<T>, CallError> {
        let (live, result) = loop {
            let live = self.live.load_full().ok_or_else(|| CallError::Unavailable(self.unavailable_reason()))?;
            let mut instance = live.instance.lock();
            if live.retired.load(Ordering::Acquire) {
                // Swapped out between our load and our lock; retry on the new version.
                continue;
            }
            let result = f(&mut instance);
            drop(instance);
            break (live, result);
        };
        match result {
            Ok(value) => Ok(Answer { version_id: live.version_id, value }),
            Err(e) => {
                if e.is_fatal() {
                    self.quarantine(&live, &e);
                }
                Err(e)
            }
        }
    }

    fn unavailable_reason(&self) -> String {
        match &*self.status.lock() {
            SlotStatus::Quarantined { name, reason } => format!("{name} is quarantined: {reason}"),
            SlotStatus::Failed { reason } => format!("{} failed to load: {reason}", self.key),
            SlotStatus::Live { name, .. } => format!("{name} has no live version"),
        }
    }

    fn quarantine(&self, live: &Arc<Live>, err: &CallError) {
        // Only if that version is still the live one: a reload may have replaced it already.
        let prev = self.live.compare_and_swap(&Some(live.clone()), None::<Arc<Live>>);
        let was_live = prev.as_ref().is_some_and(|p| Arc::ptr_eq(p, live));
        if !was_live {
            return;
        }
        let name = live.info.name.clone();
        QUARANTINED.with_label_values(&[&name]).set(1);
        forget_info(&[&name, &live.info.version, live.short_hash()]);
        *self.status.lock() = SlotStatus::Quarantined { name: name.clone(), reason: err.to_string() };
        tracing::error!(
            strategy = %name,
            version = %live.info.version,
            hash = %live.short_hash(),
            file = %self.path.display(),
            reason = %err,
            "strategy quarantined; other strategies carry on; replace the module file to load a fixed version"
        );
    }

    /// Hot path: price a candidate.
    pub fn score(
        &self,
        link: u32,
        now: TimestampMs,
        resolves_at: TimestampMs,
        legs: &mut LegsBuf,
    ) -> Result<Answer<Option<Opportunity>>, CallError> {
        self.with_live(|i| i.score(link, now, resolves_at, legs))
    }

    pub fn match_markets(&self, listings: &[Listing], now: TimestampMs) -> Result<Answer<Vec<Link>>, CallError> {
        self.with_live(|i| i.match_markets(listings, now))
    }

    pub fn decide_exit(
        &self,
        position: &Position,
        now: TimestampMs,
        legs: &LegsBuf,
    ) -> Result<Answer<ExitDecision>, CallError> {
        self.with_live(|i| i.decide_exit(position, now, legs))
    }
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadOutcome {
    /// A new version is live.
    Live { name: String, version: String, hash: String, version_id: u64, state_carried: bool, from_cache: bool },
    /// The file's content is what is already live.
    Unchanged,
}

/// Every strategy of a host.
pub struct StrategySet {
    runtime: Runtime,
    params: ParamsFn,
    slots: ArcSwap<Vec<Arc<Slot>>>,
    /// Loads and unloads one at a time (calls never wait on it).
    edit: Mutex<()>,
    next_version: AtomicU64,
    on_load: ArcSwapOption<LoadListener>,
}

/// One attempt to load a module, for whoever keeps a history (the host
/// writes them to its store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadRecord {
    /// The strategy's name (its file name when it never described itself).
    pub name: String,
    /// Empty when the load failed before the module described itself.
    pub version: String,
    /// SHA-256 of the module, hex; empty when the file could not be read.
    pub hash: String,
    pub file: PathBuf,
    pub at: TimestampMs,
    /// `"ok"`, or the failing step (as in `arbytron_strategy_reloads_total`).
    pub result: &'static str,
    /// Why it failed; empty when it went live.
    pub reason: String,
}

/// Called after every load attempt, on the loading thread: keep it quick.
pub type LoadListener = Box<dyn Fn(&LoadRecord) + Send + Sync>;

fn wall_clock_ms() -> TimestampMs {
    arbytron_integration::now_ms()
}

fn is_module(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
}

fn key_of(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

impl StrategySet {
    pub fn new(runtime: Runtime, params: ParamsFn) -> StrategySet {
        StrategySet {
            runtime,
            params,
            slots: ArcSwap::from_pointee(Vec::new()),
            edit: Mutex::new(()),
            next_version: AtomicU64::new(1),
            on_load: ArcSwapOption::empty(),
        }
    }

    /// Be told of every load attempt from now on (successes and failures).
    pub fn on_load(&self, listener: LoadListener) {
        self.on_load.store(Some(Arc::new(listener)));
    }

    fn tell(&self, path: &Path, result: &Result<LoadOutcome, LoadError>, label_name: &str) {
        let Some(listener) = self.on_load.load_full() else { return };
        let record = match result {
            Ok(LoadOutcome::Unchanged) => return,
            Ok(LoadOutcome::Live { name, version, hash, .. }) => LoadRecord {
                name: name.clone(),
                version: version.clone(),
                hash: hash.clone(),
                file: path.to_path_buf(),
                at: wall_clock_ms(),
                result: "ok",
                reason: String::new(),
            },
            Err(e) => LoadRecord {
                name: label_name.to_string(),
                version: String::new(),
                hash: std::fs::read(path).map(|b| module_hash(&b)).unwrap_or_default(),
                file: path.to_path_buf(),
                at: wall_clock_ms(),
                result: e.label(),
                reason: e.to_string(),
            },
        };
        listener(&record);
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The current slots (cheap: one atomic load). The engine iterates these per update.
    pub fn slots(&self) -> Arc<Vec<Arc<Slot>>> {
        self.slots.load_full()
    }

    pub fn slot(&self, key: &str) -> Option<Arc<Slot>> {
        self.slots.load().iter().find(|s| s.key == key).cloned()
    }

    /// Load every `*.wasm` in `dir`, in name order. A module that fails is
    /// reported and skipped; the others still load.
    pub fn load_dir(&self, dir: &Path) -> std::io::Result<Vec<(PathBuf, Result<LoadOutcome, LoadError>)>> {
        let mut paths: Vec<PathBuf> =
            std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_module(p)).collect();
        paths.sort();
        Ok(paths.into_iter().map(|p| (p.clone(), self.load_file(&p))).collect())
    }

    /// Compile, instantiate, init, self-test and hand state over, then swap
    /// the new version in. On any failure the previous version keeps running.
    pub fn load_file(&self, path: &Path) -> Result<LoadOutcome, LoadError> {
        let _edit = self.edit.lock();
        let key = key_of(path);
        let started = Instant::now();
        let slot = self.slot(&key).unwrap_or_else(|| Arc::new(Slot::new(key.clone(), path.to_path_buf())));
        let result = self.prepare_and_swap(&slot, path);
        let label_name = slot.live().map(|l| l.info.name.clone()).unwrap_or_else(|| key.clone());
        self.tell(path, &result, &label_name);
        match &result {
            Ok(LoadOutcome::Live { name, version, hash, state_carried, from_cache, version_id }) => {
                RELOADS.with_label_values(&[name, "ok"]).inc();
                tracing::info!(
                    strategy = %name, %version, hash = %&hash[..12], version_id, state_carried, from_cache,
                    file = %path.display(), took_ms = started.elapsed().as_millis() as u64,
                    "strategy live"
                );
                self.ensure_listed(slot);
            }
            Ok(LoadOutcome::Unchanged) => {}
            Err(e) => {
                RELOADS.with_label_values(&[&label_name, e.label()]).inc();
                let keeps = slot.live().map(|l| format!("{} {}", l.info.name, l.info.version));
                tracing::warn!(
                    strategy = %label_name, file = %path.display(), reason = %e,
                    previous = keeps.as_deref().unwrap_or("none"),
                    "strategy load failed; the previous version (if any) keeps running"
                );
                if slot.live().is_none() {
                    let quarantined = matches!(*slot.status.lock(), SlotStatus::Quarantined { .. });
                    if !quarantined {
                        *slot.status.lock() = SlotStatus::Failed { reason: e.to_string() };
                    }
                    self.ensure_listed(slot);
                }
            }
        }
        result
    }

    fn ensure_listed(&self, slot: Arc<Slot>) {
        if self.slot(&slot.key).is_none() {
            let mut v: Vec<Arc<Slot>> = self.slots.load().iter().cloned().collect();
            v.push(slot);
            v.sort_by(|a, b| a.key.cmp(&b.key));
            self.slots.store(Arc::new(v));
        }
    }

    fn prepare_and_swap(&self, slot: &Arc<Slot>, path: &Path) -> Result<LoadOutcome, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Read(format!("{}: {e}", path.display())))?;
        let old = slot.live();
        // A rename can reach us as two debounced batches; the second must not
        // recompile (it would hold the worker for a full compile).
        if old.as_ref().is_some_and(|o| o.hash == module_hash(&bytes)) {
            return Ok(LoadOutcome::Unchanged);
        }
        let module = self.runtime.compile(&bytes)?;
        let now = wall_clock_ms();
        let mut instance = self.runtime.instantiate(&module, &slot.key)?;
        let info = instance.describe().map_err(|e| LoadError::Describe(e.to_string()))?;
        instance.set_metrics(Arc::new(CallMetrics::new(&info.name)));
        let params = (self.params)(&info.name);
        instance.init(&params, now).map_err(|e| LoadError::Init(e.to_string()))?;
        self_test(&mut instance, &info, now)?;

        // Hand state over while holding the old instance, so nothing changes
        // between its snapshot and the swap (calls on it wait a moment, then
        // finish on the old version).
        let mut old_guard = old.as_ref().map(|o| (o, o.instance.lock()));
        let mut state_carried = false;
        if let Some((old_live, oi)) = old_guard.as_mut()
            && old_live.info.name == info.name
            && old_live.info.capabilities.snapshot
            && info.capabilities.snapshot
        {
            match oi.snapshot(now) {
                Ok(state) if !state.is_empty() => match instance.restore(&state, now) {
                    Ok(()) => state_carried = true,
                    Err(e) if e.is_fatal() => return Err(LoadError::SelfTest(format!("restore: {e}"))),
                    Err(e) => {
                        tracing::warn!(strategy = %info.name, reason = %e, "new version refused the old state; it starts fresh")
                    }
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    strategy = %info.name, reason = %e,
                    "old version could not snapshot its state; the new one starts fresh"
                ),
            }
        }
        let version_id = self.next_version.fetch_add(1, Ordering::Relaxed);
        let live = Arc::new(Live {
            name: Arc::from(info.name.as_str()),
            info: info.clone(),
            hash: module.hash.clone(),
            version_id,
            instance: Mutex::new(instance),
            retired: std::sync::atomic::AtomicBool::new(false),
        });
        if let Some(o) = &old {
            forget_info(&[&o.info.name, &o.info.version, o.short_hash()]);
        }
        INFO.with_label_values(&[&info.name, &info.version, live.short_hash()]).set(1);
        QUARANTINED.with_label_values(&[&info.name]).set(0);
        slot.live.store(Some(live));
        if let Some((old_live, _guard)) = &old_guard {
            old_live.retired.store(true, Ordering::Release);
        }
        *slot.status.lock() =
            SlotStatus::Live { name: info.name.clone(), version: info.version.clone(), hash: module.hash.clone() };
        drop(old_guard);
        Ok(LoadOutcome::Live {
            name: info.name,
            version: info.version,
            hash: module.hash,
            version_id,
            state_carried,
            from_cache: module.from_cache,
        })
    }

    /// Unload the strategy a (deleted) file provided. Calls in flight finish first.
    pub fn unload(&self, path: &Path) -> bool {
        let _edit = self.edit.lock();
        let key = key_of(path);
        let current = self.slots.load_full();
        let Some(slot) = current.iter().find(|s| s.key == key).cloned() else { return false };
        let v: Vec<Arc<Slot>> = current.iter().filter(|s| s.key != key).cloned().collect();
        self.slots.store(Arc::new(v));
        if let Some(live) = slot.live.swap(None) {
            forget_info(&[&live.info.name, &live.info.version, live.short_hash()]);
            tracing::info!(strategy = %live.info.name, version = %live.info.version, file = %path.display(), "strategy unloaded");
        }
        true
    }
}

/// The checks a new version must pass before it may go live: it answers an
/// empty candidate (and, if it matches markets, an empty listing) in time and
/// without trapping.
fn self_test(instance: &mut Instance, info: &StrategyInfo, now: TimestampMs) -> Result<(), LoadError> {
    let mut empty = LegsBuf::default();
    instance
        .score(0, now, now + 86_400_000, &mut empty)
        .map_err(|e| LoadError::SelfTest(format!("score on an empty candidate: {e}")))?;
    if info.capabilities.match_markets {
        instance
            .match_markets(&[], now)
            .map_err(|e| LoadError::SelfTest(format!("match-markets on no listings: {e}")))?;
    }
    Ok(())
}

/// Drop a version's info series. Missing is fine: it was never exported.
fn forget_info(labels: &[&str]) {
    if INFO.remove_label_values(labels).is_err() {
        tracing::trace!(?labels, "no info series to remove");
    }
}
