//! Request signing: RSA-PSS (SHA-256, MGF1-SHA-256, salt = digest length) over
//! `timestamp_ms + METHOD + path`, the path including `/trade-api/v2` and
//! excluding the query. The WebSocket upgrade is signed the same way.

use base64::Engine;
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::pss::BlindedSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::Sha256;

pub use arbytron_model::now_ms;
use arbytron_telemetry::Secret;

use crate::config::KeySource;

pub const HEADER_KEY: &str = "KALSHI-ACCESS-KEY";
pub const HEADER_TIMESTAMP: &str = "KALSHI-ACCESS-TIMESTAMP";
pub const HEADER_SIGNATURE: &str = "KALSHI-ACCESS-SIGNATURE";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Deliberately vague: the PEM must never end up in a log line.
    #[error("private key is not a valid PKCS#1 or PKCS#8 RSA PEM")]
    BadKey,
    #[error("cannot read private key file {0}: {1}")]
    Io(String, String),
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
}

/// Signs requests for one API key. Holds the parsed key only; never prints it.
#[derive(Clone)]
pub struct Signer {
    key_id: String,
    key: BlindedSigningKey<Sha256>,
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
        let text = pem.expose().trim();
        let key = RsaPrivateKey::from_pkcs8_pem(text)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(text))
            .map_err(|_| AuthError::BadKey)?;
        Ok(Signer { key_id: key_id.into(), key: BlindedSigningKey::<Sha256>::new(key) })
    }

    pub fn load(key_id: impl Into<String>, source: &KeySource) -> Result<Signer, AuthError> {
        let pem = match source {
            KeySource::Pem(s) => s.clone(),
            KeySource::Path(p) => Secret::new(
                std::fs::read_to_string(p).map_err(|e| AuthError::Io(p.display().to_string(), e.to_string()))?,
            ),
            KeySource::Env(var) => Secret::new(std::env::var(var).map_err(|_| AuthError::MissingEnv(var.clone()))?),
        };
        Signer::from_pem(key_id, &pem)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Base64 (standard, padded) signature of `timestamp_ms + method + path` (query stripped).
    pub fn sign(&self, timestamp_ms: i64, method: &str, path: &str) -> String {
        let msg = signing_message(timestamp_ms, method, path);
        let sig = self.key.sign_with_rng(&mut rand::thread_rng(), msg.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
    }

    /// Headers for a request made now.
    pub fn headers(&self, method: &str, path: &str) -> AuthHeaders {
        self.headers_at(now_ms(), method, path)
    }

    pub fn headers_at(&self, timestamp_ms: i64, method: &str, path: &str) -> AuthHeaders {
        AuthHeaders {
            key: self.key_id.clone(),
            timestamp: timestamp_ms.to_string(),
            signature: self.sign(timestamp_ms, method, path),
        }
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
    use rsa::pkcs8::DecodePublicKey;
    use rsa::pss::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    const KEY_A: &str = include_str!("../tests/fixtures/test_key_a.pkcs8.pem");
    const PUB_A: &str = include_str!("../tests/fixtures/test_key_a.pub.pem");
    const KEY_B: &str = include_str!("../tests/fixtures/test_key_b.pkcs1.pem");
    const PUB_B: &str = include_str!("../tests/fixtures/test_key_b.pub.pem");

    fn verify(pub_pem: &str, msg: &str, sig_b64: &str) -> bool {
        let key = rsa::RsaPublicKey::from_public_key_pem(pub_pem).unwrap();
        let vk = VerifyingKey::<Sha256>::new(key);
        let bytes = base64::engine::general_purpose::STANDARD.decode(sig_b64).unwrap();
        let sig = Signature::try_from(bytes.as_slice()).unwrap();
        vk.verify(msg.as_bytes(), &sig).is_ok()
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
            let h = s.headers_at(1703123456789, "GET", "/trade-api/v2/portfolio/balance");
            assert_eq!(h.key, "kid");
            let msg = "1703123456789GET/trade-api/v2/portfolio/balance";
            assert!(verify(public, msg, &h.signature));
            assert!(!verify(public, "1703123456789GET/trade-api/v2/portfolio/orders", &h.signature));
        }
        // A signature by key A does not verify under key B.
        let a = Signer::from_pem("kid", &Secret::new(KEY_A)).unwrap();
        assert!(!verify(PUB_B, "1GET/x", &a.sign(1, "GET", "/x")));
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
