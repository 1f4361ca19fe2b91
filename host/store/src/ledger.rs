//! The durable write path for money records: the store when it answers, the
//! local outbox when it does not, and never a record lost in between.
//!
//! Every record that carries money or trading state (an intent and its orders,
//! a venue's answer, a position, a bundle's status and PnL, a fill, a PnL
//! snapshot) goes through the [`Ledger`]. While the database answers, a write
//! goes straight to it. When a write fails for a reason that may pass
//! (connection lost, server restarting), the ledger marks the store
//! unavailable and appends the record, and every later one, to the
//! [`Outbox`](crate::outbox::Outbox) (fsync'd before the call returns). A
//! background task ([`Ledger::run`]) probes the database; when it answers
//! again, the outbox is applied in order, and only then is the store marked
//! available. Records are keyed by our ids (client order ids, intent keys,
//! venue trade ids), so applying one twice (a crash mid-drain) changes nothing.
//!
//! New bundles need their intent in the database itself ([`Ledger::begin_bundle`]
//! is never deferred): while [`StoreHealth::available`] is false the engine
//! starts none. Exits, repairs and unwinds of open bundles go on, their intents
//! in the outbox. A record the database refuses for a reason that will not pass
//! (it contradicts what is stored) is an error to the caller, never queued.

use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arbytron_model::venue::{FillEvent, OrderReport};
use arbytron_telemetry::prometheus::{IntCounterVec, IntGauge};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::outbox::{Outbox, OutboxError};
use crate::records::{BundleUpdate, IntentKind, IntentState, NewBundle, NewOrder, PnlSnapshot, PositionRecord};
use crate::{Store, StoreError};

static AVAILABLE: LazyLock<IntGauge> = LazyLock::new(|| {
    let g = arbytron_telemetry::gauge_vec(
        "arbytron_store_available",
        "1 while the database takes writes; 0 while money records wait in the outbox",
        &[],
    );
    g.with_label_values::<&str>(&[])
});

static OUTBOX_PENDING: LazyLock<IntGauge> = LazyLock::new(|| {
    let g = arbytron_telemetry::gauge_vec(
        "arbytron_outbox_records",
        "Money records in the local outbox, waiting for the database",
        &[],
    );
    g.with_label_values::<&str>(&[])
});

static WRITES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    arbytron_telemetry::counter_vec(
        "arbytron_store_writes_total",
        "Money-record writes by how they ended: stored, deferred (outbox), applied (from the outbox), refused",
        &["result"],
    )
});

static OUTAGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    arbytron_telemetry::counter_vec("arbytron_store_outages_total", "Times the database stopped taking writes", &[])
});

/// A money record on its way to the database. Stored in the outbox as
/// MessagePack with field names, so a record written by one version of the
/// host is read by the next; the envelope's version is bumped on any change
/// of shape. (Externally tagged: serde's internally tagged enums buffer their
/// content and lose the binary format's integer amounts.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pending {
    Intent { bundle_id: i64, kind: IntentKind, orders: Vec<NewOrder> },
    OrderResult { client_order_id: String, report: OrderReport },
    OrderUnknown { client_order_id: String, reason: String },
    CloseIntent { key: String, state: IntentState },
    Position(PositionRecord),
    Bundle { id: i64, update: BundleUpdate },
    Fill(FillEvent),
    Pnl(PnlSnapshot),
}

#[derive(Debug, Serialize, Deserialize)]
enum Envelope {
    #[serde(rename = "v1")]
    V1 { record: Pending },
}

impl Pending {
    fn label(&self) -> String {
        match self {
            Pending::Intent { orders, .. } => crate::intent_key(orders),
            Pending::OrderResult { client_order_id, .. } => format!("order result {client_order_id}"),
            Pending::OrderUnknown { client_order_id, .. } => format!("order unknown {client_order_id}"),
            Pending::CloseIntent { key, .. } => format!("close intent {key}"),
            Pending::Position(p) => format!("position bundle {} {}", p.bundle_id, p.market),
            Pending::Bundle { id, .. } => format!("bundle {id}"),
            Pending::Fill(f) => format!("fill {} {}", f.venue, f.trade_id),
            Pending::Pnl(s) => format!("pnl snapshot {}", s.ts),
        }
    }
}

