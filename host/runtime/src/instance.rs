//! One live strategy instance: a store, its bindings, and bounded calls.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arbytron_sdk::wire::LegsBuf;
use arbytron_sdk::{ExitDecision, Link, Listing, Opportunity, Params, Position, StrategyInfo, TimestampMs};
use wasmtime::Store;
use wasmtime::component::ResourceTableError;

use crate::bindings::{self, wit};
use crate::engine::{HostState, RuntimeConfig};
use crate::error::{CallError, TrapKind};
use crate::metrics::CallMetrics;

/// Which export a call is for (metric label and deadline choice).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Func {
    Describe,
    Init,
    MatchMarkets,
    Score,
    DecideExit,
    Snapshot,
    Restore,
}

impl Func {
    pub const ALL: [Func; 7] =
        [Func::Describe, Func::Init, Func::MatchMarkets, Func::Score, Func::DecideExit, Func::Snapshot, Func::Restore];

    pub fn name(self) -> &'static str {
        match self {
            Func::Describe => "describe",
            Func::Init => "init",
            Func::MatchMarkets => "match-markets",
            Func::Score => "score",
            Func::DecideExit => "decide-exit",
            Func::Snapshot => "snapshot",
            Func::Restore => "restore",
        }
    }
}

pub struct Instance {
    store: Store<HostState>,
    bindings: bindings::Strategy,
    config: RuntimeConfig,
    pub hash: String,
    info: Option<StrategyInfo>,
    metrics: Option<Arc<CallMetrics>>,
    /// Set after a trap: wasmtime leaves a trapped instance in an undefined state.
    poisoned: bool,
    /// Reused argument buffers so the hot path does not allocate.
    candidate: wit::Candidate,
}

impl Instance {
    pub(crate) fn new(
        store: Store<HostState>,
        bindings: bindings::Strategy,
        hash: String,
        config: RuntimeConfig,
    ) -> Instance {
        Instance {
            store,
            bindings,
            config,
            hash,
            info: None,
            metrics: None,
            poisoned: false,
            candidate: wit::Candidate { link: 0, now: 0, resolves_at: 0, legs: Vec::new(), data: Vec::new() },
        }
    }

    pub fn info(&self) -> Option<&StrategyInfo> {
        self.info.as_ref()
    }

