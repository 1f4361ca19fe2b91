//! The engine's view of the WASM strategies: every live slot of the runtime's
//! [`StrategySet`] is a [`Scorer`].

use std::sync::Arc;

use arbytron_engine::{Scorer, Strategies};
use arbytron_runtime::{Slot, StrategySet};
use arbytron_sdk::wire::LegsBuf;
use arbytron_sdk::{ExitDecision, Opportunity, Position, TimestampMs};

/// Adapts a runtime slot to the engine's strategy interface.
pub struct SlotScorer<'a> {
    slot: &'a Slot,
    name: Arc<str>,
}

impl Scorer for SlotScorer<'_> {
    fn name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn score(
        &self,
        link: u32,
        now: TimestampMs,
        resolves_at: TimestampMs,
        legs: &mut LegsBuf,
    ) -> Result<Option<Opportunity>, String> {
        self.slot.score(link, now, resolves_at, legs).map(|a| a.value).map_err(|e| e.to_string())
    }

    fn decide_exit(&self, position: &Position, now: TimestampMs, view: &LegsBuf) -> Result<ExitDecision, String> {
        self.slot.decide_exit(position, now, view).map(|a| a.value).map_err(|e| e.to_string())
    }
}

/// Every live strategy in a [`StrategySet`].
pub struct WasmStrategies(pub Arc<StrategySet>);

impl Strategies for WasmStrategies {
    fn each(&self, f: &mut dyn FnMut(&dyn Scorer)) {
        for slot in self.0.slots().iter() {
            if let Some(live) = slot.live() {
                f(&SlotScorer { slot, name: live.name.clone() });
            }
        }
    }

    fn with(&self, name: &str, f: &mut dyn FnMut(&dyn Scorer)) {
        for slot in self.0.slots().iter() {
            if let Some(live) = slot.live()
                && &*live.name == name
            {
                f(&SlotScorer { slot, name: live.name.clone() });
                return;
            }
        }
    }
}
