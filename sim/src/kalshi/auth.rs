//! Request authentication as Kalshi does it: RSA-PSS (SHA-256, MGF1-SHA-256,
//! salt = digest length) over `timestamp_ms + METHOD + path`, checked against
//! the configured public keys, with a timestamp window.

use std::collections::HashMap;

use base64::Engine;
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::pss::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use sha2::Sha256;

/// Why a request was refused; the `details` string Kalshi puts in its 401 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    UnknownKey,
    BadTimestamp,
    Skew,
    BadSignature,
}

impl AuthFailure {
    pub fn details(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "MISSING_API_KEY_HEADERS",
            AuthFailure::UnknownKey => "INCORRECT_API_KEY",
            AuthFailure::BadTimestamp => "INVALID_TIMESTAMP",
            AuthFailure::Skew => "TIMESTAMP_OUT_OF_WINDOW",
            AuthFailure::BadSignature => "INCORRECT_API_KEY_SIGNATURE",
        }
    }
}

/// The keys the simulated exchange knows.
#[derive(Clone, Default)]
pub struct KeyStore {
    keys: HashMap<String, VerifyingKey<Sha256>>,
    max_skew_ms: i64,
}

impl KeyStore {
    /// `keys`: (key id, public key PEM in SPKI or PKCS#1 form).
    pub fn new(keys: &[(String, String)], max_skew_ms: i64) -> anyhow::Result<KeyStore> {
        let mut map = HashMap::new();
        for (id, pem) in keys {
            let key = RsaPublicKey::from_public_key_pem(pem.trim())
                .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
                .map_err(|e| anyhow::anyhow!("public key for {id}: {e}"))?;
            map.insert(id.clone(), VerifyingKey::<Sha256>::new(key));
        }
        Ok(KeyStore { keys: map, max_skew_ms })
    }

    /// Verify the three headers for `method` on `path` (no query) at `now_ms`; the key id on success.
    pub fn verify(
        &self,
        key: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        method: &str,
        path: &str,
        now_ms: i64,
    ) -> Result<String, AuthFailure> {
        let (Some(key), Some(ts), Some(sig)) = (key, timestamp, signature) else { return Err(AuthFailure::Missing) };
        let vk = self.keys.get(key).ok_or(AuthFailure::UnknownKey)?;
        let ts_ms: i64 = ts.parse().map_err(|_| AuthFailure::BadTimestamp)?;
        if now_ms.saturating_sub(ts_ms).saturating_abs() > self.max_skew_ms {
            return Err(AuthFailure::Skew);
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(sig).map_err(|_| AuthFailure::BadSignature)?;
        let sig = Signature::try_from(bytes.as_slice()).map_err(|_| AuthFailure::BadSignature)?;
        let msg = format!("{ts}{}{path}", method.to_ascii_uppercase());
        vk.verify(msg.as_bytes(), &sig).map_err(|_| AuthFailure::BadSignature)?;
        Ok(key.to_string())
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
