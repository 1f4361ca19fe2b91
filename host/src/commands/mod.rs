//! CLI subcommands other than the service itself.

// pub mod money; (fees and quote commands: added with the money math)
pub mod sim;
pub mod strategy;