/// Where a write went.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// Committed to the database.
    Stored,
    /// Durably in the outbox; applied when the database is back.
    Deferred,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database refused the record for a reason that will not pass.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outbox itself failed (disk full, permissions): the record is not durable.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Whether the database takes writes, shared with whoever must stop new
/// trades when it does not.
#[derive(Debug)]
pub struct StoreHealth {
    available: AtomicBool,
    /// The negation of `available`, shared with the engine's risk gate
    /// (set: no new entries).
    unavailable: std::sync::Arc<AtomicBool>,
    /// Unix ms when the current outage started (0: none).
    down_since_ms: AtomicU64,
}

impl StoreHealth {
    fn new() -> StoreHealth {
        AVAILABLE.set(1);
        StoreHealth {
            available: AtomicBool::new(true),
            unavailable: std::sync::Arc::new(AtomicBool::new(false)),
            down_since_ms: AtomicU64::new(0),
        }
    }

    /// New bundles may start: their intents can be written.
    pub fn available(&self) -> bool {
        self.available.load(Ordering::Acquire)
    }

    /// A flag that is set while the store is away: the engine pauses new entries on it.
    pub fn unavailable_flag(&self) -> std::sync::Arc<AtomicBool> {
        self.unavailable.clone()
    }

    /// When the outage began, if there is one.
    pub fn down_since_ms(&self) -> Option<i64> {
        match self.down_since_ms.load(Ordering::Acquire) {
            0 => None,
            ms => i64::try_from(ms).ok(),
        }
    }

    fn down(&self, why: &str) {
        if self.available.swap(false, Ordering::AcqRel) {
            self.unavailable.store(true, Ordering::Release);
            let now = u64::try_from(arbytron_integration::now_ms()).unwrap_or(1);
            self.down_since_ms.store(now.max(1), Ordering::Release);
            AVAILABLE.set(0);
            OUTAGES.with_label_values::<&str>(&[]).inc();
            tracing::error!(
                reason = why,
                "store unavailable: no new bundles; money records go to the local outbox until it is back"
            );
        }
    }

    fn up(&self) {
        if !self.available.swap(true, Ordering::AcqRel) {
            self.unavailable.store(false, Ordering::Release);
            let since = self.down_since_ms.swap(0, Ordering::AcqRel);
            let lasted_ms = u64::try_from(arbytron_integration::now_ms()).unwrap_or(0).saturating_sub(since);
            AVAILABLE.set(1);
            tracing::warn!(outage_ms = lasted_ms, "store available again; new bundles may start");
        }
    }
}

/// The store behind an outbox. Cheap to share in an `Arc`.
pub struct Ledger {
    store: Store,
    outbox: Mutex<Outbox>,
    health: std::sync::Arc<StoreHealth>,
    /// Bound on one database write before it counts as failed.
    write_timeout: Duration,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("store", &self.store).field("health", &self.health).finish_non_exhaustive()
    }
}

