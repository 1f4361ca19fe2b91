//! Market discovery over REST: events and markets (cursor-paged), series fee
//! schedules, into the model's `MarketInfo`.

use std::collections::HashMap;

use arbytron_model::venue::VenueError;
use arbytron_model::{FeeSchedule, MarketInfo};

use crate::config::Discovery;
use crate::convert;
use crate::rest::{ListFilter, RestClient};
use crate::wire;

/// Everything discovery learned, including what order validation needs later.
#[derive(Debug, Default)]
pub struct Discovered {
    pub markets: Vec<MarketInfo>,
    /// Price bands per ticker, for grid checks before sending orders.
    pub price_ranges: HashMap<String, Vec<wire::PriceRange>>,
}

/// Walk events (paged), then markets (paged), joining them by event ticker and
/// pricing each market with its series' (or event's overriding) fee schedule.
/// Markets whose fee model we do not know are skipped with a warning rather
/// than traded with a guessed fee.
pub async fn discover(rest: &RestClient, d: &Discovery) -> Result<Discovered, VenueError> {
    let series_filters: Vec<Option<String>> =
        if d.series.is_empty() { vec![None] } else { d.series.iter().cloned().map(Some).collect() };
    let mut events: HashMap<String, wire::Event> = HashMap::new();
    let mut markets: Vec<wire::Market> = Vec::new();
    for series in &series_filters {
        let f = ListFilter {
            series_ticker: series.clone(),
            status: d.status.clone(),
            limit: Some(d.page_limit.clamp(1, 200)),
            ..ListFilter::default()
        };
        for e in rest.all_events(&f).await? {
            if d.events.is_empty() || d.events.contains(&e.event_ticker) {
                events.insert(e.event_ticker.clone(), e);
            }
        }
        let f = ListFilter {
            series_ticker: series.clone(),
            status: d.status.clone(),
            limit: Some(d.page_limit.clamp(1, 1000)),
            ..ListFilter::default()
        };
        markets.extend(rest.all_markets(&f).await?);
    }
    let mut fees: HashMap<String, Result<wire::Series, String>> = HashMap::new();
    let mut out = Discovered::default();
    let mut seen = std::collections::HashSet::new();
    for m in markets {
        if !seen.insert(m.ticker.clone()) {
            continue;
        }
        let Some(event) = events.get(&m.event_ticker) else { continue };
        let series_ticker = event.series_ticker.clone();
        if !fees.contains_key(&series_ticker) {
            let s = rest.series(&series_ticker).await;
            fees.insert(series_ticker.clone(), s.map_err(|e| e.to_string()));
        }
        let fee: Result<FeeSchedule, String> = match fees.get(&series_ticker) {
            Some(Ok(series)) => convert::fee_schedule(series, Some(event)),
            Some(Err(e)) => Err(e.clone()),
            None => Err("series not loaded".into()),
        };
        let fee = match fee {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(
                    ticker = m.ticker,
                    series = series_ticker,
                    error = e,
                    "skipping Kalshi market: no usable fee schedule"
                );
                continue;
            }
        };
        match convert::market_info(&m, event, fee) {
            Ok(info) => {
                out.price_ranges.insert(m.ticker.clone(), m.price_ranges.clone());
                out.markets.push(info);
            }
            Err(e) => arbytron_telemetry::malformed("kalshi-rest", "bad_market", &format!("{}: {e}", m.ticker)),
        }
    }
    out.markets.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}
