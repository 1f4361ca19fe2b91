//! Arbytron's persistence: PostgreSQL in production, SQLite as the embedded default.
//!
//! One [`Store`] over sqlx's `Any` driver, chosen by URL (`postgres://…`,
//! `sqlite://path?mode=rwc`, `sqlite::memory:`). The schema lives in
//! `migrations/postgres` and `migrations/sqlite` at the repository root (the
//! DDL differs: `BIGSERIAL` vs `INTEGER PRIMARY KEY AUTOINCREMENT`, `BOOLEAN`
//! vs `INTEGER`, SQLite tables are `STRICT`); both are embedded in the binary
//! and applied on [`Store::connect`], which is idempotent. sqlx's `Migrator`
//! runs over the `Any` connection itself (the driver exposes the backend's
//! migration support), so there is one pool, not a typed one for migrations.
//! Queries use `$1`-style placeholders, which SQLite accepts through sqlx as
//! numbered parameters, so one SQL text serves both backends.
//!
//! SQLite runs in WAL mode with a busy timeout, foreign keys on and
//! `synchronous = FULL` ([`StoreOptions`]); the store queues its own writers on
//! a FIFO lock (SQLite has one writer at a time, and its busy handler polls
//! with sleeps that turn contention into long tails). PostgreSQL gets a pool of
//! 10 and queues writers itself. Write transactions on SQLite are
//! `BEGIN IMMEDIATE`, so two writers never deadlock upgrading a read lock.
//!
//! Money, prices and quantities are stored as their micro-unit integers
//! (`BIGINT`), timestamps as Unix milliseconds, structured extras as JSON text.
//! No floats anywhere.
//!
//! # How the trading core uses it
//!
//! **Intent before action.** Before any order of a new bundle goes out,
//! [`Store::begin_bundle`] writes the bundle (`pending`), its `entry` intent and
//! every order (state `intent`, with its client order id) in one transaction.
//! Only when that commits are the orders sent. Exits, repairs and unwinds go
//! the same way through [`Store::add_intent`]. Each venue answer is recorded
//! with [`Store::record_order_result`] (idempotent, and a stale answer never
//! overwrites a newer one); an order whose answer was lost (timeout, crash of
//! the connection) is marked with [`Store::mark_order_unknown`]. When every
//! order of an intent is answered, [`Store::close_intent`]. Fills stream into
//! [`Store::record_fill`], which is idempotent per venue trade id and reports
//! state transitions (a Polymarket MATCHED trade that later FAILED must be
//! taken back out of the position).
//!
//! **Reconcile on start.** A host that crashed may have written orders it
//! never sent, or sent orders whose answers it never recorded. On start it
//! reads [`Store::unresolved_orders`] (every order still in `intent` or
//! `unknown`, with its intent and bundle), asks each venue for the order by
//! client order id (`ExecutionVenue::find_order`), records what the venue says
//! (or that the order never arrived, by recording it as cancelled), and compares
//! [`Store::all_positions`] with the venues' own positions.
//!
//! **Limits.** [`Store::realized_pnl_since`] gives the day's realised PnL for
//! the daily loss limit; [`Store::open_bundles`] the live bundles with their legs.
//!
//! # Errors
//!
//! Every failure is a [`StoreError`] naming the operation and row. A database
//! that went away (restart, network) gives an error with
//! [`StoreError::is_transient`] true: retry it; the pool reconnects on its own.
//! Nothing panics on database content: a value that does not decode is
//! [`StoreError::Corrupt`].

mod catalog;
mod codec;
mod connect;
mod error;
mod execution;
mod fills;
mod ledger;
mod opportunities;
pub mod outbox;
mod portfolio;
pub mod records;

pub use connect::{Backend, StoreOptions};
pub use error::StoreError;
pub use execution::intent_key;
pub use ledger::{Ledger, LedgerError, Pending, StoreHealth, Written};
pub use records::*;

use std::sync::Arc;

use arbytron_model::TimestampMs;
use sqlx::AnyPool;

/// The database behind the trading core. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    clock: fn() -> TimestampMs,
    /// SQLite only: one writer at a time, queued in order. SQLite allows a
    /// single writer anyway; without this, concurrent writers poll for the
    /// lock in the busy handler's growing sleeps (up to 100 ms each), which
    /// turns contention into long tail latency.
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Use another clock for the `created_at` / `updated_at` stamps the store
    /// writes itself (tests, replays). Times the caller supplies are never changed.
    pub fn with_clock(mut self, clock: fn() -> TimestampMs) -> Store {
        self.clock = clock;
        self
    }

    /// Close every connection; later calls fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// One round trip to the database: is it answering?
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(|e| StoreError::query("ping", "", e))
    }

    /// The pool, for reads this crate does not offer (reports, ad-hoc tools).
    /// Writes belong in this crate: they bypass the SQLite writer queue here.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Hold for the whole of a write (SQLite); `None` where the database
    /// queues writers itself (PostgreSQL).
    async fn writer(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }

    fn now(&self) -> TimestampMs {
        (self.clock)()
    }

    /// A transaction for writes. SQLite gets `BEGIN IMMEDIATE`: taking the
    /// write lock up front makes concurrent writers queue on the busy timeout
    /// instead of failing when a read lock cannot be upgraded.
    async fn begin_write(
        &self,
        op: &'static str,
        id: &str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(|e| StoreError::query(op, id, e))
    }
}

/// Wall-clock Unix milliseconds.
pub fn system_now() -> TimestampMs {
    arbytron_integration::now_ms()
}
