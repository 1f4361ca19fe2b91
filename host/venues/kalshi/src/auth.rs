//! Request signing: RSA-PSS (SHA-256, MGF1-SHA-256, salt = digest length) over
//! `timestamp_ms + METHOD + path`, the path including `/trade-api/v2` and
//! excluding the query. The WebSocket upgrade is signed the same way.
//!
//! Signing goes through `ring`, whose RSA private-key operation is constant
//! time (the `rsa` crate's is not: RUSTSEC-2023-0071).

use arbytron_integration::{Secret, SecretError, SecretSource};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

pub use arbytron_model::now_ms;

pub const HEADER_KEY: &str = "KALSHI-ACCESS-KEY";
pub const HEADER_TIMESTAMP: &str = "KALSHI-ACCESS-TIMESTAMP";
pub const HEADER_SIGNATURE: &str = "KALSHI-ACCESS-SIGNATURE";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Deliberately vague: the PEM must never end up in a log line.
    #[error("private key is not a valid PKCS#1 or PKCS#8 RSA PEM")]
    BadKey,
    #[error("private key: {0}")]
    Source(#[from] SecretError),
    #[error("signing failed (no randomness available)")]
    Sign,
}

/// Signs requests for one API key. Holds the parsed key only; never prints it.
#[derive(Clone)]
pub struct Signer {
    key_id: String,
    key: std::sync::Arc<RsaKeyPair>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("key_id", &self.key_id).field("key", &"[redacted]").finish()
    }
}

/// The three auth headers for one request.
#[derive(Clone, Debug)]
pub struct AuthHeaders {
    pub key: String,
    pub timestamp: String,
    pub signature: String,
}

impl Signer {
    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`) and PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEMs.
    pub fn from_pem(key_id: impl Into<String>, pem: &Secret) -> Result<Signer, AuthError> {
        let der = PrivateKeyDer::from_pem_slice(pem.expose().trim().as_bytes()).map_err(|_| AuthError::BadKey)?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(AuthError::BadKey),
        }
        .map_err(|_| AuthError::BadKey)?;
        Ok(Signer { key_id: key_id.into(), key: std::sync::Arc::new(key), rng: SystemRandom::new() })
    }

    pub fn load(key_id: impl Into<String>, source: &SecretSource) -> Result<Signer, AuthError> {
        Signer::from_pem(key_id, &source.load()?)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Base64 (standard, padded) signature of `timestamp_ms + method + path` (query stripped).
    pub fn sign(&self, timestamp_ms: i64, method: &str, path: &str) -> Result<String, AuthError> {
        let msg = signing_message(timestamp_ms, method, path);
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key.sign(&RSA_PSS_SHA256, &self.rng, msg.as_bytes(), &mut sig).map_err(|_| AuthError::Sign)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sig))
    }

    /// Headers for a request made now.
    pub fn headers(&self, method: &str, path: &str) -> Result<AuthHeaders, AuthError> {
        self.headers_at(now_ms(), method, path)
    }

    pub fn headers_at(&self, timestamp_ms: i64, method: &str, path: &str) -> Result<AuthHeaders, AuthError> {
        Ok(AuthHeaders {
            key: self.key_id.clone(),
            timestamp: timestamp_ms.to_string(),
            signature: self.sign(timestamp_ms, method, path)?,
        })
    }
}

/// What Kalshi signs: the path from the host root, never the query string.
pub fn signing_message(timestamp_ms: i64, method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    format!("{timestamp_ms}{}{path}", method.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = include_str!("../tests/fixtures/test_key_a.pkcs8.pem");
    const PUB_A: &str = include_str!("../tests/fixtures/test_key_a.pub.pem");
    const KEY_B: &str = include_str!("../tests/fixtures/test_key_b.pkcs1.pem");
    const PUB_B: &str = include_str!("../tests/fixtures/test_key_b.pub.pem");

    /// Verified the way the venue does (the simulator's key store).
    fn verify(pub_pem: &str, msg: &str, sig_b64: &str) -> bool {
        let (ts, rest) = msg.split_at(msg.find(|c: char| !c.is_ascii_digit()).unwrap());
        let method_len = rest.find('/').unwrap();
        let (method, path) = rest.split_at(method_len);
        let keys = arbytron_sim::kalshi::auth::KeyStore::new(&[("kid".into(), pub_pem.into())], i64::MAX).unwrap();
        let now: i64 = ts.parse().unwrap();
        keys.verify(Some("kid"), Some(ts), Some(sig_b64), method, path, now).is_ok()
    }

    #[test]
    fn message_strips_query_and_uppercases_method() {
        assert_eq!(
            signing_message(1703123456789, "get", "/trade-api/v2/portfolio/orders?limit=5"),
            "1703123456789GET/trade-api/v2/portfolio/orders"
        );
    }

    #[test]
    fn signs_with_pkcs8_and_pkcs1_keys_verifiably() {
        for (pem, public) in [(KEY_A, PUB_A), (KEY_B, PUB_B)] {
            let s = Signer::from_pem("kid", &Secret::new(pem)).unwrap();
            let h = s.headers_at(1703123456789, "GET", "/trade-api/v2/portfolio/balance").unwrap();
            assert_eq!(h.key, "kid");
            let msg = "1703123456789GET/trade-api/v2/portfolio/balance";
            assert!(verify(public, msg, &h.signature));
            assert!(!verify(public, "1703123456789GET/trade-api/v2/portfolio/orders", &h.signature));
        }
        // A signature by key A does not verify under key B.
        let a = Signer::from_pem("kid", &Secret::new(KEY_A)).unwrap();
        assert!(!verify(PUB_B, "1GET/x", &a.sign(1, "GET", "/x").unwrap()));
        assert!(verify(PUB_A, "1GET/x", &a.sign(1, "GET", "/x").unwrap()));
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let err = Signer::from_pem("kid", &Secret::new("-----BEGIN PRIVATE KEY-----\nnope\n")).unwrap_err();
        assert_eq!(err, AuthError::BadKey);
        assert!(!err.to_string().contains("nope"));
        let s = Signer::from_pem("kid", &Secret::new(KEY_A)).unwrap();
        assert!(!format!("{s:?}").contains("BEGIN"));
    }
}
