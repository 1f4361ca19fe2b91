//! A local, append-only, fsync'd outbox: where money records wait while the
//! database is away, in order, until they are applied.
//!
//! Records go into numbered segment files (`outbox-00000001.seg`, ...), each a
//! sequence of frames:
//!
//! ```text
//! [u32 length LE][u32 crc32 LE of the payload][payload: MessagePack]
//! ```
//!
//! An append is written and `fsync`ed (file and, for a new segment, the
//! directory) before it returns: a record the outbox accepted survives a crash
//! or a power loss. A crash during an append can leave a torn last frame; it
//! fails its length or checksum and reading stops there, so at most the frame
//! being written is lost, and that append never returned. Applying is
//! at-least-once (a crash between applying a record and removing its segment
//! applies it again), so every record must be idempotent to apply; the
//! ledger's are, keyed by venue and client ids. Segments roll over at a size
//! so a replay after a crash repeats little.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Frames larger than this are refused (and, when read, treated as damage).
pub const MAX_RECORD: usize = 16 << 20;
/// A segment that grows past this is closed and a new one started.
const SEGMENT_BYTES: u64 = 4 << 20;
const HEADER: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("outbox record does not encode: {0}")]
    Encode(String),
    #[error("outbox record of {0} bytes is too large")]
    TooLarge(usize),
    #[error("outbox {path}: record {index} does not decode: {reason}")]
    Decode { path: String, index: usize, reason: String },
}

fn io(path: &Path, source: std::io::Error) -> OutboxError {
    OutboxError::Io { path: path.display().to_string(), source }
}

/// The outbox in one directory. Not shared between processes: the directory
/// belongs to one host.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    /// The segment being appended to, and its size.
    current: Option<(u64, File, u64)>,
    /// Records appended and not yet removed.
    pending: usize,
}

/// Records read back from one segment, oldest first.
#[derive(Debug)]
pub struct Segment<T> {
    pub number: u64,
    pub records: Vec<T>,
    /// Bytes after the last whole frame (a torn append), ignored.
    pub torn_bytes: usize,
}

impl Outbox {
    /// Open (creating) the outbox in `dir`, counting what is already pending.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Outbox, OutboxError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let mut outbox = Outbox { dir, current: None, pending: 0 };
        for n in outbox.segment_numbers()? {
            let path = outbox.segment_path(n);
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            outbox.pending += frames(&bytes).0.len();
        }
        Ok(outbox)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records appended and not yet applied and removed.
    pub fn pending(&self) -> usize {
        self.pending
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    fn segment_path(&self, n: u64) -> PathBuf {
        self.dir.join(format!("outbox-{n:08}.seg"))
    }

    /// Segment numbers on disk, oldest first.
    fn segment_numbers(&self) -> Result<Vec<u64>, OutboxError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| io(&self.dir, e))? {
            let entry = entry.map_err(|e| io(&self.dir, e))?;
            let name = entry.file_name();
            let Some(n) = name
                .to_str()
                .and_then(|s| s.strip_prefix("outbox-"))
                .and_then(|s| s.strip_suffix(".seg"))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            out.push(n);
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Append one record durably: it is on disk when this returns.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<(), OutboxError> {
        let mut payload = Vec::new();
        let mut ser = rmp_serde::Serializer::new(&mut payload).with_struct_map().with_binary();
        record.serialize(&mut ser).map_err(|e| OutboxError::Encode(e.to_string()))?;
        if payload.len() > MAX_RECORD {
            return Err(OutboxError::TooLarge(payload.len()));
        }
        let mut frame = Vec::with_capacity(HEADER + payload.len());
        // Lengths up to MAX_RECORD (16 MiB) fit in a u32.
        frame.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        if self.current.as_ref().is_none_or(|(_, _, size)| *size >= SEGMENT_BYTES) {
            self.roll()?;
        }
        let Some((n, file, size)) = self.current.as_mut() else {
            return Err(io(&self.dir, std::io::Error::other("no open segment")));
        };
        let path = self.dir.join(format!("outbox-{n:08}.seg"));
        file.write_all(&frame).map_err(|e| io(&path, e))?;
        file.sync_data().map_err(|e| io(&path, e))?;
        *size += frame.len() as u64;
        self.pending += 1;
        Ok(())
    }

    /// Start a new segment after the newest on disk.
    fn roll(&mut self) -> Result<(), OutboxError> {
        let next = self.segment_numbers()?.last().map_or(1, |n| n + 1);
        let path = self.segment_path(next);
        let file = OpenOptions::new().create_new(true).append(true).open(&path).map_err(|e| io(&path, e))?;
        // The new name must survive a crash too.
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io(&self.dir, e))?;
        self.current = Some((next, file, 0));
        Ok(())
    }

