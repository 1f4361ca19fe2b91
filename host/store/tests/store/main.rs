//! arbytron-store against both backends: SQLite (a temporary file) and the
//! PostgreSQL server on this machine (a fresh database per test).
//!
//! Needs PostgreSQL at `ARBYTRON_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); start it with
//! `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

mod concurrency;
mod execution;
mod failures;
mod fills;
mod ledger;
mod portfolio;
mod round_trip;
mod schema;
