//! The slow path: strategies that match markets propose links between the
//! venues' listings; confident ones go live at once, the rest wait in the
//! store for a human to approve.

use std::sync::Arc;

use arbytron_engine::{Engine, LegKey, LinkSpec};
use arbytron_model::MarketInfo;
use arbytron_runtime::StrategySet;
use arbytron_sdk::Listing;
use arbytron_store::{LinkLeg, NewLink, Store};

use crate::pipeline::now_ms;

/// The store's form of a link.
pub fn to_store(spec: &LinkSpec) -> NewLink {
    NewLink {
        source: spec.source.clone(),
        outcomes: spec
            .outcomes
            .iter()
            .map(|legs| {
                legs.iter()
                    .map(|l| LinkLeg { venue: l.market.venue, symbol: l.market.symbol.clone(), side: l.side })
                    .collect()
            })
            .collect(),
        confidence_ppm: 1_000_000,
        reasons: vec![format!("{} ({})", spec.name, spec.source)],
    }
}

/// Ask every strategy that matches markets for links over `listings`.
/// Returns the links confident enough to trade (at least `auto_approve_ppm`);
/// the others are stored unapproved, with their reasons, for a human.
pub async fn propose(
    strategies: &Arc<StrategySet>,
    engine: &mut Engine,
    listings: &[Vec<MarketInfo>],
    auto_approve_ppm: u32,
    store: &Store,
) -> Vec<LinkSpec> {
    let sdk_listings: Vec<Listing> = listings
        .iter()
        .flatten()
        .map(|m| Listing {
            market: engine.markets.intern(&m.key),
            venue: m.key.venue,
            event: m.event.clone(),
            symbol: m.key.symbol.clone(),
            title: m.title.clone(),
            outcome: m.outcome.clone(),
            rules: m.rules.clone(),
            closes_at: m.closes_at,
            mutually_exclusive: m.mutually_exclusive,
        })
        .collect();
    if sdk_listings.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for slot in strategies.slots().iter() {
        let Some(live) = slot.live() else { continue };
        if !live.info.capabilities.match_markets {
            continue;
        }
        let links = match slot.match_markets(&sdk_listings, now_ms()) {
            Ok(a) => a.value,
            Err(e) => {
                tracing::warn!(strategy = %live.name, error = %e, "match-markets failed");
                continue;
            }
        };
        let (mut approved, mut pending) = (0, 0);
        for link in links {
            let outcomes: Option<Vec<Vec<LegKey>>> = link
                .outcomes
                .iter()
                .map(|legs| {
                    legs.iter()
                        .map(|r| engine.markets.get(r.market).map(|s| LegKey { market: s.key.clone(), side: r.side }))
                        .collect()
                })
                .collect();
            let Some(outcomes) = outcomes else {
                tracing::warn!(strategy = %live.name, "a proposed link names an unknown market; ignored");
                continue;
            };
            let mut keys: Vec<String> = outcomes.iter().flatten().map(|l| l.to_string()).collect();
            keys.sort();
            let spec = LinkSpec {
                name: format!("{}:{}", live.name, keys.join("+")),
                strategies: vec![live.name.to_string()],
                outcomes,
                resolves_at: None,
                source: live.name.to_string(),
                store_id: None,
            };
            let mut record = to_store(&spec);
            record.confidence_ppm = link.confidence_ppm.min(1_000_000);
            record.reasons = link.reasons.clone();
            let id = match store.insert_link(&record).await {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(strategy = %live.name, error = %e, "could not record a proposed link");
                    continue;
                }
            };
            if link.confidence_ppm >= auto_approve_ppm {
                if let Err(e) = store.approve_link(id).await {
                    // Only a link recorded as approved may trade.
                    tracing::warn!(strategy = %live.name, link = id, error = %e, "could not record an approval; the link waits");
                    pending += 1;
                    continue;
                }
                approved += 1;
                out.push(LinkSpec { store_id: Some(id), ..spec });
            } else {
                pending += 1;
                tracing::info!(
                    strategy = %live.name, link = id, confidence_ppm = link.confidence_ppm,
                    reasons = %link.reasons.join("; "), "link proposed; waiting for approval"
                );
            }
        }
        tracing::info!(strategy = %live.name, approved, pending, "markets matched");
    }
    out
}
