//! Arbytron's host: the service and CLI behind the `arbytron` binary.
//!
//! Data flows venue → bus → engine → strategy → risk → execution → portfolio
//! → store; each stage is its own crate under `host/` (see README), and this
//! crate wires them together.

pub mod admin;
pub mod commands;
pub mod config;
pub mod control;
pub mod matching;
pub mod pipeline;
pub mod service;
pub mod settings;
pub mod strategies;
pub mod venues;
pub mod world;