    /// Attach metric handles (resolved once, so a call does not look labels up).
    pub(crate) fn set_metrics(&mut self, metrics: Arc<CallMetrics>) {
        self.metrics = Some(metrics);
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Log lines the strategy tried to emit past the per-call cap, so far.
    pub fn logs_dropped(&self) -> u64 {
        self.store.data().logs_dropped
    }

    /// Run one export under its deadline, classify traps, and record metrics.
    fn call<T>(
        &mut self,
        func: Func,
        now: TimestampMs,
        f: impl FnOnce(&bindings::Strategy, &mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        if self.poisoned {
            return Err(CallError::Unavailable("instance trapped earlier".into()));
        }
        let deadline = match func {
            Func::Score => self.config.score_deadline,
            Func::DecideExit => self.config.exit_deadline,
            _ => self.config.slow_deadline,
        };
        let ticks = self.config.ticks(deadline);
        let started = Instant::now();
        {
            let data = self.store.data_mut();
            data.now.store(now, Ordering::Relaxed);
            data.logs_left = self.config.max_log_lines_per_call;
            data.call.started = started;
            data.call.budget = deadline;
            data.call.grace_cpu_start = None;
        }
        self.store.set_epoch_deadline(ticks);
        let result = f(&self.bindings, &mut self.store);
        let elapsed = started.elapsed();
        if let Some(m) = &self.metrics {
            m.observe(func, elapsed);
        }
        result.map_err(|e| {
            self.poisoned = true;
            let err = self.classify(func, e, elapsed, deadline);
            if let Some(m) = &self.metrics {
                m.error(func, err.label());
            }
            err
        })
    }

    fn classify(&self, func: Func, e: wasmtime::Error, elapsed: Duration, deadline: Duration) -> CallError {
        let stderr = String::from_utf8_lossy(&self.store.data().stderr.contents()).trim().to_string();
        let text = format!("{e:#}");
        // The useful part of a trap message is its cause, after the wasm backtrace.
        let cause = e.root_cause().to_string();
        let deadline_hit = e.downcast_ref::<crate::engine::DeadlineExceeded>().is_some();
        let kind = match e.downcast_ref::<wasmtime::Trap>() {
            _ if deadline_hit => TrapKind::Timeout,
            Some(wasmtime::Trap::Interrupt) => TrapKind::Timeout,
            Some(wasmtime::Trap::StackOverflow) => TrapKind::StackOverflow,
            Some(wasmtime::Trap::MemoryOutOfBounds) => TrapKind::MemoryFault,
            Some(wasmtime::Trap::UnreachableCodeReached)
                if text.contains("memory") || stderr.contains("memory allocation") =>
            {
                TrapKind::MemoryLimit
            }
            Some(wasmtime::Trap::UnreachableCodeReached) => TrapKind::Panic,
            _ if text.contains("forcing trap when growing memory")
                || text.contains("memory") && text.contains("limit") =>
            {
                TrapKind::MemoryLimit
            }
            _ if e.downcast_ref::<ResourceTableError>().is_some() => TrapKind::Other,
            _ => TrapKind::Other,
        };
        let mut message = match kind {
            TrapKind::Timeout => format!("exceeded its {deadline:?} deadline (ran {elapsed:?}; {text})"),
            TrapKind::MemoryLimit => format!("exceeded its {} MiB memory cap", self.config.memory_limit_bytes >> 20),
            TrapKind::MemoryFault => {
                format!(
                    "{cause} (for a Rust strategy this is usually a stack overflow: deep recursion or a large local)"
                )
            }
            _ => arbytron_telemetry::truncate(&cause, 600),
        };
        if !stderr.is_empty() {
            message.push_str("; stderr: ");
            message.push_str(&arbytron_telemetry::truncate(&stderr, 600));
        }
        CallError::Trap { func: func.name(), kind, message }
    }

    pub fn describe(&mut self) -> Result<StrategyInfo, CallError> {
        let info = self.call(Func::Describe, 0, |b, s| b.call_describe(s))?;
        let info = bindings::info_in(info);
        if info.name.trim().is_empty() || info.name.len() > 64 {
            return Err(CallError::Invalid { func: "describe", message: format!("bad strategy name {:?}", info.name) });
        }
        if info.version.trim().is_empty() || info.version.len() > 64 {
            return Err(CallError::Invalid { func: "describe", message: format!("bad version {:?}", info.version) });
        }
        self.store.data_mut().name = Arc::from(info.name.as_str());
        self.info = Some(info.clone());
        Ok(info)
    }

    pub fn init(&mut self, params: &Params, now: TimestampMs) -> Result<(), CallError> {
        let params: Vec<wit::Param> =
            params.0.iter().map(|(k, v)| wit::Param { key: k.clone(), value: v.clone() }).collect();
        self.call(Func::Init, now, |b, s| b.call_init(s, &params))?.map_err(|message| CallError::Reported {
            func: "init",
            message: arbytron_telemetry::truncate(&message, 1000),
        })
    }

    pub fn match_markets(&mut self, listings: &[Listing], now: TimestampMs) -> Result<Vec<Link>, CallError> {
        let listings: Vec<wit::Listing> = listings.iter().map(bindings::listing_out).collect();
        let links =
            self.call(Func::MatchMarkets, now, |b, s| b.call_match_markets(s, &listings))?.map_err(|message| {
                CallError::Reported { func: "match-markets", message: arbytron_telemetry::truncate(&message, 1000) }
            })?;
        bindings::links_in(links, &self.config.limits).map_err(|message| self.invalid(Func::MatchMarkets, message))
    }

    /// The hot path. `legs` is moved into the call and handed back, so neither
    /// side allocates for the arguments.
    pub fn score(
        &mut self,
        link: u32,
        now: TimestampMs,
        resolves_at: TimestampMs,
        legs: &mut LegsBuf,
    ) -> Result<Option<Opportunity>, CallError> {
        let c = &mut self.candidate;
        c.link = link;
        c.now = now;
        c.resolves_at = resolves_at;
        std::mem::swap(&mut c.legs, &mut legs.legs);
        std::mem::swap(&mut c.data, &mut legs.data);
        let candidate = std::mem::replace(
            &mut self.candidate,
            wit::Candidate { link: 0, now: 0, resolves_at: 0, legs: Vec::new(), data: Vec::new() },
        );
        let result = self.call(Func::Score, now, |b, s| b.call_score(s, &candidate));
        self.candidate = candidate;
        std::mem::swap(&mut self.candidate.legs, &mut legs.legs);
        std::mem::swap(&mut self.candidate.data, &mut legs.data);
        match result? {
            None => Ok(None),
            Some(o) => {
                if o.link != link {
                    return Err(
                        self.invalid(Func::Score, format!("opportunity for link {} when scoring {link}", o.link))
                    );
                }
                bindings::opportunity_in(o, &self.config.limits).map(Some).map_err(|m| self.invalid(Func::Score, m))
            }
        }
    }

    pub fn decide_exit(
        &mut self,
        position: &Position,
        now: TimestampMs,
        legs: &LegsBuf,
    ) -> Result<ExitDecision, CallError> {
        let p = bindings::position_out(position);
        let view = wit::MarketView { now, legs: legs.legs.clone(), data: legs.data.clone() };
        let d = self.call(Func::DecideExit, now, |b, s| b.call_decide_exit(s, &p, &view))?;
        bindings::exit_in(d, &self.config.limits).map_err(|m| self.invalid(Func::DecideExit, m))
    }

    pub fn snapshot(&mut self, now: TimestampMs) -> Result<Vec<u8>, CallError> {
        self.call(Func::Snapshot, now, |b, s| b.call_snapshot(s))
    }

    pub fn restore(&mut self, state: &[u8], now: TimestampMs) -> Result<(), CallError> {
        self.call(Func::Restore, now, |b, s| b.call_restore(s, state))?.map_err(|message| CallError::Reported {
            func: "restore",
            message: arbytron_telemetry::truncate(&message, 1000),
        })
    }

    fn invalid(&mut self, func: Func, message: String) -> CallError {
        // A strategy that returns garbage is not trusted again.
        self.poisoned = true;
        if let Some(m) = &self.metrics {
            m.error(func, "invalid");
        }
        CallError::Invalid { func: func.name(), message }
    }
}
