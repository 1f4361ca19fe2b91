//! Opening the database: backend by URL, pool sizing, SQLite pragmas, migrations.

use std::time::Duration;

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::error::{StoreError, redact_url};
use crate::{Store, system_now};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// Which database the URL named.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }

    /// The backend a URL names, if any.
    pub fn from_url(url: &str) -> Option<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }
}

/// How to open the store. The defaults suit the host; tests and tools tune them.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Connections in the pool. Default: 10 for PostgreSQL (the trading core's
    /// writers plus reads, well under the server's default of 100), 4 for a
    /// SQLite file (one writer at a time anyway; the rest serve reads under
    /// WAL), and always 1 for `sqlite::memory:` (each connection would
    /// otherwise open a database of its own).
    pub max_connections: Option<u32>,
    /// How long a call waits for a free or new connection before failing with
    /// a transient error.
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for another's lock before giving up.
    pub busy_timeout: Duration,
    /// SQLite: `synchronous = FULL` (the default) makes each commit durable
    /// across a power loss; `false` uses `NORMAL`, durable across a process
    /// crash only, and several times faster per commit.
    pub sqlite_full_sync: bool,
    /// Ping each connection before handing it out (one extra round trip per
    /// call) so a connection the server dropped is replaced silently. Without
    /// it a call on a dead connection fails with a transient error instead
    /// and the caller's retry gets a fresh one: faster, but every write path
    /// must retry.
    pub check_connections: bool,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_connections: None,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            sqlite_full_sync: true,
            check_connections: true,
        }
    }
}

impl Store {
    /// Open (creating SQLite files only with `?mode=rwc`) and migrate.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| {
            let err = StoreError::Url {
                url: redact_url(url),
                reason: "expected postgres://…, sqlite://PATH?mode=rwc or sqlite::memory:".into(),
            };
            err.count();
            err
        })?;
        let in_memory = backend == Backend::Sqlite && (url.contains(":memory:") || url.contains("mode=memory"));

        let mut pool = AnyPoolOptions::new()
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(options.check_connections);
        pool = match backend {
            Backend::Postgres => pool.max_connections(options.max_connections.unwrap_or(10)),
            Backend::Sqlite if in_memory => {
                // The one connection is the database: never let the pool drop it.
                pool.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
            }
            Backend::Sqlite => pool.max_connections(options.max_connections.unwrap_or(4)),
        };
        if backend == Backend::Sqlite {
            let pragmas = format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON;",
                if options.sqlite_full_sync { "FULL" } else { "NORMAL" },
                options.busy_timeout.as_millis()
            );
            pool = pool.after_connect(move |conn, _meta| {
                let pragmas = pragmas.clone();
                Box::pin(async move {
                    conn.execute(pragmas.as_str()).await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect(url).await.map_err(|source| {
            let err = StoreError::Connect { url: redact_url(url), source };
            err.count();
            err
        })?;

        let migrator = match backend {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|source| {
            let err = StoreError::Migrate { backend: backend.name(), source };
            err.count();
            err
        })?;
        tracing::info!(backend = backend.name(), url = %redact_url(url), "store ready");
        let writer = (backend == Backend::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
        Ok(Store { pool, backend, clock: system_now, writer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_url() {
        assert_eq!(Backend::from_url("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("postgresql://u@h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("sqlite://data/a.db?mode=rwc"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("mysql://u@h/db"), None);
        assert_eq!(Backend::from_url("data/a.db"), None);
    }
}
