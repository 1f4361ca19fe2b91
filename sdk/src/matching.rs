//! Text helpers for proposing links between venues' markets.
//!
//! Venues word the same question differently ("Will the Fed cut rates in
//! March 2026?" vs "Fed rate cut in March?"), so matching compares
//! normalised token sets: lower case, punctuation dropped, filler words
//! removed, numbers written one way (`$100k`, `100,000` and `100000` are the
//! same token), month names shortened. Scores are integers in parts per
//! million, and everything is deterministic (ordered maps, no hashing seeds):
//! the same listings always give the same links. Nothing here decides on its own: strategies turn scores, date gaps
//! and rule differences into a confidence and human-readable reasons, and a
//! human approves links.

use std::collections::{BTreeMap, BTreeSet};

/// Words that carry no meaning for matching.
const STOP: &[&str] = &[
    "a", "an", "the", "will", "be", "is", "are", "was", "by", "in", "on", "at", "of", "for", "to", "or", "and", "any",
    "this", "that", "than", "with", "as", "it", "its", "do", "does", "before", "after", "end", "market", "question",
    "resolve", "resolves", "yes", "no", "what", "who", "which", "when", "how", "there", "between", "from", "into",
];

const MONTHS: &[(&str, &str)] = &[
    ("january", "jan"),
    ("february", "feb"),
    ("march", "mar"),
    ("april", "apr"),
    ("may", "may"),
    ("june", "jun"),
    ("july", "jul"),
    ("august", "aug"),
    ("september", "sep"),
    ("sept", "sep"),
    ("october", "oct"),
    ("november", "nov"),
    ("december", "dec"),
];

/// Lower case, `&` as "and", every other non-alphanumeric character (except
/// `.`, `,`, `$` and `%` inside numbers) as a space, single spaces.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let digit_around = |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(|c| c.is_ascii_digit());
        let c = c.to_ascii_lowercase();
        let in_number = (c == '.' || c == ',') && digit_around(i.checked_sub(1)) && digit_around(Some(i + 1));
        if c.is_alphanumeric() || in_number {
            out.push(c);
        } else if c == '&' {
            out.push_str(" and ");
        } else if c == '$' || c == '%' {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(' ');
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A number token in one canonical form: `100,000` / `100k` / `0.1m` -> `100000`,
/// `25.50` -> `25.5`, ordinals `1st` -> `1`; `None` if `w` is not a number.
pub fn canonical_number(w: &str) -> Option<String> {
    let w = w.trim_end_matches('%');
    let (body, mult) = match w.char_indices().last() {
        Some((i, 'k')) => (&w[..i], 1_000u64),
        Some((i, 'm')) if !w.ends_with("pm") && !w.ends_with("am") => (&w[..i], 1_000_000),
        Some((i, 'b')) => (&w[..i], 1_000_000_000),
        _ => (w, 1),
    };
    let body = body.trim_end_matches("st").trim_end_matches("nd").trim_end_matches("rd").trim_end_matches("th");
    let body: String = body.chars().filter(|&c| c != ',').collect();
    if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit() || c == '.') || body.matches('.').count() > 1 {
        return None;
    }
    // Exact decimal arithmetic in millionths (no floats).
    let micros = crate::money::parse_micros(&body).ok()?;
    let scaled = (micros as i128).checked_mul(mult as i128)?;
    let int = scaled / 1_000_000;
    let frac = scaled % 1_000_000;
    if frac == 0 {
        Some(int.to_string())
    } else {
        let f = format!("{frac:06}");
        Some(format!("{int}.{}", f.trim_end_matches('0')))
    }
}

/// Meaningful tokens of a title: normalised, filler words dropped, numbers
/// and months in canonical form, sorted and unique.
pub fn tokens(s: &str) -> BTreeSet<String> {
    normalize(s)
        .split(' ')
        .filter(|w| !w.is_empty() && *w != "$")
        .filter_map(|w| {
            if let Some(n) = canonical_number(w) {
                return Some(n);
            }
            if STOP.contains(&w) {
                return None;
            }
            let w = MONTHS.iter().find(|(long, _)| *long == w).map_or(w, |(_, short)| short);
            Some(w.to_string())
        })
        .collect()
}

