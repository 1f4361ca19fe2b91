//! Market links: sets of outcomes of which exactly one pays $1, with the legs
//! (one per venue) that buy each outcome.
//!
//! Links come from `config/mappings.toml` (human-curated) or from a matching
//! strategy (approved by confidence threshold or by a human). The engine keeps
//! an index from each market to the links that touch it, so an update only
//! re-prices what it can change.

use std::collections::HashMap;

use arbytron_model::{MarketKey, TimestampMs};
use arbytron_sdk::{MarketId, Side, Venue};
use serde::Deserialize;

/// One leg of a link, by market key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LegKey {
    pub market: MarketKey,
    pub side: Side,
}

impl std::fmt::Display for LegKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.market, self.side.as_str())
    }
}

impl std::str::FromStr for LegKey {
    type Err = String;

    /// `venue:symbol:side`, e.g. `kalshi:KXFED-26DEC-T4.00:yes`. The symbol may contain `:`.
    fn from_str(s: &str) -> Result<LegKey, String> {
        let (venue, rest) = s.split_once(':').ok_or_else(|| format!("{s:?}: expected venue:symbol:side"))?;
        let (symbol, side) = rest.rsplit_once(':').ok_or_else(|| format!("{s:?}: expected venue:symbol:side"))?;
        let venue: Venue = venue.parse()?;
        let side = match side {
            "yes" => Side::Yes,
            "no" => Side::No,
            other => return Err(format!("{s:?}: side {other:?} is not yes or no")),
        };
        if symbol.is_empty() {
            return Err(format!("{s:?}: empty symbol"));
        }
        Ok(LegKey { market: MarketKey::new(venue, symbol), side })
    }
}

/// A link as configured or proposed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSpec {
    pub name: String,
    /// Which strategies score it; empty means every strategy.
    pub strategies: Vec<String>,
    /// Per outcome, the legs that buy it.
    pub outcomes: Vec<Vec<LegKey>>,
    /// When the outcome is known; `None` means the latest close time of its markets.
    pub resolves_at: Option<TimestampMs>,
    pub source: String,
    /// The link's id in the store, once written there (bundles refer to it).
    pub store_id: Option<i64>,
}

/// A link the engine scores: specs resolved to market ids.
#[derive(Clone, Debug)]
pub struct Link {
    pub id: u32,
    pub spec: LinkSpec,
    /// Per outcome, the legs as (market id, side).
    pub outcomes: Vec<Vec<(MarketId, Side)>>,
}

impl Link {
    pub fn legs(&self) -> impl Iterator<Item = (usize, MarketId, Side)> + '_ {
        self.outcomes.iter().enumerate().flat_map(|(o, legs)| legs.iter().map(move |&(m, s)| (o, m, s)))
    }

    pub fn scored_by(&self, strategy: &str) -> bool {
        self.spec.strategies.is_empty() || self.spec.strategies.iter().any(|s| s == strategy)
    }
}

/// Every link, with the market → links index.
#[derive(Default)]
pub struct Links {
    links: Vec<Link>,
    by_market: HashMap<MarketId, Vec<u32>>,
    by_name: HashMap<String, u32>,
    /// The same outcomes proposed twice (config and a matcher) are one link:
    /// two links with the same legs would trade the same edge twice.
    by_legs: HashMap<Vec<Vec<(MarketId, u8)>>, u32>,
}

impl Links {
    pub fn new() -> Links {
        Links::default()
    }

    /// Add a link; `intern` assigns market ids. A link with a name already
    /// present replaces nothing and returns the existing id.
    pub fn add(&mut self, spec: LinkSpec, mut intern: impl FnMut(&MarketKey) -> MarketId) -> Result<u32, String> {
        if let Some(&id) = self.by_name.get(&spec.name) {
            return Ok(id);
        }
        if spec.outcomes.len() < 2 {
            return Err(format!("link {}: needs at least two outcomes", spec.name));
        }
        if spec.outcomes.iter().any(|o| o.is_empty()) {
            return Err(format!("link {}: an outcome without legs", spec.name));
        }
        let id = self.links.len() as u32 + 1; // 0 is the self-test link
        let outcomes: Vec<Vec<(MarketId, Side)>> =
            spec.outcomes.iter().map(|legs| legs.iter().map(|l| (intern(&l.market), l.side)).collect()).collect();
        let mut seen = std::collections::HashSet::new();
        for &(m, s) in outcomes.iter().flatten() {
            if !seen.insert((m, s)) {
                return Err(format!("link {}: a leg appears twice", spec.name));
            }
        }
        let mut canonical: Vec<Vec<(MarketId, u8)>> = outcomes
            .iter()
            .map(|legs| {
                let mut v: Vec<(MarketId, u8)> = legs.iter().map(|&(m, s)| (m, s.code() as u8)).collect();
                v.sort();
                v
            })
            .collect();
        canonical.sort();
        if let Some(&existing) = self.by_legs.get(&canonical) {
            return Ok(existing);
        }
        for &(m, _) in outcomes.iter().flatten() {
            let v = self.by_market.entry(m).or_default();
            if !v.contains(&id) {
                v.push(id);
            }
        }
        self.by_name.insert(spec.name.clone(), id);
        self.by_legs.insert(canonical, id);
        self.links.push(Link { id, spec, outcomes });
        Ok(id)
    }

