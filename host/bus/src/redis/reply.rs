//! Parsing the stream replies we use (XREADGROUP, XAUTOCLAIM, XINFO GROUPS)
//! straight from `redis::Value`, in RESP2 or RESP3 shape, without the
//! per-entry hash maps of the generic stream reply types.

use std::fmt;

use redis::Value;

use crate::error::BusError;

/// A stream entry id (`<ms>-<seq>`), ordered as Redis orders them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EntryId {
    pub ms: u64,
    pub seq: u64,
}

impl EntryId {
    pub const ZERO: EntryId = EntryId { ms: 0, seq: 0 };

    pub fn parse(s: &[u8]) -> Option<EntryId> {
        let s = std::str::from_utf8(s).ok()?;
        let (ms, seq) = s.split_once('-')?;
        Some(EntryId { ms: ms.parse().ok()?, seq: seq.parse().ok()? })
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl redis::ToRedisArgs for EntryId {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        out.write_arg_fmt(self)
    }
}

/// Field of an entry holding one envelope.
pub const FIELD: &[u8] = b"e";
/// Field of an entry holding a batch frame of envelopes ([`crate::envelope::batch`]).
pub const BATCH_FIELD: &[u8] = b"b";

/// What an entry holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    /// The `e` field's bytes.
    Envelope(Vec<u8>),
    /// The `b` field's bytes.
    Batch(Vec<u8>),
    /// Neither field: something else wrote to the stream. Carries the raw fields for the log sample.
    Foreign(Vec<u8>),
    /// Still pending, but trimmed away by MAXLEN before anyone processed it.
    Deleted,
}

#[derive(Debug, PartialEq, Eq)]
pub struct RawEntry {
    pub id: EntryId,
    pub body: Body,
}

fn unexpected(command: &'static str, detail: impl Into<String>) -> BusError {
    BusError::RedisReply { command, detail: detail.into() }
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// An array or a RESP3 map flattened to its key/value sequence.
fn items(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) | Value::Set(a) => Some(a),
        Value::Map(m) => Some(m.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Value::Nil => Some(Vec::new()),
        _ => None,
    }
}

/// Entries of one stream: `[[id, [field, value, ...] | nil], ...]`.
pub fn entries(command: &'static str, v: Value) -> Result<Vec<RawEntry>, BusError> {
    let list = items(v).ok_or_else(|| unexpected(command, "entries are not an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for e in list {
        let mut pair = items(e).ok_or_else(|| unexpected(command, "entry is not an array"))?.into_iter();
        let id = pair
            .next()
            .as_ref()
            .and_then(bytes)
            .and_then(EntryId::parse)
            .ok_or_else(|| unexpected(command, "entry without a valid id"))?;
        let body = match pair.next() {
            None | Some(Value::Nil) => Body::Deleted,
            Some(fields) => {
                let fields = items(fields).ok_or_else(|| unexpected(command, "entry fields are not an array"))?;
                envelope_field(fields)
            }
        };
        out.push(RawEntry { id, body });
    }
    Ok(out)
}

fn envelope_field(fields: Vec<Value>) -> Body {
    let mut it = fields.into_iter();
    let mut sample = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        match (bytes(&k), v) {
            (Some(FIELD), Value::BulkString(b)) => return Body::Envelope(b),
            (Some(BATCH_FIELD), Value::BulkString(b)) => return Body::Batch(b),
            (_, v) => {
                if sample.len() < 128 {
                    sample.extend_from_slice(bytes(&k).unwrap_or(b"?"));
                    sample.push(b'=');
                    sample.extend_from_slice(bytes(&v).unwrap_or(b"?"));
                    sample.push(b' ');
                }
            }
        }
    }
    Body::Foreign(sample)
}

/// XREADGROUP: `nil` on timeout, else `[[stream, entries], ...]` (a map in RESP3).
/// Returns the entries of each stream named in `streams`, by index.
pub fn read_reply(v: Value, streams: &[String]) -> Result<Vec<(usize, Vec<RawEntry>)>, BusError> {
    const CMD: &str = "XREADGROUP";
    let list = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(m) => m.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        Value::Array(a) => {
            // RESP2: each element is a [name, entries] pair.
            let mut flat = Vec::with_capacity(a.len() * 2);
            for pair in a {
                let p = items(pair).ok_or_else(|| unexpected(CMD, "stream reply is not a pair"))?;
                flat.extend(p);
            }
            flat
        }
        other => return Err(unexpected(CMD, format!("unexpected reply {other:?}"))),
    };
    let mut out = Vec::new();
    let mut it = list.into_iter();
    while let (Some(name), Some(es)) = (it.next(), it.next()) {
        let name = bytes(&name).ok_or_else(|| unexpected(CMD, "stream name is not a string"))?;
        let idx = streams
            .iter()
            .position(|s| s.as_bytes() == name)
            .ok_or_else(|| unexpected(CMD, format!("reply names unknown stream {}", String::from_utf8_lossy(name))))?;
        out.push((idx, entries(CMD, es)?));
    }
    Ok(out)
}