    /// The oldest segment's records, if any are pending. A record that does
    /// not decode is an error (the frame's checksum held, so this is a format
    /// change, not damage): it is never skipped silently.
    pub fn oldest<T: DeserializeOwned>(&self) -> Result<Option<Segment<T>>, OutboxError> {
        let Some(&n) = self.segment_numbers()?.first() else { return Ok(None) };
        let path = self.segment_path(n);
        let mut bytes = Vec::new();
        File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| io(&path, e))?;
        let (payloads, torn_bytes) = frames(&bytes);
        let mut records = Vec::with_capacity(payloads.len());
        for (index, p) in payloads.iter().enumerate() {
            // Binary mode, as written: amounts are integer micros.
            let mut de = rmp_serde::Deserializer::from_read_ref(p).with_binary();
            let r = T::deserialize(&mut de).map_err(|e| OutboxError::Decode {
                path: path.display().to_string(),
                index,
                reason: e.to_string(),
            })?;
            records.push(r);
        }
        if torn_bytes > 0 {
            tracing::warn!(path = %path.display(), torn_bytes, "outbox segment ends in a torn record (a crash while appending); ignoring it");
        }
        Ok(Some(Segment { number: n, records, torn_bytes }))
    }

    /// Every record of segment `n` is applied: remove it.
    pub fn remove(&mut self, n: u64, records: usize) -> Result<(), OutboxError> {
        if self.current.as_ref().is_some_and(|(cur, _, _)| *cur == n) {
            self.current = None;
        }
        let path = self.segment_path(n);
        std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| io(&self.dir, e))?;
        self.pending = self.pending.saturating_sub(records);
        Ok(())
    }
}

/// Whole, intact frames in `bytes`, and how many bytes follow the last one.
fn frames(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let crc = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let start = at + HEADER;
        if len > MAX_RECORD || bytes.len() - start < len {
            break;
        }
        let payload = &bytes[start..start + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        out.push(payload);
        at = start + len;
    }
    (out, bytes.len() - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct R {
        n: u32,
        s: String,
    }

    fn r(n: u32) -> R {
        R { n, s: format!("record {n}") }
    }

    #[test]
    fn records_come_back_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(dir.path()).unwrap();
        assert!(o.oldest::<R>().unwrap().is_none());
        for n in 0..5 {
            o.append(&r(n)).unwrap();
        }
        assert_eq!(o.pending(), 5);
        drop(o);
        let mut o = Outbox::open(dir.path()).unwrap();
        assert_eq!(o.pending(), 5, "counted from disk");
        let seg = o.oldest::<R>().unwrap().unwrap();
        assert_eq!(seg.records, (0..5).map(r).collect::<Vec<_>>());
        o.remove(seg.number, seg.records.len()).unwrap();
        assert!(o.is_empty());
        assert!(o.oldest::<R>().unwrap().is_none());
        // Appending after a removal starts a fresh segment.
        o.append(&r(9)).unwrap();
        assert_eq!(o.oldest::<R>().unwrap().unwrap().records, vec![r(9)]);
    }

    #[test]
    fn a_torn_tail_loses_only_the_record_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(dir.path()).unwrap();
        for n in 0..3 {
            o.append(&r(n)).unwrap();
        }
        let seg = o.segment_numbers().unwrap()[0];
        let path = o.segment_path(seg);
        drop(o);
        // A crash mid-append: half a frame at the end.
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len();
        let mut extra = 40u32.to_le_bytes().to_vec();
        extra.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        bytes.extend_from_slice(&extra);
        std::fs::write(&path, &bytes).unwrap();
        let o = Outbox::open(dir.path()).unwrap();
        let s = o.oldest::<R>().unwrap().unwrap();
        assert_eq!(s.records, (0..3).map(r).collect::<Vec<_>>());
        assert_eq!(s.torn_bytes, bytes.len() - whole);
        // A flipped bit in the middle: reading stops before the damage, never past it.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER + 3] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert!(o.oldest::<R>().unwrap().unwrap().records.is_empty());
    }

    #[test]
    fn segments_roll_over_and_drain_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(dir.path()).unwrap();
        let big = "x".repeat(1 << 20);
        for n in 0..10 {
            o.append(&R { n, s: big.clone() }).unwrap();
        }
        assert!(o.segment_numbers().unwrap().len() >= 2, "4 MiB segments");
        let mut seen = Vec::new();
        while let Some(seg) = o.oldest::<R>().unwrap() {
            seen.extend(seg.records.iter().map(|r| r.n));
            o.remove(seg.number, seg.records.len()).unwrap();
        }
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(o.pending(), 0);
    }

    #[test]
    fn a_record_that_no_longer_decodes_is_an_error_not_a_skip() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = Outbox::open(dir.path()).unwrap();
        o.append(&"just a string").unwrap();
        let err = o.oldest::<R>().unwrap_err();
        assert!(matches!(err, OutboxError::Decode { index: 0, .. }), "{err}");
    }
}
