//! What can go wrong with the store, said so the caller can act on it.
//!
//! Every variant names the operation and, where there is one, the row it was
//! about; [`StoreError::is_transient`] separates "try again" (the database
//! restarted, a lock was busy, the pool was exhausted) from "this will fail
//! again" (a duplicate client order id, a missing row, a corrupt value).

use std::sync::LazyLock;

use arbytron_telemetry::prometheus::IntCounterVec;

/// Store failures by operation and whether a retry may succeed.
static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    arbytron_telemetry::counter_vec(
        "arbytron_store_errors_total",
        "Store operations that failed, by operation and whether a retry may succeed",
        &["op", "transient"],
    )
});

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we speak (or is malformed).
    #[error("store URL {url:?}: {reason}")]
    Url { url: String, reason: String },

    /// Could not open the database. The URL is shown without its password.
    #[error("connecting to {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// The embedded migrations could not be applied (or the database holds a
    /// migration this build does not know, or one whose text changed).
    #[error("migrating {backend} database: {source}")]
    Migrate {
        backend: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A query failed.
    #[error("{op}{}: {source}", spaced(.id))]
    Query {
        op: &'static str,
        id: String,
        #[source]
        source: sqlx::Error,
    },

    /// A unique key already exists (a reused client order id, a second
    /// bundle with the same identity). Retrying the same write fails again.
    #[error("{op}{}: already exists ({detail})", spaced(.id))]
    Duplicate { op: &'static str, id: String, detail: String },

    /// The row the operation is about does not exist (or a reference to
    /// another row points nowhere).
    #[error("{op}: no {what}{}", spaced(.id))]
    NotFound { op: &'static str, what: &'static str, id: String },

    /// A state change the lifecycle does not allow (e.g. reopening a settled bundle).
    #[error("{op}{}: cannot go from {from} to {to}", spaced(.id))]
    InvalidTransition { op: &'static str, id: String, from: String, to: String },

    /// The caller passed something that cannot be stored as given.
    #[error("{op}{}: {reason}", spaced(.id))]
    Invalid { op: &'static str, id: String, reason: String },

    /// A stored value does not decode (unknown enum text, bad JSON, a price
    /// out of range): the database was written by something else or edited by hand.
    #[error("{op}{}: corrupt {column}: {detail}", spaced(.id))]
    Corrupt { op: &'static str, id: String, column: &'static str, detail: String },

    /// The store was closed with [`crate::Store::close`].
    #[error("{op}{}: the store is closed", spaced(.id))]
    Closed { op: &'static str, id: String },

    /// The database is known to be away (the ledger's health says so, or a
    /// write timed out): not tried. Transient.
    #[error("{op}: the database is unavailable")]
    Unavailable { op: &'static str },
}

impl StoreError {
    /// Whether the same call may succeed if retried later: the connection
    /// dropped, the server restarted or is starting, a lock or the pool was
    /// busy, a serialisation conflict. Never true for a bad request or a
    /// constraint violation.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Connect { source, .. } | StoreError::Query { source, .. } => is_transient_sqlx(source),
            StoreError::Migrate { source: sqlx::migrate::MigrateError::Execute(e), .. } => is_transient_sqlx(e),
            StoreError::Unavailable { .. } => true,
            _ => false,
        }
    }

    /// Wrap a query error, recognising the cases callers handle differently.
    pub(crate) fn query(op: &'static str, id: impl ToString, source: sqlx::Error) -> StoreError {
        let id = id.to_string();
        let err = match &source {
            sqlx::Error::PoolClosed => StoreError::Closed { op, id },
            sqlx::Error::Database(db) => match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    StoreError::Duplicate { op, id, detail: db.message().to_string() }
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    StoreError::NotFound { op, what: "referenced row for", id }
                }
                _ => StoreError::Query { op, id, source },
            },
            _ => StoreError::Query { op, id, source },
        };
        err.count();
        err
    }

    /// Count a failure before it is returned.
    pub(crate) fn count(&self) {
        let op = match self {
            StoreError::Url { .. } | StoreError::Connect { .. } => "connect",
            StoreError::Migrate { .. } => "migrate",
            StoreError::Query { op, .. }
            | StoreError::Duplicate { op, .. }
            | StoreError::NotFound { op, .. }
            | StoreError::InvalidTransition { op, .. }
            | StoreError::Invalid { op, .. }
            | StoreError::Corrupt { op, .. }
            | StoreError::Closed { op, .. }
            | StoreError::Unavailable { op } => op,
        };
        ERRORS.with_label_values(&[op, if self.is_transient() { "true" } else { "false" }]).inc();
    }
}

/// The row id after the operation's name, if there is one.
fn spaced(id: &str) -> String {
    if id.is_empty() { String::new() } else { format!(" {id}") }
}

/// Transient sqlx errors: I/O, timeouts, and the database codes that mean
/// "not now" rather than "never".
fn is_transient_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_transient_code(&code)),
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs (class 08 connection exceptions, serialisation
/// failure, deadlock, shutdown and start-up, too many connections) and SQLite
/// result codes (BUSY, LOCKED and their extended forms: the low byte is the
/// primary code). A SQLSTATE is always five characters; SQLite's codes, even
/// extended, have at most four digits.
fn is_transient_code(code: &str) -> bool {
    if code.len() < 5 {
        // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED, 10 SQLITE_IOERR.
        return code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10));
    }
    code.starts_with("08")
        || matches!(
            code,
            "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "53300" // too_many_connections
                | "55P03" // lock_not_available
                | "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now
        )
}

/// A URL fit for an error message or a log line: the password replaced.
pub(crate) use arbytron_integration::redact::url as redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/x?sslmode=require"),
            "postgres://u:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(redact_url("sqlite://data/arbytron.db?mode=rwc"), "sqlite://data/arbytron.db?mode=rwc");
        assert_eq!(redact_url("postgres://u:p%40ss@db/x"), "postgres://u:***@db/x");
    }

    #[test]
    fn transient_codes() {
        assert!(is_transient_code("57P01"));
        assert!(is_transient_code("08006"));
        assert!(is_transient_code("40001"));
        assert!(is_transient_code("5"));
        assert!(is_transient_code("517")); // SQLITE_BUSY_SNAPSHOT
        assert!(!is_transient_code("23505")); // unique_violation
        assert!(!is_transient_code("3D000")); // database does not exist
        assert!(!is_transient_code("2067")); // SQLITE_CONSTRAINT_UNIQUE
        assert!(!StoreError::NotFound { op: "bundle", what: "bundle", id: "1".into() }.is_transient());
    }
}
