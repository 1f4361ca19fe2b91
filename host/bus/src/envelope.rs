//! The envelope every bus message travels in, and its MessagePack encoding.
//!
//! Layout (schema version 1), one MessagePack array of nine elements:
//!
//! | # | field           | MessagePack type | meaning                                        |
//! |---|-----------------|------------------|------------------------------------------------|
//! | 0 | magic           | str              | `"arbytron.bus"`: tells our messages from foreign ones |
//! | 1 | version         | uint             | [`SCHEMA_VERSION`]                              |
//! | 2 | id              | bin(16)          | [`EnvelopeId`], big-endian                      |
//! | 3 | source          | str              | who published it (connector / ingest process)  |
//! | 4 | seq             | uint             | the publisher's sequence number (1, 2, ...)     |
//! | 5 | key             | str              | partition key ([`MarketUpdate::partition_key`]) |
//! | 6 | event_ts_ms     | int              | when it happened at the venue (Unix ms)         |
//! | 7 | publish_ts_us   | int              | when it was handed to the broker (Unix µs)      |
//! | 8 | payload         | map              | the [`MarketUpdate`], via rmp-serde             |
//!
//! The header is written and probed with rmp's low-level calls, so a consumer
//! knows from the first few bytes whether a message is ours and which version
//! it is, before paying for the payload. The payload is the model's own serde
//! form, which is externally tagged (`{"book": {...}}`) so that serde decodes
//! it directly: an internally tagged enum goes through a buffer that claims to
//! be human-readable, and `Price`/`Qty`/`Money` (raw integers in binary
//! formats) would come back as whole dollars. `Price`/`Qty` travel as plain
//! integers.

use std::fmt;
use std::str::FromStr;

use arbytron_model::{MarketUpdate, TimestampMs};

use crate::error::BusError;

/// The envelope layout this build writes and reads.
pub const SCHEMA_VERSION: u64 = 1;

/// First element of every envelope.
pub const MAGIC: &str = "arbytron.bus";

const FIELDS_V1: u32 = 9;

/// A message's identity, unique across publishers and stable across retries.
///
/// The high 64 bits are the publishing instance (random per [`crate::Sequencer`]),
/// the low 64 bits its sequence number, so ids never collide between two
/// ingest processes and a retried publish carries the same id as the original.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvelopeId(pub u128);

impl EnvelopeId {
    pub const fn new(instance: u64, seq: u64) -> EnvelopeId {
        EnvelopeId(((instance as u128) << 64) | seq as u128)
    }

    /// The publishing instance.
    pub const fn instance(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// The publisher's sequence number.
    pub const fn seq(self) -> u64 {
        self.0 as u64
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvelopeId({self})")
    }
}

impl FromStr for EnvelopeId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<EnvelopeId, Self::Err> {
        u128::from_str_radix(s.trim(), 16).map(EnvelopeId)
    }
}

/// One market update with the metadata the bus needs to order, deduplicate and time it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub id: EnvelopeId,
    pub source: String,
    pub seq: u64,
    /// Partition key: updates with the same key are delivered in publish order.
    pub key: String,
    /// Venue time of the update (Unix ms); the ingest time for listings, which carry none.
    pub event_ts_ms: i64,
    /// Set by the publisher when the envelope is handed to the broker (Unix µs).
    pub publish_ts_us: i64,
    pub update: MarketUpdate,
}

impl Envelope {
    /// Encode for the wire, stamping `publish_ts_us`.
    pub fn encode_into(&self, publish_ts_us: i64, buf: &mut Vec<u8>) -> Result<(), BusError> {
        use rmp::encode as w;
        let enc = |e: rmp::encode::ValueWriteError<std::io::Error>| BusError::Encode(e.to_string());
        w::write_array_len(buf, FIELDS_V1).map_err(enc)?;
        w::write_str(buf, MAGIC).map_err(enc)?;
        w::write_uint(buf, SCHEMA_VERSION).map_err(enc)?;
        w::write_bin(buf, &self.id.0.to_be_bytes()).map_err(enc)?;
        w::write_str(buf, &self.source).map_err(enc)?;
        w::write_uint(buf, self.seq).map_err(enc)?;
        w::write_str(buf, &self.key).map_err(enc)?;
        w::write_sint(buf, self.event_ts_ms).map_err(enc)?;
        w::write_sint(buf, publish_ts_us).map_err(enc)?;
        encode_payload(&self.update, buf)
    }

