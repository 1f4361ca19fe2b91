//! `arbytron strategy check` and `arbytron strategy new`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use arbytron_runtime::{Runtime, RuntimeConfig, check_module};
use arbytron_sdk::Params;

#[derive(clap::Subcommand, Debug)]
pub enum StrategyCommand {
    /// Validate a strategy module without running the service: loads it as the
    /// host would and exercises every export it claims. Exits non-zero with the
    /// reason if it is not fit to run.
    Check {
        file: PathBuf,
        /// Parameters for `init`, as KEY=VALUE (repeatable).
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Create a new strategy crate that builds to a loadable module.
    New {
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Path to the arbytron-sdk crate (default: the one this binary was built from).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

pub fn run(cmd: StrategyCommand) -> anyhow::Result<()> {
    match cmd {
        StrategyCommand::Check { file, params } => check(&file, Params(params)),
        StrategyCommand::New { name, dir, sdk_path } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let sdk = sdk_path.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk"));
            scaffold(&name, &dir, &sdk)?;
            println!("created {} (strategy {name})", dir.display());
            println!("build it:  cd {} && cargo build --release --target wasm32-wasip2", dir.display());
            println!("check it:  arbytron strategy check target/wasm32-wasip2/release/{}.wasm", name.replace('-', "_"));
            Ok(())
        }
    }
}

fn check(file: &Path, params: Params) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let runtime = Runtime::new(RuntimeConfig { cache_dir: None, ..RuntimeConfig::default() })?;
    match check_module(&runtime, &bytes, &params) {
        Ok(r) => {
            println!("ok: {}", file.display());
            println!("name:        {}", r.name);
            println!("version:     {}", r.version);
            println!("wit:         arbytron:strategy@{}", r.wit_version.as_deref().unwrap_or("?"));
            println!("implements:  {}", r.capabilities.names().join(", "));
            println!("exports:     {}", r.exports.join(", "));
            println!("imports:     {}", r.imports.join(", "));
            println!("sha256:      {}", r.hash);
            println!("compile:     {} ms", r.compile_ms);
            Ok(())
        }
        Err(e) => bail!("{} is not a valid Arbytron strategy: {e}", file.display()),
    }
}

/// Write a strategy crate: Cargo.toml, src/lib.rs with a working strategy and a
/// native unit test, and a README.
pub fn scaffold(name: &str, dir: &Path, sdk: &Path) -> anyhow::Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        bail!("strategy name {name:?}: use lowercase letters, digits, '-' and '_'");
    }
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    let sdk = std::fs::canonicalize(sdk).with_context(|| format!("arbytron-sdk not found at {}", sdk.display()))?;
    std::fs::create_dir_all(dir.join("src"))?;
    let ty: String = name
        .split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    let ty = if ty.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) { ty } else { format!("S{ty}") };
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
arbytron-sdk = {{ path = "{sdk}" }}

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
panic = "abort"

# A strategy is its own workspace, wherever it lives.
[workspace]
"#,
            sdk = sdk.display()
        ),
    )?;
    std::fs::write(dir.join("src/lib.rs"), SCAFFOLD_LIB.replace("{{NAME}}", name).replace("{{TYPE}}", &ty))?;
    std::fs::write(dir.join(".gitignore"), "/target\n")?;
    std::fs::write(
        dir.join("README.md"),
        format!(
            "# {name}\n\nAn Arbytron strategy.\n\n```\ncargo test                                   # native unit tests\ncargo build --release --target wasm32-wasip2  # the module\narbytron strategy check target/wasm32-wasip2/release/{}.wasm\ncp target/wasm32-wasip2/release/{}.wasm <strategies dir>/   # hot-loaded by a running host\n```\n",
            name.replace('-', "_"),
            name.replace('-', "_")
        ),
    )?;
    Ok(())
}

const SCAFFOLD_LIB: &str = r#"//! {{NAME}}: an Arbytron strategy.
//!
//! The host calls `score` for every candidate link on every book update; return
//! an opportunity only when it is worth trading. The host re-checks it with the
//! same SDK math and its own risk limits before anything is sent.

use arbytron_sdk::prelude::*;
use arbytron_sdk::sizing::{Limits, best_opportunity};

pub struct {{TYPE}} {
    limits: Limits,
}

impl Strategy for {{TYPE}} {
    const NAME: &'static str = "{{NAME}}";
    const VERSION: &'static str = "0.1.0";
    const CAPABILITIES: Capabilities = Capabilities { score: true, ..Capabilities::NONE };

    fn init(params: &Params) -> Result<Self, String> {
        let mut limits = Limits::default();
        limits.min_profit = params.parse_or("min_profit", Money::from_cents(1))?;
        limits.max_capital = params.parse_or("max_capital", Money::from_dollars(100))?;
        Ok({{TYPE}} { limits })
    }

    fn score(&mut self, candidate: &Candidate<'_>) -> Option<Opportunity> {
        best_opportunity(candidate, &self.limits)
    }
}

arbytron_sdk::export_strategy!({{TYPE}});

#[cfg(test)]
mod tests {
    use super::*;
    use arbytron_sdk::wire::{LegHeader, LegsBuf};

    #[test]
    fn finds_a_cheap_pair() {
        let mut s = {{TYPE}}::init(&Params::default()).unwrap();
        let mut legs = LegsBuf::default();
        let h = LegHeader {
            outcome: 0,
            market: 1,
            venue: Venue::Kalshi,
            side: Side::Yes,
            fee: FeeSchedule::None,
            tick: Price::from_micros_const(10_000),
            min_qty: Qty::from_hundredths(1),
            fixed_cost: Money::ZERO,
            updated_at: 0,
        };
        legs.push_book(&h, [Level::new(Price::from_micros_const(400_000), Qty::from_contracts(10))], 10);
        let no = LegHeader { outcome: 1, market: 2, venue: Venue::PolymarketClob, side: Side::No, ..h };
        legs.push_book(&no, [Level::new(Price::from_micros_const(500_000), Qty::from_contracts(10))], 10);
        let c = Candidate::new(1, 0, 30 * 86_400_000, &legs.legs, &legs.data).unwrap();
        let o = s.score(&c).expect("0.40 + 0.50 < 1.00");
        assert!(o.profit.is_positive());
    }
}
"#;
