//! Keeping credentials out of logs and errors: URLs with passwords or tokens,
//! and request headers that carry keys or signatures.

/// Query parameters whose values are credentials.
const SENSITIVE_PARAMS: &[&str] =
    &["key", "apikey", "api_key", "token", "access_token", "secret", "password", "passphrase", "signature", "sig"];

/// Header names (lowercase) whose values are credentials or signatures.
const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "kalshi-access-key",
    "kalshi-access-signature",
    "poly_api_key",
    "poly_signature",
    "poly_passphrase",
    "poly-api-key",
    "poly-signature",
    "poly-passphrase",
    "x-api-key",
];

/// `url` with any password in its authority and any credential-like query
/// parameter replaced by `***`. Unparseable input is returned with everything
/// between `://` and `@` hidden, which is where a password would be.
pub fn url(raw: &str) -> String {
    let Ok(mut u) = url::Url::parse(raw) else {
        return match (raw.find("://"), raw.rfind('@')) {
            (Some(s), Some(a)) if a > s => format!("{}://***{}", &raw[..s], &raw[a..]),
            _ => raw.to_string(),
        };
    };
    if u.password().is_some() {
        // Only fails for URLs that cannot have a password, which this one has.
        if u.set_password(Some("***")).is_err() {
            return "[unprintable url]".into();
        }
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let hide = SENSITIVE_PARAMS.contains(&k.to_ascii_lowercase().as_str());
                (k.into_owned(), if hide { "***".into() } else { v.into_owned() })
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Whether a header's value must never be logged.
pub fn is_sensitive_header(name: &str) -> bool {
    SENSITIVE_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

/// A header value as it may be logged.
pub fn header<'a>(name: &str, value: &'a str) -> &'a str {
    if is_sensitive_header(name) { "***" } else { value }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_and_tokens_leave_urls() {
        assert_eq!(super::url("postgres://arb:hunter2@db:5432/x"), "postgres://arb:***@db:5432/x");
        assert_eq!(super::url("postgres://db:5432/x"), "postgres://db:5432/x");
        let r = super::url("https://rpc.example/v1?apikey=abc123&chain=137");
        assert!(!r.contains("abc123") && r.contains("chain=137"), "{r}");
        assert_eq!(super::url("redis://:pw@127.0.0.1:6379"), "redis://:***@127.0.0.1:6379");
        // Not a URL the parser accepts: hide the authority's secret part anyway.
        assert_eq!(super::url("weird://u:p@[bad"), "weird://***@[bad");
        assert_eq!(super::url("no scheme here"), "no scheme here");
    }

    #[test]
    fn credential_headers_are_hidden() {
        assert_eq!(super::header("KALSHI-ACCESS-SIGNATURE", "abc"), "***");
        assert_eq!(super::header("Authorization", "Bearer x"), "***");
        assert_eq!(super::header("POLY_API_KEY", "k"), "***");
        assert_eq!(super::header("Content-Type", "application/json"), "application/json");
    }
}