    /// Encode into a fresh buffer.
    pub fn encode(&self, publish_ts_us: i64) -> Result<Vec<u8>, BusError> {
        let mut buf = Vec::with_capacity(256);
        self.encode_into(publish_ts_us, &mut buf)?;
        Ok(buf)
    }

    /// Decode a wire message, telling foreign messages and other schema versions apart from corrupt ones.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let header = Header::probe(bytes)?;
        let mut rd = header.rest;
        let malformed = |what: &str| DecodeError::Malformed(what.to_string());
        if header.fields != FIELDS_V1 {
            return Err(DecodeError::Malformed(format!("expected {FIELDS_V1} fields, found {}", header.fields)));
        }
        let id_len = rmp::decode::read_bin_len(&mut rd).map_err(|_| malformed("id is not binary"))?;
        if id_len != 16 || rd.len() < 16 {
            return Err(malformed("id is not 16 bytes"));
        }
        let (id_bytes, rest) = rd.split_at(16);
        let mut id = [0u8; 16];
        id.copy_from_slice(id_bytes);
        rd = rest;
        let (source, rest) = rmp::decode::read_str_from_slice(rd).map_err(|_| malformed("source is not a string"))?;
        rd = rest;
        let seq: u64 = rmp::decode::read_int(&mut rd).map_err(|_| malformed("seq is not an unsigned integer"))?;
        let (key, rest) = rmp::decode::read_str_from_slice(rd).map_err(|_| malformed("key is not a string"))?;
        rd = rest;
        let event_ts_ms: i64 = rmp::decode::read_int(&mut rd).map_err(|_| malformed("event time is not an integer"))?;
        let publish_ts_us: i64 =
            rmp::decode::read_int(&mut rd).map_err(|_| malformed("publish time is not an integer"))?;
        let update = decode_payload(rd)?;
        if update.partition_key() != key {
            return Err(DecodeError::Malformed(format!(
                "key {key:?} does not match the payload's market {}",
                update.market()
            )));
        }
        Ok(Envelope {
            id: EnvelopeId(u128::from_be_bytes(id)),
            source: source.to_string(),
            seq,
            key: key.to_string(),
            event_ts_ms,
            publish_ts_us,
            update,
        })
    }
}

/// Several envelopes in one broker message (a Redis stream entry carries one
/// publish batch's envelopes for its stream): a MessagePack array of `bin`
/// elements, each one encoded envelope. Framing the envelopes as `bin` lets a
/// consumer reject one bad envelope and keep the others.
pub mod batch {
    use super::*;

    /// Append the frame of `envelopes` to `buf`.
    pub fn encode_into<'a>(
        envelopes: impl ExactSizeIterator<Item = &'a Envelope>,
        publish_ts_us: i64,
        scratch: &mut Vec<u8>,
        buf: &mut Vec<u8>,
    ) -> Result<(), BusError> {
        let enc = |e: rmp::encode::ValueWriteError<std::io::Error>| BusError::Encode(e.to_string());
        let n = u32::try_from(envelopes.len()).map_err(|_| BusError::Encode("batch too large".into()))?;
        rmp::encode::write_array_len(buf, n).map_err(enc)?;
        for env in envelopes {
            scratch.clear();
            env.encode_into(publish_ts_us, scratch)?;
            rmp::encode::write_bin(buf, scratch).map_err(enc)?;
        }
        Ok(())
    }

    /// Split a frame into its envelopes' bytes; the frame itself must be well formed.
    pub fn split(bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
        let mut rd = bytes;
        let n = rmp::decode::read_array_len(&mut rd).map_err(|_| DecodeError::Foreign("batch is not an array"))?;
        let mut out = Vec::with_capacity(n.min(65_536) as usize);
        for _ in 0..n {
            let len = rmp::decode::read_bin_len(&mut rd)
                .map_err(|_| DecodeError::Foreign("batch element is not binary"))? as usize;
            if rd.len() < len {
                return Err(DecodeError::Malformed("batch is cut short".into()));
            }
            let (one, rest) = rd.split_at(len);
            out.push(one);
            rd = rest;
        }
        if !rd.is_empty() {
            return Err(DecodeError::Malformed(format!("{} bytes after the batch", rd.len())));
        }
        Ok(out)
    }
}

