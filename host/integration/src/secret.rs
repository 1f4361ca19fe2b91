//! Secrets (API keys, private keys, HMAC secrets, passphrases, tokens): held in
//! memory that is wiped when dropped, and never printed.
//!
//! `Debug`, `Display` and `Serialize` all show `[redacted]`, so a secret inside
//! a config struct cannot leak through a log line, an error message or a
//! printed configuration; the value is read with [`Secret::expose`]. Where a
//! secret comes from is a [`SecretSource`]: an environment variable, a file,
//! or a value handed over in memory. Config files name the source, never the secret.

use std::fmt;
use std::path::PathBuf;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// A secret value, zeroised on drop and redacted wherever it would print.
#[derive(Clone, Default)]
pub struct Secret<T: Zeroize = String>(Zeroizing<T>);

impl<T: Zeroize> Secret<T> {
    pub fn new(value: impl Into<T>) -> Secret<T> {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself. Call it only where the value is used (signing, a header).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl Secret<String> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compare with a candidate in time that does not depend on where they
    /// differ (tokens checked by the admin API). Lengths are not secret.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: Zeroize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de, T: Zeroize + serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret<T>, D::Error> {
        T::deserialize(d).map(|v| Secret(Zeroizing::new(v)))
    }
}

impl<T: Zeroize + PartialEq> PartialEq for Secret<T> {
    fn eq(&self, other: &Secret<T>) -> bool {
        *self.0 == *other.0
    }
}

impl<T: Zeroize + Eq> Eq for Secret<T> {}

/// Why a secret could not be read. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set (or not unicode)")]
    MissingEnv(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("the secret from {0} is empty")]
    Empty(String),
}

/// Where a secret comes from. Surrounding whitespace (a trailing newline in a
/// file, say) is trimmed; an empty secret is an error.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable's value.
    Env(String),
    /// A file's contents.
    File(PathBuf),
    /// Already in memory (tests, or a secret manager that handed it over).
    Value(Secret),
}

impl SecretSource {
    pub fn load(&self) -> Result<Secret, SecretError> {
        let (raw, origin) = match self {
            SecretSource::Env(var) => (
                Zeroizing::new(std::env::var(var).map_err(|_| SecretError::MissingEnv(var.clone()))?),
                format!("environment variable {var}"),
            ),
            SecretSource::File(path) => (
                Zeroizing::new(std::fs::read_to_string(path).map_err(|e| SecretError::File {
                    path: path.display().to_string(),
                    reason: e.kind().to_string(),
                })?),
                format!("file {}", path.display()),
            ),
            SecretSource::Value(s) => (Zeroizing::new(s.expose().clone()), "the given value".to_string()),
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(SecretError::Empty(origin));
        }
        Ok(Secret::new(trimmed))
    }

    /// Where the secret lives, for messages (never the secret).
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env(var) => format!("environment variable {var}"),
            SecretSource::File(path) => format!("file {}", path.display()),
            SecretSource::Value(_) => "a value in memory".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_nor_serialise() {
        let s: Secret = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert_eq!(s.expose(), "hunter2");
        #[derive(Debug, serde::Serialize)]
        struct Cfg {
            key: Secret,
        }
        let c = Cfg { key: Secret::new("sk-live-123") };
        assert!(!format!("{c:?}").contains("sk-live"));
        assert!(!serde_json::to_string(&c).unwrap().contains("sk-live"));
    }

    #[test]
    fn secrets_deserialise_from_plain_values() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose(), "abc");
        let bytes: Secret<Vec<u8>> = serde_json::from_str("[1,2,3]").unwrap();
        assert_eq!(bytes.expose(), &vec![1, 2, 3]);
    }

    #[test]
    fn matching_is_exact() {
        let s: Secret = Secret::new("token-abc");
        assert!(s.matches("token-abc"));
        assert!(!s.matches("token-abd"));
        assert!(!s.matches("token-ab"));
        assert!(!s.matches(""));
    }

    #[test]
    fn sources_load_trimmed_and_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  0xabc\n").unwrap();
        assert_eq!(SecretSource::File(path.clone()).load().unwrap().expose(), "0xabc");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(SecretSource::File(path.clone()).load(), Err(SecretError::Empty(_))));
        let missing = SecretSource::File(dir.path().join("nope")).load().unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
        let unset = SecretSource::Env("ARBYTRON_SURELY_UNSET_SECRET_VARIABLE".into()).load().unwrap_err();
        assert_eq!(unset, SecretError::MissingEnv("ARBYTRON_SURELY_UNSET_SECRET_VARIABLE".into()));
        assert_eq!(SecretSource::Value(Secret::new(" v ")).load().unwrap().expose(), "v");
        // The source serialises (config check prints it); a value never does.
        let shown = serde_json::to_string(&SecretSource::Value(Secret::new("s3cret"))).unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
