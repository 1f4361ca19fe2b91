//! Watch the strategies folder and reload on change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::set::StrategySet;

/// Keeps the watcher alive; dropping it stops watching.
pub struct WatchHandle {
    _debouncer: notify_debouncer_full::Debouncer<notify::RecommendedWatcher, notify_debouncer_full::RecommendedCache>,
    _worker: std::thread::JoinHandle<()>,
}

/// Watch `dir`: a `*.wasm` that appears or changes is loaded (off the hot
/// path, on a worker thread); one that disappears is unloaded. Bursts of
/// events for one file (a copy in progress) are merged for `debounce`.
pub fn watch(set: Arc<StrategySet>, dir: &Path, debounce: Duration) -> Result<WatchHandle, notify::Error> {
    let (tx, rx) = std::sync::mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(debounce, None, tx)?;
    debouncer.watch(dir, RecursiveMode::NonRecursive)?;
    let worker = std::thread::Builder::new()
        .name("arbytron-strategy-watch".into())
        .spawn(move || {
            for result in rx {
                match result {
                    Ok(events) => {
                        let paths: BTreeSet<PathBuf> = events
                            .iter()
                            .flat_map(|e| e.paths.iter().cloned())
                            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                            .collect();
                        for path in paths {
                            if path.exists() {
                                // Errors are logged and counted inside load_file.
                                if let Err(e) = set.load_file(&path) {
                                    tracing::debug!(path = %path.display(), error = %e, "reload refused; the live version stays");
                                }
                            } else {
                                set.unload(&path);
                            }
                        }
                    }
                    Err(errors) => {
                        for e in errors {
                            tracing::warn!(error = %e, "strategy folder watch error");
                        }
                    }
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(WatchHandle { _debouncer: debouncer, _worker: worker })
}