/// The part of an envelope read before deciding whether to decode the rest.
struct Header<'a> {
    fields: u32,
    rest: &'a [u8],
}

impl<'a> Header<'a> {
    fn probe(bytes: &'a [u8]) -> Result<Header<'a>, DecodeError> {
        let mut rd = bytes;
        let fields =
            rmp::decode::read_array_len(&mut rd).map_err(|_| DecodeError::Foreign("does not start with an array"))?;
        if fields < 2 {
            return Err(DecodeError::Foreign("array too short for a header"));
        }
        let (magic, rest) =
            rmp::decode::read_str_from_slice(rd).map_err(|_| DecodeError::Foreign("first element is not a string"))?;
        if magic != MAGIC {
            return Err(DecodeError::Foreign("first element is not the arbytron magic"));
        }
        rd = rest;
        let version: u64 =
            rmp::decode::read_int(&mut rd).map_err(|_| DecodeError::Malformed("version is not an integer".into()))?;
        if version != SCHEMA_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        Ok(Header { fields, rest: rd })
    }
}

/// Why a message on the bus was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not something an Arbytron publisher wrote (another application's message, or garbage).
    #[error("not an arbytron envelope: {0}")]
    Foreign(&'static str),
    /// An Arbytron envelope of a schema this build does not read (a newer or older publisher).
    #[error("unsupported envelope schema version {found} (this build reads version {SCHEMA_VERSION})")]
    UnsupportedVersion { found: u64 },
    /// Our magic and version, but the body does not decode.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// The broker message has no body at all.
    #[error("message has no body")]
    Empty,
}

impl DecodeError {
    /// The `reason` label of `arbytron_bus_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Foreign(_) | DecodeError::Empty => "foreign",
            DecodeError::UnsupportedVersion { .. } => "version",
            DecodeError::Malformed(_) => "malformed",
        }
    }
}

/// Hot-path updates (books, pools, status) are written with structs as arrays
/// (about half the bytes of maps); listings as maps, because `VenueRefs` skips
/// empty fields and positional decoding would shift. The decoder reads both.
fn encode_payload(update: &MarketUpdate, buf: &mut Vec<u8>) -> Result<(), BusError> {
    let written = match update {
        MarketUpdate::Listing(_) => rmp_serde::encode::write_named(buf, update),
        _ => rmp_serde::encode::write(buf, update),
    };
    written.map_err(|e| BusError::Encode(e.to_string()))
}

fn decode_payload(bytes: &[u8]) -> Result<MarketUpdate, DecodeError> {
    rmp_serde::from_slice(bytes).map_err(|e| DecodeError::Malformed(format!("payload: {e}")))
}

/// Venue time of an update, if it carries one.
pub fn venue_time(update: &MarketUpdate) -> Option<TimestampMs> {
    match update {
        MarketUpdate::Listing(_) => None,
        MarketUpdate::Book { venue_ts, .. }
        | MarketUpdate::Pool { venue_ts, .. }
        | MarketUpdate::Status { venue_ts, .. }
        | MarketUpdate::Feed { venue_ts, .. } => Some(*venue_ts),
    }
}

/// Wall clock in Unix microseconds (publish stamps and latency).
pub fn now_us() -> i64 {
    arbytron_integration::now_us()
}

/// A short, printable sample of a rejected message for the log line.
pub fn sample(bytes: &[u8]) -> String {
    const MAX: usize = 96;
    let head = &bytes[..bytes.len().min(MAX)];
    let mut s: String = String::from_utf8_lossy(head).chars().flat_map(char::escape_debug).collect();
    if bytes.len() > MAX {
        s.push('…');
    }
    s
}

/// Stamps envelopes for one publishing instance: a random instance id and a
/// gapless sequence, so ids are unique across processes and restarts.
#[derive(Debug)]
pub struct Sequencer {
    source: String,
    instance: u64,
    next: u64,
}

