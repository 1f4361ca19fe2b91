//! The `arbytron` command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use arbytron::commands::strategy::StrategyCommand;
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
    /// Run the service (the default).
    Run {
        /// Settings file (TOML), layered over the built-in defaults.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Work with strategy modules.
    #[command(subcommand)]
    Strategy(StrategyCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run { config: None }) {
        Command::Run { config } => run(config, cli.human),
        Command::Strategy(cmd) => arbytron::commands::strategy::run(cmd),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(config: Option<PathBuf>, human: bool) -> anyhow::Result<()> {
    let settings = Settings::load(config.as_deref())?;
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
        let service = arbytron::service::start(&settings).await?;
        arbytron::service::wait_for_shutdown(service.control.clone()).await?;
        tracing::info!("shutting down");
        Ok(())
    })
}
