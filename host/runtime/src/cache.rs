//! Compiled modules cached on disk, keyed by module hash and engine compatibility,
//! so a restart or a reload of a known module skips compilation.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A `Hasher` that feeds SHA-256, so the engine's compatibility hash is stable
/// across processes (the std hasher is not).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let d = self.0.clone().finalize();
        u64::from_le_bytes(d[..8].try_into().unwrap_or([0; 8]))
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

pub(crate) struct ArtifactCache {
    dir: PathBuf,
    engine: Engine,
    compat: String,
}

impl ArtifactCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> ArtifactCache {
        let mut h = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        ArtifactCache { dir, engine: engine.clone(), compat: format!("{:016x}", h.finish()) }
    }

    fn path(&self, module_hash: &str) -> PathBuf {
        self.dir.join(format!("{module_hash}-{}.cwasm", self.compat))
    }

    /// A cached compilation, if a usable one exists; a corrupt entry is removed.
    #[allow(unsafe_code)] // deserialising our own compiled artifact, see SAFETY below
    pub(crate) fn load(&self, module_hash: &str) -> Option<Component> {
        let path = self.path(module_hash);
        if !path.exists() {
            return None;
        }
        // Read into memory rather than mmap the file: a cache entry replaced or
        // truncated by another process must not pull code out from under a
        // running strategy (that would be a SIGBUS, not an error).
        let bytes = std::fs::read(&path).ok()?;
        // SAFETY: the bytes were written by `store` below from a component this
        // engine configuration compiled, into a directory only this host writes;
        // wasmtime still checks the header and engine compatibility and errors on
        // a mismatch, which we treat as a miss.
        match unsafe { Component::deserialize(&self.engine, &bytes) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "dropping unusable cached module");
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove the unusable cached module");
                }
                None
            }
        }
    }

    /// Best effort: a cache that cannot be written only costs a recompile next time.
    pub(crate) fn store(&self, module_hash: &str, component: &Component) {
        let result = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let bytes = component.serialize().map_err(std::io::Error::other)?;
            let tmp = self.dir.join(format!(".{module_hash}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, self.path(module_hash))
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot cache compiled module");
        }
    }
}
