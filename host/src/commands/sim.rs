//! `arbytron sim`: serve the venue simulators (the demo world) until stopped.

use crate::world;

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Seed: the same seed gives the same run.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// `demo`, `none`, or a scenario file (TOML or JSON).
    #[arg(long, default_value = "demo")]
    pub scenario: String,
    /// Also start a local EVM node with the AMM (needs `npm ci`).
    #[arg(long)]
    pub amm: bool,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let w = world::start(args.seed, &args.scenario, args.amm).await?;
    for e in w.endpoints() {
        println!("{e}");
    }
    println!("kalshi-key-id {}", world::KALSHI_DEMO_KEY_ID);
    println!("ready");
    crate::service::wait_for_shutdown(std::sync::Arc::new(crate::control::Control::default())).await?;
    w.shutdown().await;
    Ok(())
}