    pub fn get(&self, id: u32) -> Option<&Link> {
        id.checked_sub(1).and_then(|i| self.links.get(i as usize))
    }

    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.by_name.get(name).and_then(|&id| self.get(id))
    }

    /// Links that include `market`.
    pub fn touching(&self, market: MarketId) -> &[u32] {
        self.by_market.get(&market).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Link> {
        self.links.iter()
    }
}

/// `config/mappings.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingsFile {
    #[serde(default, rename = "link")]
    links: Vec<MappingEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingEntry {
    name: String,
    #[serde(default)]
    strategies: Vec<String>,
    outcomes: Vec<Vec<String>>,
    #[serde(default)]
    resolves_at: Option<String>,
}

/// Parse a mappings file. Errors name the link and the bad leg.
pub fn parse_mappings(text: &str) -> Result<Vec<LinkSpec>, String> {
    let file: MappingsFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let mut names = std::collections::HashSet::new();
    file.links
        .into_iter()
        .map(|e| {
            if !names.insert(e.name.clone()) {
                return Err(format!("link {:?} is defined twice", e.name));
            }
            let outcomes = e
                .outcomes
                .iter()
                .map(|legs| legs.iter().map(|l| l.parse::<LegKey>()).collect::<Result<Vec<_>, _>>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| format!("link {:?}: {m}", e.name))?;
            let resolves_at = match e.resolves_at {
                None => None,
                Some(s) => Some(
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map_err(|err| format!("link {:?}: resolves_at {s:?}: {err}", e.name))?
                        .timestamp_millis(),
                ),
            };
            Ok(LinkSpec {
                name: e.name,
                strategies: e.strategies,
                outcomes,
                resolves_at,
                source: "config".into(),
                store_id: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mappings_with_clear_errors() {
        let text = r#"
[[link]]
name = "fed"
strategies = ["cross-venue-binary"]
outcomes = [["kalshi:KXFED-26DEC-H0:yes", "polymarket-clob:0xabc:yes"], ["kalshi:KXFED-26DEC-H0:no", "polymarket-clob:0xabc:no"]]
resolves_at = "2026-12-17T19:00:00Z"
"#;
        let specs = parse_mappings(text).unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].outcomes[1][1], "polymarket-clob:0xabc:no".parse().unwrap());
        assert_eq!(specs[0].resolves_at, Some(1_797_534_000_000));

        let bad = text.replace("polymarket-clob:0xabc:no", "polymarket:0xabc:no");
        let err = parse_mappings(&bad).unwrap_err();
        assert!(err.contains("fed") && err.contains("unknown venue"), "{err}");
        let bad = text.replace(":yes\", \"poly", ":maybe\", \"poly");
        assert!(parse_mappings(&bad).unwrap_err().contains("not yes or no"));
        assert!(parse_mappings("[[link]]\nname='x'\n").is_err());
    }

    #[test]
    fn index_finds_links_by_market() {
        let mut links = Links::new();
        let mut ids = HashMap::new();
        let mut intern = |k: &MarketKey| {
            let n = ids.len() as u32;
            *ids.entry(k.clone()).or_insert(n)
        };
        let spec = |name: &str, a: &str, b: &str| LinkSpec {
            name: name.into(),
            strategies: vec![],
            outcomes: vec![vec![a.parse().unwrap()], vec![b.parse().unwrap()]],
            resolves_at: None,
            source: "test".into(),
            store_id: None,
        };
        let l1 = links.add(spec("a", "kalshi:A:yes", "kalshi:A:no"), &mut intern).unwrap();
        let l2 = links.add(spec("b", "kalshi:A:yes", "polymarket-clob:B:no"), &mut intern).unwrap();
        assert_eq!(links.touching(0), &[l1, l2]);
        assert_eq!(links.touching(1), &[l2]);
        assert_eq!(links.add(spec("a", "kalshi:Z:yes", "kalshi:Z:no"), &mut intern).unwrap(), l1);
        assert!(links.add(spec("dup", "kalshi:A:yes", "kalshi:A:yes"), &mut intern).is_err());
        assert_eq!(
            links.add(spec("same-legs", "kalshi:A:no", "kalshi:A:yes"), &mut intern).unwrap(),
            l1,
            "same legs, one link"
        );
    }
}
