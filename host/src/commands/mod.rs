//! CLI subcommands other than the service itself.

pub mod money;
pub mod sim;
pub mod strategy;