/// Numbers mentioned in a text, canonical.
pub fn numbers(s: &str) -> BTreeSet<String> {
    normalize(s).split(' ').filter_map(canonical_number).collect()
}

/// Dice similarity of two token sets, ppm: `2 |A n B| / (|A| + |B|)`.
pub fn similarity_ppm(a: &BTreeSet<String>, b: &BTreeSet<String>) -> u32 {
    let total = a.len() + b.len();
    if total == 0 {
        return 0;
    }
    let shared = a.intersection(b).count();
    (2 * shared as u64 * 1_000_000 / total as u64) as u32
}

/// Hours between two instants (absolute, rounded down).
pub fn gap_hours(a_ms: i64, b_ms: i64) -> i64 {
    (a_ms - b_ms).abs() / 3_600_000
}

/// Resolution sources we recognise in rules text, by the words that name them.
const SOURCES: &[(&str, &[&str])] = &[
    ("the Associated Press", &["associated press", " ap "]),
    ("the Bureau of Labor Statistics", &["bureau of labor statistics", " bls "]),
    ("the Federal Reserve", &["federal reserve", " fomc "]),
    ("CME", &[" cme "]),
    ("CoinGecko", &["coingecko"]),
    ("Binance", &["binance"]),
    ("Coinbase", &["coinbase"]),
    ("an official government source", &["official government"]),
    ("UMA", &[" uma "]),
];

