//! `arbytron run`: the service.

use std::sync::Arc;

use anyhow::Context;

use arbytron_runtime::{LoadOutcome, Runtime, StrategySet};

use crate::admin::{self, AdminState};
use crate::control::Control;
use crate::settings::Settings;

/// Everything the running service holds; dropping it stops watchers.
pub struct Service {
    pub strategies: Arc<StrategySet>,
    pub control: Arc<Control>,
    pub admin_addr: std::net::SocketAddr,
    _watch: Option<arbytron_runtime::WatchHandle>,
}

/// Start the strategy runtime, load and watch the strategies folder, and serve
/// the admin API.
pub async fn start(settings: &Settings) -> anyhow::Result<Service> {
    let st = &settings.strategies;
    let runtime = Runtime::new(st.runtime_config()).context("starting the strategy runtime")?;
    let params_src = st.clone();
    let strategies = Arc::new(StrategySet::new(runtime, Arc::new(move |name| params_src.params_for(name))));
    if !st.dir.exists() {
        std::fs::create_dir_all(&st.dir)
            .with_context(|| format!("strategies.dir {}: cannot create", st.dir.display()))?;
    }
    let loaded =
        strategies.load_dir(&st.dir).with_context(|| format!("strategies.dir {}: cannot read", st.dir.display()))?;
    let live = loaded.iter().filter(|(_, r)| matches!(r, Ok(LoadOutcome::Live { .. }))).count();
    tracing::info!(dir = %st.dir.display(), live, failed = loaded.len() - live, "strategies loaded");
    if loaded.is_empty() {
        tracing::warn!(dir = %st.dir.display(), "no strategies found: build them with scripts/build-wasm.sh or drop a *.wasm here");
    }
    let watch = if st.watch {
        Some(
            arbytron_runtime::watch(strategies.clone(), &st.dir, std::time::Duration::from_millis(st.debounce_ms))
                .with_context(|| format!("watching {}", st.dir.display()))?,
        )
    } else {
        None
    };
    let control = Arc::new(Control::default());
    let admin_addr =
        admin::serve(settings.admin.listen, AdminState { strategies: strategies.clone(), control: control.clone() })
            .await?;
    tracing::info!(%admin_addr, "admin API: /metrics /status /kill /resume");
    Ok(Service { strategies, control, admin_addr, _watch: watch })
}

/// Wait for Ctrl-C or SIGTERM; SIGUSR1 engages the kill switch.
pub async fn wait_for_shutdown(control: Arc<Control>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
            _ = usr1.recv() => control.kill("SIGUSR1"),
        }
    }
}