/// XAUTOCLAIM: `[next-cursor, entries, deleted-ids]` (the third element since Redis 7).
pub fn autoclaim_reply(v: Value) -> Result<(EntryId, Vec<RawEntry>, Vec<EntryId>), BusError> {
    const CMD: &str = "XAUTOCLAIM";
    let mut it = items(v).ok_or_else(|| unexpected(CMD, "reply is not an array"))?.into_iter();
    let next =
        it.next().as_ref().and_then(bytes).and_then(EntryId::parse).ok_or_else(|| unexpected(CMD, "missing cursor"))?;
    let claimed = entries(CMD, it.next().unwrap_or(Value::Nil))?;
    let deleted = match it.next() {
        Some(v) => items(v)
            .ok_or_else(|| unexpected(CMD, "deleted ids are not an array"))?
            .iter()
            .filter_map(|d| bytes(d).and_then(EntryId::parse))
            .collect(),
        None => Vec::new(),
    };
    Ok((next, claimed, deleted))
}

/// XINFO GROUPS: the `(lag, pending)` of `group`; lag is nil when Redis cannot compute it.
pub fn group_info(v: Value, group: &str) -> Result<Option<(Option<i64>, i64)>, BusError> {
    const CMD: &str = "XINFO GROUPS";
    for g in items(v).ok_or_else(|| unexpected(CMD, "reply is not an array"))? {
        let fields = items(g).ok_or_else(|| unexpected(CMD, "group is not a map"))?;
        let mut name = None;
        let mut lag = None;
        let mut pending = 0;
        let mut it = fields.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match bytes(&k) {
                Some(b"name") => name = bytes(&v).map(|b| b.to_vec()),
                Some(b"lag") => lag = int(&v),
                Some(b"pending") => pending = int(&v).unwrap_or(0),
                _ => {}
            }
        }
        if name.as_deref() == Some(group.as_bytes()) {
            return Ok(Some((lag, pending)));
        }
    }
    Ok(None)
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        other => bytes(other).and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn entry_ids_parse_order_and_print() {
        let a = EntryId::parse(b"1700000000000-2").unwrap();
        assert_eq!(a, EntryId { ms: 1_700_000_000_000, seq: 2 });
        assert!(a < EntryId::parse(b"1700000000000-10").unwrap());
        assert_eq!(a.to_string(), "1700000000000-2");
        assert_eq!(EntryId::parse(b"12"), None);
        assert_eq!(EntryId::parse(b"x-1"), None);
    }

    #[test]
    fn parses_resp2_xreadgroup_with_envelopes_foreign_and_deleted_entries() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s:1"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-1"), Value::Array(vec![bulk("e"), bulk("ENV")])]),
                Value::Array(vec![bulk("1-2"), Value::Array(vec![bulk("foo"), bulk("bar")])]),
                Value::Array(vec![bulk("1-3"), Value::Nil]),
                Value::Array(vec![bulk("1-4"), Value::Array(vec![bulk("x"), bulk("1"), bulk("b"), bulk("FRAME")])]),
            ]),
        ])]);
        let out = read_reply(reply, &["s:0".into(), "s:1".into()]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 1);
        let es = &out[0].1;
        assert_eq!(es[0].body, Body::Envelope(b"ENV".to_vec()));
        assert_eq!(es[1].body, Body::Foreign(b"foo=bar ".to_vec()));
        assert_eq!(es[2], RawEntry { id: EntryId { ms: 1, seq: 3 }, body: Body::Deleted });
        assert_eq!(es[3].body, Body::Batch(b"FRAME".to_vec()));
        assert!(read_reply(Value::Nil, &[]).unwrap().is_empty());
    }

    #[test]
    fn parses_resp3_maps() {
        let reply = Value::Map(vec![(
            bulk("s:0"),
            Value::Array(vec![Value::Array(vec![bulk("5-0"), Value::Map(vec![(bulk("e"), bulk("X"))])])]),
        )]);
        let out = read_reply(reply, &["s:0".into()]).unwrap();
        assert_eq!(out[0].1[0].body, Body::Envelope(b"X".to_vec()));
    }

    #[test]
    fn parses_autoclaim_and_xinfo() {
        let reply = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![Value::Array(vec![bulk("2-0"), Value::Array(vec![bulk("e"), bulk("Y")])])]),
            Value::Array(vec![bulk("1-0")]),
        ]);
        let (next, claimed, deleted) = autoclaim_reply(reply).unwrap();
        assert_eq!(next, EntryId::ZERO);
        assert_eq!(claimed.len(), 1);
        assert_eq!(deleted, vec![EntryId { ms: 1, seq: 0 }]);

        let info = Value::Array(vec![
            Value::Array(vec![bulk("name"), bulk("other"), bulk("pending"), Value::Int(9)]),
            Value::Array(vec![bulk("name"), bulk("g"), bulk("pending"), Value::Int(3), bulk("lag"), Value::Int(12)]),
        ]);
        assert_eq!(group_info(info.clone(), "g").unwrap(), Some((Some(12), 3)));
        assert_eq!(group_info(info, "missing").unwrap(), None);
    }

    #[test]
    fn rejects_unknown_shapes_with_the_command_name() {
        let err = read_reply(Value::Int(3), &[]).unwrap_err();
        assert!(err.to_string().contains("XREADGROUP"), "{err}");
        let err =
            read_reply(Value::Array(vec![Value::Array(vec![bulk("zzz"), Value::Nil])]), &["s".into()]).unwrap_err();
        assert!(err.to_string().contains("zzz"), "{err}");
    }
}