/// Human-readable differences between two venues' rules: numbers one
/// mentions and the other does not, and different named resolution sources.
pub fn rule_differences(a_name: &str, a: &str, b_name: &str, b: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (na, nb) = (numbers(a), numbers(b));
    let only_a: Vec<&String> = na.difference(&nb).collect();
    let only_b: Vec<&String> = nb.difference(&na).collect();
    if !only_a.is_empty() {
        out.push(format!("{a_name} rules mention {} which {b_name} rules do not", join(&only_a)));
    }
    if !only_b.is_empty() {
        out.push(format!("{b_name} rules mention {} which {a_name} rules do not", join(&only_b)));
    }
    let padded = |s: &str| format!(" {} ", normalize(s));
    let (pa, pb) = (padded(a), padded(b));
    let src = |p: &str| -> BTreeSet<&'static str> {
        SOURCES.iter().filter(|(_, words)| words.iter().any(|w| p.contains(w))).map(|(name, _)| *name).collect()
    };
    let (sa, sb) = (src(&pa), src(&pb));
    if !sa.is_empty() && !sb.is_empty() && sa != sb {
        out.push(format!(
            "resolution sources differ: {a_name} cites {}, {b_name} cites {}",
            sa.iter().copied().collect::<Vec<_>>().join(", "),
            sb.iter().copied().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// Inverted index from tokens to items, for finding candidates without
/// comparing every pair (thousands of listings per venue).
#[derive(Default)]
pub struct TokenIndex {
    postings: BTreeMap<String, Vec<usize>>,
    items: usize,
}

impl TokenIndex {
    /// A token in at most this many items is always followed.
    pub const RARE: usize = 64;

    pub fn new() -> TokenIndex {
        TokenIndex::default()
    }

    pub fn insert(&mut self, item: usize, tokens: &BTreeSet<String>) {
        for t in tokens {
            self.postings.entry(t.clone()).or_default().push(item);
        }
        self.items = self.items.max(item + 1);
    }

    /// Items sharing at least `min_shared` tokens with `tokens`, ignoring
    /// tokens found in more than `max_df_ppm` of all items and in more than
    /// [`TokenIndex::RARE`] items (too common to discriminate, and too costly
    /// to follow); sorted by the number of shared tokens, most first.
    pub fn candidates(&self, tokens: &BTreeSet<String>, min_shared: usize, max_df_ppm: u32) -> Vec<(usize, usize)> {
        let limit = ((self.items as u64 * max_df_ppm as u64 / 1_000_000) as usize).max(Self::RARE);
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for t in tokens {
            if let Some(p) = self.postings.get(t)
                && p.len() <= limit
            {
                for &i in p {
                    *counts.entry(i).or_default() += 1;
                }
            }
        }
        let mut v: Vec<(usize, usize)> = counts.into_iter().filter(|&(_, c)| c >= min_shared).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn normalises_titles_and_numbers() {
        assert_eq!(normalize("Will BTC hit $100,000 by Dec. 31?"), "will btc hit $ 100,000 by dec 31");
        assert_eq!(canonical_number("100,000"), Some("100000".into()));
        assert_eq!(canonical_number("100k"), Some("100000".into()));
        assert_eq!(canonical_number("0.1m"), Some("100000".into()));
        assert_eq!(canonical_number("25.50"), Some("25.5".into()));
        assert_eq!(canonical_number("31st"), Some("31".into()));
        assert_eq!(canonical_number("4.5%"), Some("4.5".into()));
        assert_eq!(canonical_number("fed"), None);
        assert_eq!(canonical_number("1.2.3"), None);
        assert_eq!(tokens("Will BTC hit $100k by December 31?"), set(&["100000", "31", "btc", "dec", "hit"]));
        assert_eq!(tokens("Bitcoin & BTC: 100,000 in Dec"), set(&["100000", "bitcoin", "btc", "dec"]));
    }

    #[test]
    fn similarity_is_dice_in_ppm() {
        let a = tokens("Will the Fed cut rates in March 2026?");
        let b = tokens("Fed rate cut in March 2026");
        // {fed, cut, rates, mar, 2026} vs {fed, rate, cut, mar, 2026}: 4 shared of 10.
        assert_eq!(similarity_ppm(&a, &b), 800_000);
        assert_eq!(similarity_ppm(&a, &a), 1_000_000);
        assert_eq!(similarity_ppm(&BTreeSet::new(), &BTreeSet::new()), 0);
        assert_eq!(gap_hours(0, 90 * 60 * 1000), 1);
    }

    #[test]
    fn rule_differences_name_numbers_and_sources() {
        let d = rule_differences(
            "Kalshi",
            "Resolves Yes if the Associated Press calls the race by November 5.",
            "Polymarket",
            "Resolves Yes per Fox News, CNN and NBC calls by November 6.",
        );
        assert_eq!(
            d,
            vec![
                "Kalshi rules mention 5 which Polymarket rules do not".to_string(),
                "Polymarket rules mention 6 which Kalshi rules do not".to_string(),
            ]
        );
        let d = rule_differences("Kalshi", "Source: the BLS CPI release", "Polymarket", "Source: Associated Press");
        assert_eq!(d, vec!["resolution sources differ: Kalshi cites the Bureau of Labor Statistics, Polymarket cites the Associated Press".to_string()]);
        assert!(rule_differences("A", "same 5", "B", "same 5").is_empty());
    }

    #[test]
    fn index_finds_overlapping_items() {
        let mut ix = TokenIndex::new();
        ix.insert(0, &tokens("Fed cuts rates in March"));
        ix.insert(1, &tokens("Bitcoin above 100k in March"));
        ix.insert(2, &tokens("Fed holds rates in June"));
        let c = ix.candidates(&tokens("Will the Fed cut rates in March?"), 2, 1_000_000);
        assert_eq!(c[0], (0, 3)); // fed, rates, mar (cut vs cuts differ)
        assert!(c.iter().any(|&(i, _)| i == 2));
        assert!(!c.iter().any(|&(i, _)| i == 1));
        // Common tokens are dropped only once they are in more than RARE items.
        for i in 3..200 {
            ix.insert(i, &tokens(&format!("Snow in March {i}")));
        }
        assert!(ix.candidates(&tokens("March"), 1, 500_000).is_empty());
        assert_eq!(ix.candidates(&tokens("Fed March"), 1, 500_000).len(), 2);
    }
}