impl Ledger {
    /// The ledger over `store`, with its outbox in `outbox_dir`. Records a
    /// previous run left in the outbox are applied by [`Ledger::drain`] (call
    /// it before reading state back) or by [`Ledger::run`].
    pub fn open(store: Store, outbox_dir: &Path) -> Result<Ledger, OutboxError> {
        let outbox = Outbox::open(outbox_dir)?;
        let pending = outbox.pending();
        OUTBOX_PENDING.set(i64::try_from(pending).unwrap_or(i64::MAX));
        if pending > 0 {
            tracing::warn!(pending, dir = %outbox_dir.display(), "money records from an earlier run wait in the outbox");
        }
        Ok(Ledger {
            store,
            outbox: Mutex::new(outbox),
            health: std::sync::Arc::new(StoreHealth::new()),
            write_timeout: Duration::from_secs(2),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn health(&self) -> std::sync::Arc<StoreHealth> {
        self.health.clone()
    }

    /// Records waiting in the outbox.
    pub async fn pending(&self) -> usize {
        self.outbox.lock().await.pending()
    }

    /// Write a new bundle with its entry intent. Never deferred: a bundle
    /// whose intent is not in the database is not started.
    pub async fn begin_bundle(&self, bundle: &NewBundle, orders: &[NewOrder]) -> Result<(i64, i64), StoreError> {
        if !self.health.available() {
            return Err(StoreError::Unavailable { op: "begin bundle" });
        }
        match tokio::time::timeout(self.write_timeout, self.store.begin_bundle(bundle, orders)).await {
            Ok(Ok(ids)) => Ok(ids),
            Ok(Err(e)) => {
                if e.is_transient() || matches!(e, StoreError::Closed { .. }) {
                    self.health.down(&e.to_string());
                }
                Err(e)
            }
            Err(_) => {
                self.health.down("begin bundle timed out");
                Err(StoreError::Unavailable { op: "begin bundle" })
            }
        }
    }

    /// Write an intent on an open bundle; close it later by [`crate::intent_key`] of the same orders.
    pub async fn add_intent(
        &self,
        bundle_id: i64,
        kind: IntentKind,
        orders: &[NewOrder],
    ) -> Result<Written, LedgerError> {
        self.write(Pending::Intent { bundle_id, kind, orders: orders.to_vec() }).await
    }

    pub async fn record_order_result(
        &self,
        client_order_id: &str,
        report: &OrderReport,
    ) -> Result<Written, LedgerError> {
        self.write(Pending::OrderResult { client_order_id: client_order_id.to_string(), report: report.clone() }).await
    }

    pub async fn mark_order_unknown(&self, client_order_id: &str, reason: &str) -> Result<Written, LedgerError> {
        self.write(Pending::OrderUnknown { client_order_id: client_order_id.to_string(), reason: reason.to_string() })
            .await
    }

    pub async fn close_intent(&self, key: &str, state: IntentState) -> Result<Written, LedgerError> {
        self.write(Pending::CloseIntent { key: key.to_string(), state }).await
    }

    pub async fn set_position(&self, p: &PositionRecord) -> Result<Written, LedgerError> {
        self.write(Pending::Position(p.clone())).await
    }

    pub async fn update_bundle(&self, id: i64, update: &BundleUpdate) -> Result<Written, LedgerError> {
        self.write(Pending::Bundle { id, update: update.clone() }).await
    }

    pub async fn record_fill(&self, f: &FillEvent) -> Result<Written, LedgerError> {
        self.write(Pending::Fill(f.clone())).await
    }

    pub async fn record_pnl_snapshot(&self, s: &PnlSnapshot) -> Result<Written, LedgerError> {
        self.write(Pending::Pnl(s.clone())).await
    }

    /// Straight to the database while it answers and nothing waits before
    /// this record; otherwise, durably into the outbox behind what waits.
    pub async fn write(&self, record: Pending) -> Result<Written, LedgerError> {
        {
            let mut outbox = self.outbox.lock().await;
            if !outbox.is_empty() || !self.health.available() {
                return self.defer(&mut outbox, record);
            }
        }
        match self.apply_bounded(&record).await {
            Ok(()) => {
                WRITES.with_label_values(&["stored"]).inc();
                Ok(Written::Stored)
            }
            Err(Some(e)) if !e.is_transient() && !matches!(e, StoreError::Closed { .. }) => {
                WRITES.with_label_values(&["refused"]).inc();
                tracing::error!(record = %record.label(), error = %e, "the store refused a money record");
                Err(LedgerError::Store(e))
            }
            Err(e) => {
                let why = e.map_or_else(|| "write timed out".to_string(), |e| e.to_string());
                self.health.down(&why);
                let mut outbox = self.outbox.lock().await;
                self.defer(&mut outbox, record)
            }
        }
    }

    fn defer(&self, outbox: &mut Outbox, record: Pending) -> Result<Written, LedgerError> {
        outbox.append(&Envelope::V1 { record })?;
        OUTBOX_PENDING.set(i64::try_from(outbox.pending()).unwrap_or(i64::MAX));
        WRITES.with_label_values(&["deferred"]).inc();
        Ok(Written::Deferred)
    }

    /// `None`: timed out.
    async fn apply_bounded(&self, record: &Pending) -> Result<(), Option<StoreError>> {
        match tokio::time::timeout(self.write_timeout, self.apply(record)).await {
            Ok(r) => r.map_err(Some),
            Err(_) => Err(None),
        }
    }

    async fn apply(&self, record: &Pending) -> Result<(), StoreError> {
        let s = &self.store;
        match record {
            Pending::Intent { bundle_id, kind, orders } => s.add_intent(*bundle_id, *kind, orders).await.map(drop),
            Pending::OrderResult { client_order_id, report } => {
                s.record_order_result(client_order_id, report).await.map(drop)
            }
            Pending::OrderUnknown { client_order_id, reason } => {
                s.mark_order_unknown(client_order_id, reason).await.map(drop)
            }
            // Closing again with the same state (a replay) succeeds.
            Pending::CloseIntent { key, state } => s.close_intent_by_key(key, *state).await,
            Pending::Position(p) => s.set_position(p).await,
            Pending::Bundle { id, update } => s.update_bundle(*id, update).await,
            Pending::Fill(f) => s.record_fill(f).await.map(drop),
            Pending::Pnl(p) => s.record_pnl_snapshot(p).await.map(drop),
        }
    }

    /// Apply everything in the outbox, oldest first, while the database
    /// answers. Returns how many records were applied; stops at the first
    /// record that fails for a reason that may pass. A record the database
    /// refuses for good is set aside in `rejected.jsonl` beside the outbox
    /// (with the reason) and counted, so one bad record cannot hold every
    /// later one back; nothing is dropped silently.
    pub async fn drain(&self) -> Result<usize, LedgerError> {
        let mut outbox = self.outbox.lock().await;
        let mut applied = 0usize;
        while let Some(segment) = outbox.oldest::<Envelope>()? {
            let total = segment.records.len();
            for Envelope::V1 { record } in &segment.records {
                match self.apply_bounded(record).await {
                    Ok(()) => {
                        applied += 1;
                        WRITES.with_label_values(&["applied"]).inc();
                    }
                    Err(Some(e)) if !e.is_transient() && !matches!(e, StoreError::Closed { .. }) => {
                        WRITES.with_label_values(&["refused"]).inc();
                        set_aside(outbox.dir(), record, &e);
                    }
                    Err(e) => {
                        // Records before this one were applied and stay applied;
                        // applying them again next time changes nothing.
                        let why = e.map_or_else(|| "write timed out".to_string(), |e| e.to_string());
                        self.health.down(&why);
                        return Ok(applied);
                    }
                }
            }
            outbox.remove(segment.number, total)?;
            OUTBOX_PENDING.set(i64::try_from(outbox.pending()).unwrap_or(i64::MAX));
        }
        // Nothing waits and the lock is held: no write can slip in between.
        self.health.up();
        Ok(applied)
    }

    /// Watch the database until `stop`: probe it every `every`; while it is
    /// away, keep trying, and when it answers, apply the outbox and let new
    /// bundles start again.
    pub async fn run(&self, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let answers = matches!(
                tokio::time::timeout(every.max(Duration::from_millis(500)), self.store.ping()).await,
                Ok(Ok(()))
            );
            if !answers {
                self.health.down("the database does not answer");
                continue;
            }
            let waiting = { !self.outbox.lock().await.is_empty() };
            if waiting || !self.health.available() {
                match self.drain().await {
                    Ok(n) if n > 0 => tracing::warn!(applied = n, "outbox applied to the store"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot read the outbox; money records stay there"),
                }
            }
        }
    }
}

/// Keep a record the database refused for good, for a person to look at.
fn set_aside(dir: &Path, record: &Pending, e: &StoreError) {
    let line = serde_json::json!({"record": record, "error": e.to_string(), "at": arbytron_integration::now_ms()});
    let path = dir.join("rejected.jsonl");
    let written = std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| {
        use std::io::Write;
        writeln!(f, "{line}")?;
        f.sync_data()
    });
    match written {
        Ok(()) => {
            tracing::error!(record = %record.label(), error = %e, path = %path.display(), "the store refused an outbox record; set aside for review")
        }
        Err(io) => {
            tracing::error!(record = %record.label(), error = %e, io = %io, line = %line, "the store refused an outbox record and it could not be set aside; it is in this log line")
        }
    }
}
