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
    #[arg(long, default_value_t = 0)]
    pub kalshi_rest_port: u16,
    #[arg(long, default_value_t = 0)]
    pub kalshi_ws_port: u16,
    #[arg(long, default_value_t = 0)]
    pub polymarket_gamma_port: u16,
    #[arg(long, default_value_t = 0)]
    pub polymarket_clob_port: u16,
    #[arg(long, default_value_t = 0)]
    pub polymarket_ws_port: u16,
    /// Accept this Kalshi API key id (with --kalshi-public-key) besides the demo key.
    #[arg(long, requires = "kalshi_public_key")]
    pub kalshi_key_id: Option<String>,
    /// PEM file of the RSA public key for --kalshi-key-id.
    #[arg(long, requires = "kalshi_key_id")]
    pub kalshi_public_key: Option<std::path::PathBuf>,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let mut opts = world::SimOptions {
        kalshi_rest_port: args.kalshi_rest_port,
        kalshi_ws_port: args.kalshi_ws_port,
        polymarket_gamma_port: args.polymarket_gamma_port,
        polymarket_clob_port: args.polymarket_clob_port,
        polymarket_ws_port: args.polymarket_ws_port,
        kalshi_keys: Vec::new(),
    };
    if let (Some(id), Some(path)) = (&args.kalshi_key_id, &args.kalshi_public_key) {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("--kalshi-public-key {}: {e}", path.display()))?;
        opts.kalshi_keys.push((id.clone(), pem));
    }
    let w = world::start_with(args.seed, &args.scenario, args.amm, &opts).await?;
    for e in w.endpoints() {
        println!("{e}");
    }
    println!("kalshi-key-id {}", world::KALSHI_DEMO_KEY_ID);
    println!("ready");
    crate::service::wait_for_shutdown(std::sync::Arc::new(crate::control::Control::default())).await?;
    w.shutdown().await;
    Ok(())
}
