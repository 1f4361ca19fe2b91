//! Gamma: market metadata (events, markets, fee schedules, tick sizes).

use reqwest::Method;

use arbytron_model::MarketInfo;

use crate::config::Selection;
use crate::error::PolyError;
use crate::http;
use crate::markets::market_info;
use crate::wire::{GammaEvent, GammaMarket};

#[derive(Clone)]
pub struct GammaClient {
    http: reqwest::Client,
    base: String,
    page_size: u32,
}

impl GammaClient {
    pub fn new(http: reqwest::Client, base: &str, page_size: u32) -> GammaClient {
        GammaClient { http, base: base.trim_end_matches('/').to_string(), page_size: page_size.max(1) }
    }

    /// One page of events.
    pub async fn events_page(&self, query: &[(&str, String)]) -> Result<Vec<GammaEvent>, PolyError> {
        let req = self.http.get(format!("{}/events", self.base)).query(query);
        http::send(req, &Method::GET, "/events").await
    }

    /// One page of markets.
    pub async fn markets_page(&self, query: &[(&str, String)]) -> Result<Vec<GammaMarket>, PolyError> {
        let req = self.http.get(format!("{}/markets", self.base)).query(query);
        http::send(req, &Method::GET, "/markets").await
    }

    /// Every active, open event (optionally of one tag), paging by offset.
    pub async fn all_events(&self, tag_id: Option<&str>, max_events: usize) -> Result<Vec<GammaEvent>, PolyError> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        loop {
            let mut q = vec![
                ("limit", self.page_size.to_string()),
                ("offset", offset.to_string()),
                ("active", "true".to_string()),
                ("closed", "false".to_string()),
            ];
            if let Some(t) = tag_id {
                q.push(("tag_id", t.to_string()));
            }
            let page = self.events_page(&q).await?;
            let n = page.len();
            out.extend(page);
            if n < self.page_size as usize || (max_events > 0 && out.len() >= max_events) {
                break;
            }
            offset += n as u64;
        }
        if max_events > 0 {
            out.truncate(max_events);
        }
        Ok(out)
    }

    /// The markets `selection` names, as model listings. Markets that do not
    /// parse are counted as malformed and left out: one odd market must not
    /// hide the rest.
    pub async fn discover(&self, selection: &Selection) -> Result<Vec<MarketInfo>, PolyError> {
        let mut events = Vec::new();
        for slug in &selection.event_slugs {
            events.extend(self.events_page(&[("slug", slug.clone())]).await?);
        }
        let mut loose = Vec::new();
        for chunk in selection.condition_ids.chunks(self.page_size as usize) {
            let q: Vec<(&str, String)> = chunk.iter().map(|c| ("condition_ids", c.clone())).collect();
            loose.extend(self.markets_page(&q).await?);
        }
        if selection.event_slugs.is_empty() && selection.condition_ids.is_empty() {
            events = self.all_events(selection.tag_id.as_deref(), selection.max_events).await?;
        }
        let mut out = Vec::new();
        let mut convert = |event: Option<&GammaEvent>, m: &GammaMarket| match market_info(event, m) {
            Ok(info) => out.push(info),
            Err(reason) => {
                let sample = format!("market id {} ({})", m.id, m.condition_id.as_deref().unwrap_or("-"));
                arbytron_telemetry::malformed("polymarket-gamma", "market", &format!("{sample}: {reason}"));
            }
        };
        for e in &events {
            for m in &e.markets {
                convert(Some(e), m);
            }
        }
        for m in &loose {
            convert(None, m);
        }
        Ok(out)
    }
}
