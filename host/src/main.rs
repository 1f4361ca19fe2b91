//! The `arbytron` command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use arbytron::commands::strategy::StrategyCommand;
use arbytron::service::Role;
use arbytron::settings::{LogFormat, Settings};

#[derive(Parser, Debug)]
#[command(name = "arbytron", version, about = "Cross-venue prediction-market arbitrage with WebAssembly strategies")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Human-readable logs instead of JSON.
    #[arg(long, global = true)]
    human: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service (the default): feeds, engine and execution. With
    /// `--bus redis|kafka` only the engine and execution (pair with `ingest`).
    Run {
        /// Settings file (TOML), layered over the built-in defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Take market updates from this bus instead of running the feeds here.
        #[arg(long, value_parser = ["memory", "redis", "kafka"])]
        bus: Option<String>,
    },
    /// Run only the venue feeds, publishing to the bus (`--bus redis|kafka`).
    Ingest {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, value_parser = ["redis", "kafka"])]
        bus: String,
    },
    /// Serve the venue simulators, printing `NAME URL` per endpoint.
    Sim(arbytron::commands::sim::SimArgs),
    /// Print a venue's fee for an order, in dollars, with the formula applied.
    Fees(arbytron::commands::money::FeesArgs),
    /// Size a leg set (JSON file) with the SDK math and print the bundle and profit curve.
    Quote(arbytron::commands::money::QuoteArgs),
    /// Work with strategy modules.
    #[command(subcommand)]
    Strategy(StrategyCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run { config: None, bus: None }) {
        Command::Run { config, bus } => {
            let role = if bus.as_deref().is_some_and(|b| b != "memory") { Role::Trade } else { Role::All };
            run(config, bus, role, cli.human)
        }
        Command::Ingest { config, bus } => run(config, Some(bus), Role::Ingest, cli.human),
        Command::Sim(args) => {
            arbytron_telemetry::init_logging(arbytron_telemetry::LogFormat::Human, "warn");
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(arbytron::commands::sim::run(args)))
        }
        Command::Strategy(cmd) => arbytron::commands::strategy::run(cmd),
        Command::Fees(args) => arbytron::commands::money::fees(&args).map(|s| println!("{s}")),
        Command::Quote(args) => arbytron::commands::money::quote(&args).map(|s| println!("{s}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(config: Option<PathBuf>, bus: Option<String>, role: Role, human: bool) -> anyhow::Result<()> {
    // `--bus` is the environment override ARBYTRON_BUS, applied before the file is read.
    let settings = Settings::load_with(config.as_deref(), Some(std::path::Path::new(".env")), &|k| {
        if k == "ARBYTRON_BUS" && bus.is_some() { bus.clone() } else { std::env::var(k).ok() }
    })?;
    let format = if human { LogFormat::Human } else { settings.service.log_format };
    arbytron_telemetry::init_logging(
        match format {
            LogFormat::Json => arbytron_telemetry::LogFormat::Json,
            LogFormat::Human => arbytron_telemetry::LogFormat::Human,
        },
        &settings.service.log_level,
    );
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let service = arbytron::service::start(&settings, role).await?;
        arbytron::service::wait_for_shutdown(service.control.clone()).await?;
        tracing::info!("shutting down");
        service.stop().await;
        Ok(())
    })
}