impl Sequencer {
    pub fn new(source: impl Into<String>) -> Sequencer {
        Sequencer { source: source.into(), instance: rand::random(), next: 1 }
    }

    /// The random instance id (high half of every [`EnvelopeId`] this sequencer makes).
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// Wrap an update; `now_ms` is used as the event time of listings (they carry no venue time).
    pub fn seal(&mut self, update: MarketUpdate, now_ms: i64) -> Envelope {
        let seq = self.next;
        self.next += 1;
        Envelope {
            id: EnvelopeId::new(self.instance, seq),
            source: self.source.clone(),
            seq,
            key: update.partition_key(),
            event_ts_ms: venue_time(&update).unwrap_or(now_ms),
            publish_ts_us: 0,
            update,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbytron_model::{
        Book, FeeSchedule, FeedState, Level, MarketInfo, MarketKey, MarketStatus, PoolState, Price, Qty, Side, Venue,
        VenueRefs,
    };

    fn lvl(p: &str, q: &str) -> Level {
        Level::new(Price::parse(p).unwrap(), Qty::parse(q).unwrap())
    }

    fn market() -> MarketKey {
        MarketKey::new(Venue::Kalshi, "KXFED-26DEC-T4.00")
    }

    fn all_updates() -> Vec<MarketUpdate> {
        vec![
            MarketUpdate::Book {
                market: market(),
                book: Book { yes_bids: vec![lvl("0.41", "12.5"), lvl("0.4", "3")], yes_asks: vec![lvl("0.4299", "7")] },
                venue_ts: 1_767_000_000_123,
            },
            MarketUpdate::Listing(MarketInfo {
                key: MarketKey::new(Venue::PolymarketClob, "0xabc"),
                event: "fed-decision-december".into(),
                title: "Fed cuts?".into(),
                outcome: "Yes".into(),
                rules: "Resolves YES if ...".into(),
                closes_at: 1_800_000_000_000,
                mutually_exclusive: true,
                status: MarketStatus::Settled { result: Some(Side::No) },
                fee: FeeSchedule::Polymarket { rate_ppm: 20_000, exponent: 1 },
                tick: Price::parse("0.001").unwrap(),
                min_qty: Qty::parse("5").unwrap(),
                refs: VenueRefs { yes_token: Some("123".into()), neg_risk: true, ..VenueRefs::default() },
            }),
            MarketUpdate::Pool {
                market: MarketKey::new(Venue::PolymarketAmm, "0xpool:0"),
                pool: PoolState {
                    address: "0xpool".into(),
                    fee_wad: 20_000_000_000_000_000,
                    balances: vec![u128::MAX, 1_000_000],
                    total_shares: 5,
                    block: 9,
                },
                venue_ts: 7,
            },
            MarketUpdate::Status { market: market(), status: MarketStatus::Paused, venue_ts: 8 },
            MarketUpdate::Feed { market: market(), state: FeedState::Stale, venue_ts: 9 },
        ]
    }

    #[test]
    fn every_update_kind_round_trips_exactly() {
        let mut seq = Sequencer::new("test");
        for u in all_updates() {
            let env = seq.seal(u, 42);
            let bytes = env.encode(1234).unwrap();
            let back = Envelope::decode(&bytes).unwrap();
            assert_eq!(back, Envelope { publish_ts_us: 1234, ..env });
        }
    }

    /// The payload keeps amounts exact: a price one micro-dollar off a whole
    /// cent and a quantity with hundredths survive, as raw integers.
    #[test]
    fn amounts_travel_as_exact_integers() {
        let u = MarketUpdate::Book {
            market: market(),
            book: Book {
                yes_bids: vec![Level::new(Price::from_micros_const(420_001), Qty::from_hundredths(12_345))],
                yes_asks: vec![],
            },
            venue_ts: 1,
        };
        let mut buf = Vec::new();
        encode_payload(&u, &mut buf).unwrap();
        assert_eq!(decode_payload(&buf).unwrap(), u);
        // Externally tagged, structs as arrays: the variant name then the fields.
        assert_eq!(&buf[..6], &[0x81, 0xa4, b'b', b'o', b'o', b'k'], "a one-entry map keyed by the variant");
    }

    #[test]
    fn ids_carry_instance_and_sequence_and_print_as_hex() {
        let id = EnvelopeId::new(0xdead_beef, 7);
        assert_eq!((id.instance(), id.seq()), (0xdead_beef, 7));
        assert_eq!(id.to_string(), "00000000deadbeef0000000000000007");
        assert_eq!(id.to_string().parse::<EnvelopeId>().unwrap(), id);
        let mut s = Sequencer::new("x");
        let a = s.seal(all_updates().remove(3), 0);
        let b = s.seal(all_updates().remove(3), 0);
        assert_eq!((a.seq, b.seq), (1, 2));
        assert_ne!(a.id, b.id);
        assert_ne!(Sequencer::new("x").instance(), Sequencer::new("x").instance());
    }

    #[test]
    fn listing_event_time_is_the_ingest_time() {
        let mut s = Sequencer::new("x");
        let listing = all_updates().remove(1);
        assert_eq!(s.seal(listing, 555).event_ts_ms, 555);
        assert_eq!(s.seal(all_updates().remove(0), 555).event_ts_ms, 1_767_000_000_123);
    }

    #[test]
    fn foreign_messages_are_told_apart() {
        assert_eq!(Envelope::decode(b"").unwrap_err().reason(), "foreign");
        assert_eq!(Envelope::decode(b"{\"hello\":1}").unwrap_err().reason(), "foreign");
        let other_app = rmp_serde::to_vec(&("not.arbytron", 1u8, "x")).unwrap();
        assert!(matches!(Envelope::decode(&other_app), Err(DecodeError::Foreign(_))));
        let json_array = b"[1,2,3]";
        assert_eq!(Envelope::decode(json_array).unwrap_err().reason(), "foreign");
    }

    #[test]
    fn other_versions_are_rejected_by_version() {
        let mut buf = Vec::new();
        rmp::encode::write_array_len(&mut buf, 3).unwrap();
        rmp::encode::write_str(&mut buf, MAGIC).unwrap();
        rmp::encode::write_uint(&mut buf, 2).unwrap();
        rmp::encode::write_str(&mut buf, "future layout").unwrap();
        let err = Envelope::decode(&buf).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedVersion { found: 2 });
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn corrupt_bodies_are_malformed_not_panics() {
        let env = Sequencer::new("t").seal(all_updates().remove(0), 0);
        let bytes = env.encode(1).unwrap();
        for cut in 14..bytes.len() {
            let err = Envelope::decode(&bytes[..cut]).unwrap_err();
            assert_eq!(err.reason(), "malformed", "cut at {cut}: {err}");
        }
        // A key that lies about the payload's market would misroute ordering.
        let mut liar = env.clone();
        liar.key = "kalshi:OTHER".into();
        assert!(matches!(Envelope::decode(&liar.encode(1).unwrap()), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn batches_frame_envelopes_and_isolate_bad_ones() {
        let mut seq = Sequencer::new("b");
        let envs: Vec<Envelope> = all_updates().into_iter().map(|u| seq.seal(u, 0)).collect();
        let (mut scratch, mut buf) = (Vec::new(), Vec::new());
        batch::encode_into(envs.iter(), 77, &mut scratch, &mut buf).unwrap();
        let parts = batch::split(&buf).unwrap();
        assert_eq!(parts.len(), envs.len());
        for (p, e) in parts.iter().zip(&envs) {
            assert_eq!(Envelope::decode(p).unwrap(), Envelope { publish_ts_us: 77, ..e.clone() });
        }
        assert!(matches!(batch::split(b"junk"), Err(DecodeError::Foreign(_))));
        assert!(matches!(batch::split(&buf[..buf.len() - 1]), Err(DecodeError::Malformed(_))));
        let mut extra = buf.clone();
        extra.push(0);
        assert!(matches!(batch::split(&extra), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn samples_are_short_and_printable() {
        let s = sample(&[0xff; 500]);
        assert!(s.chars().count() <= 97 && s.ends_with('…'));
        assert_eq!(sample(b"a\nb"), "a\\nb");
    }
}
