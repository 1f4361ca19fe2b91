//! Request authentication as Kalshi does it: RSA-PSS (SHA-256, MGF1-SHA-256,
//! salt = digest length) over `timestamp_ms + METHOD + path`, checked against
//! the configured public keys, with a timestamp window.

use std::collections::HashMap;

use base64::Engine;
use ring::signature::{RSA_PSS_2048_8192_SHA256, UnparsedPublicKey};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject;
use spki::SubjectPublicKeyInfoRef;
use spki::der::Decode;

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
    /// Key id -> the RSA public key (PKCS#1 DER, as ring verifies it).
    keys: HashMap<String, Vec<u8>>,
    max_skew_ms: i64,
}

impl KeyStore {
    /// `keys`: (key id, public key PEM, `BEGIN PUBLIC KEY` as Kalshi hands them out).
    pub fn new(keys: &[(String, String)], max_skew_ms: i64) -> anyhow::Result<KeyStore> {
        let mut map = HashMap::new();
        for (id, pem) in keys {
            let spki = SubjectPublicKeyInfoDer::from_pem_slice(pem.trim().as_bytes())
                .map_err(|e| anyhow::anyhow!("public key for {id}: not a PEM public key: {e:?}"))?;
            let info = SubjectPublicKeyInfoRef::from_der(spki.as_ref())
                .map_err(|e| anyhow::anyhow!("public key for {id}: {e}"))?;
            map.insert(id.clone(), info.subject_public_key.raw_bytes().to_vec());
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
        let msg = format!("{ts}{}{path}", method.to_ascii_uppercase());
        UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, vk)
            .verify(msg.as_bytes(), &bytes)
            .map_err(|_| AuthFailure::BadSignature)?;
        Ok(key.to_string())
    }
}

pub use arbytron_integration::now_ms;
