//! XREADGROUP / XACK / XAUTOCLAIM consumer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Value;
use redis::aio::ConnectionManager;

use crate::config::{RedisConfig, StartFrom};
use crate::envelope::{DecodeError, Envelope, batch};
use crate::error::{BusError, is_nogroup};
use crate::redis::RedisBus;
use crate::redis::reply::{self, Body, EntryId, RawEntry};
use crate::{AckToken, BusKind, Consumer, ConsumerStats, Delivery, PartitionLag, StatCounters, Token};

const BUS: BusKind = BusKind::Redis;

/// One member of the consumer group, reading the configured partitions.
pub struct RedisConsumer {
    cfg: Arc<RedisConfig>,
    name: String,
    /// Blocking reads only, so acks and claims never wait behind a BLOCK.
    read: ConnectionManager,
    ctl: ConnectionManager,
    partitions: Vec<u32>,
    streams: Vec<String>,
    groups_ready: bool,
    /// While re-reading our own pending entries: per stream, the last id seen (`None` once exhausted).
    pending_scan: Option<Vec<Option<EntryId>>>,
    claim_cursors: Vec<EntryId>,
    next_claim: Instant,
    /// Envelopes handed out and not yet acked, per entry: an entry is XACKed
    /// only when all of its envelopes are.
    unacked: HashMap<(usize, EntryId), u32>,
    stats: StatCounters,
}

impl RedisConsumer {
    pub(crate) async fn new(bus: &RedisBus, name: String) -> Result<RedisConsumer, BusError> {
        let cfg = bus.cfg.clone();
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(BusError::Config(format!("redis consumer name {name:?} must be non-empty without spaces")));
        }
        // A blocked read returns after block_ms; leave room for the reply on a busy server.
        let read_timeout = Duration::from_millis(cfg.block_ms + cfg.response_timeout_ms);
        let read = bus.connection(Some(read_timeout)).await?;
        let ctl = bus.connection(None).await?;
        let partitions = cfg.consumed_partitions();
        let streams: Vec<String> = partitions.iter().map(|&p| cfg.stream_name(p)).collect();
        let mut c = RedisConsumer {
            claim_cursors: vec![EntryId::ZERO; streams.len()],
            next_claim: Instant::now(),
            name,
            read,
            ctl,
            partitions,
            streams,
            groups_ready: false,
            pending_scan: None,
            unacked: HashMap::new(),
            stats: StatCounters::default(),
            cfg,
        };
        c.ensure_groups().await?;
        Ok(c)
    }

    /// This consumer's name in the group.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Create the group on every stream (and the stream itself) if missing, then
    /// start over from our own pending entries.
    async fn ensure_groups(&mut self) -> Result<(), BusError> {
        let start = match self.cfg.start {
            StartFrom::Earliest => "0",
            StartFrom::Latest => "$",
        };
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for s in &self.streams {
            pipe.cmd("XGROUP").arg("CREATE").arg(s).arg(&self.cfg.group).arg(start).arg("MKSTREAM");
        }
        let replies: Vec<Value> = pipe.query_async(&mut self.ctl).await?;
        for r in replies {
            if let Value::ServerError(e) = r
                && e.code() != "BUSYGROUP"
            {
                return Err(BusError::Redis(e.into()));
            }
        }
        self.groups_ready = true;
        self.restart_from_pending();
        Ok(())
    }

    fn restart_from_pending(&mut self) {
        self.pending_scan = Some(vec![Some(EntryId::ZERO); self.streams.len()]);
    }

    async fn poll_inner(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        if !self.groups_ready {
            self.ensure_groups().await?;
        }
        if Instant::now() >= self.next_claim {
            let claimed = self.claim_abandoned(max).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
        if self.pending_scan.is_some() {
            let pending = self.read_own_pending(max).await?;
            if !pending.is_empty() {
                return Ok(pending);
            }
        }
        self.read_new(max).await
    }

    /// XAUTOCLAIM on every stream in one round trip: entries another consumer
    /// (or an earlier incarnation of this one) left pending past the idle limit.
    async fn claim_abandoned(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let mut pipe = redis::pipe();
        for (s, cursor) in self.streams.iter().zip(&self.claim_cursors) {
            pipe.cmd("XAUTOCLAIM")
                .arg(s)
                .arg(&self.cfg.group)
                .arg(&self.name)
                .arg(self.cfg.claim_min_idle_ms)
                .arg(*cursor)
                .arg("COUNT")
                .arg(self.count(max));
        }
        let replies: Vec<Value> = pipe.query_async(&mut self.ctl).await?;
        let mut per_stream = Vec::with_capacity(replies.len());
        let mut more = false;
        for (i, r) in replies.into_iter().enumerate() {
            let (next, claimed, deleted) = reply::autoclaim_reply(r)?;
            if !deleted.is_empty() {
                tracing::warn!(stream = %self.streams[i], count = deleted.len(), "pending entries were trimmed before anyone processed them");
                self.stats.lost(BUS, deleted.len() as u64);
            }
            more |= next != EntryId::ZERO;
            self.claim_cursors[i] = next;
            if !claimed.is_empty() {
                tracing::info!(stream = %self.streams[i], count = claimed.len(), consumer = %self.name, "claimed entries left pending by another consumer");
            }
            per_stream.push((i, claimed));
        }
        // Keep sweeping while a scan is unfinished, then rest for the interval.
        self.next_claim =
            if more { Instant::now() } else { Instant::now() + Duration::from_millis(self.cfg.claim_interval_ms) };
        self.deliver(per_stream, true).await
    }

    /// Our own pending entries (delivered to this consumer name but never acked),
    /// oldest first, paging through with an id cursor per stream.
    async fn read_own_pending(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let Some(scan) = self.pending_scan.as_ref() else { return Ok(Vec::new()) };
        let open: Vec<(usize, EntryId)> = scan.iter().enumerate().filter_map(|(i, c)| c.map(|c| (i, c))).collect();
        if open.is_empty() {
            self.pending_scan = None;
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&self.cfg.group).arg(&self.name).arg("COUNT").arg(self.count(max)).arg("STREAMS");
        for (i, _) in &open {
            cmd.arg(&self.streams[*i]);
        }
        for (_, cursor) in &open {
            cmd.arg(*cursor);
        }
        let v: Value = cmd.query_async(&mut self.read).await?;
        let mut per_stream = reply::read_reply(v, &self.streams)?;
        if let Some(scan) = self.pending_scan.as_mut() {
            for (i, _) in &open {
                let last = per_stream.iter().find(|(s, _)| s == i).and_then(|(_, es)| es.last()).map(|e| e.id);
                scan[*i] = last;
            }
        }
        per_stream.retain(|(_, es)| !es.is_empty());
        if per_stream.is_empty() {
            self.pending_scan = None;
        }
        self.deliver(per_stream, true).await
    }

    async fn read_new(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.cfg.group)
            .arg(&self.name)
            .arg("COUNT")
            .arg(self.count(max))
            .arg("BLOCK")
            .arg(self.cfg.block_ms)
            .arg("STREAMS")
            .arg(&self.streams);
        for _ in &self.streams {
            cmd.arg(">");
        }
        let v: Value = cmd.query_async(&mut self.read).await?;
        let per_stream = reply::read_reply(v, &self.streams)?;
        self.deliver(per_stream, false).await
    }

    /// Entries per stream per read: `read_count`, or fewer if the caller wants fewer envelopes.
    fn count(&self, max: usize) -> usize {
        self.cfg.read_count.min(max).max(1)
    }

    /// Decode entries; ack what is not ours (and trimmed leftovers) right away.
    async fn deliver(
        &mut self,
        per_stream: Vec<(usize, Vec<RawEntry>)>,
        redelivered: bool,
    ) -> Result<Vec<Delivery>, BusError> {
        let mut out = Vec::new();
        let mut skip: Vec<(usize, EntryId)> = Vec::new();
        for (i, entries) in per_stream {
            let partition = self.partitions[i];
            for RawEntry { id, body } in entries {
                let before = out.len();
                let token = || AckToken(Token::Redis { partition, id });
                match body {
                    Body::Envelope(bytes) => match Envelope::decode(&bytes) {
                        Ok(envelope) => out.push(Delivery { envelope, redelivered, token: token() }),
                        Err(err) => self.stats.rejected(BUS, &err, &bytes),
                    },
                    Body::Batch(frame) => match batch::split(&frame) {
                        Ok(parts) => {
                            for part in parts {
                                match Envelope::decode(part) {
                                    Ok(envelope) => out.push(Delivery { envelope, redelivered, token: token() }),
                                    Err(err) => self.stats.rejected(BUS, &err, part),
                                }
                            }
                        }
                        Err(err) => self.stats.rejected(BUS, &err, &frame),
                    },
                    Body::Foreign(sample) => self.stats.rejected(
                        BUS,
                        &DecodeError::Foreign("stream entry has no \"e\" or \"b\" field"),
                        &sample,
                    ),
                    Body::Deleted => {
                        self.stats.lost(BUS, 1);
                        tracing::warn!(stream = %self.streams[i], %id, "pending entry was trimmed before it was processed");
                    }
                }
                let delivered = (out.len() - before) as u32;
                if delivered == 0 {
                    // Nothing in it for the handler: done with it now, or it would block the pending list.
                    skip.push((i, id));
                    self.unacked.remove(&(i, id));
                } else {
                    // A re-read (pending list, claim) starts the entry's count afresh.
                    self.unacked.insert((i, id), delivered);
                }
            }
        }
        if !skip.is_empty() {
            self.xack(skip.into_iter()).await?;
        }
        let redelivered_n = if redelivered { out.len() as u64 } else { 0 };
        self.stats.delivered(BUS, out.len() as u64, redelivered_n);
        Ok(out)
    }

    async fn xack(&mut self, ids: impl Iterator<Item = (usize, EntryId)>) -> Result<(), BusError> {
        let mut by_stream: Vec<Vec<EntryId>> = vec![Vec::new(); self.streams.len()];
        for (i, id) in ids {
            by_stream[i].push(id);
        }
        let mut pipe = redis::pipe();
        for (i, ids) in by_stream.iter().enumerate().filter(|(_, ids)| !ids.is_empty()) {
            pipe.cmd("XACK").arg(&self.streams[i]).arg(&self.cfg.group).arg(ids).ignore();
        }
        pipe.query_async::<()>(&mut self.ctl).await?;
        Ok(())
    }

    fn stream_index(&self, partition: u32) -> Option<usize> {
        self.partitions.iter().position(|&p| p == partition)
    }
}

#[async_trait]
impl Consumer for RedisConsumer {
    fn kind(&self) -> BusKind {
        BUS
    }

    async fn poll(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let result = self.poll_inner(max.max(1)).await;
        if let Err(e) = &result {
            if let BusError::Redis(re) = e
                && is_nogroup(re)
            {
                self.groups_ready = false;
            }
            // Whatever a failed read handed us is in our pending list: read it back first.
            self.restart_from_pending();
        }
        result
    }

    async fn ack(&mut self, tokens: &[AckToken]) -> Result<(), BusError> {
        // Count acks per entry first and change nothing until XACK succeeded,
        // so a failed call can be retried with the same tokens.
        let mut per_entry: HashMap<(usize, EntryId), u32> = HashMap::new();
        for t in tokens {
            let (partition, id) = match &t.0 {
                Token::Redis { partition, id } => (*partition, *id),
                other => return Err(BusError::Config(format!("a {other:?} token cannot be acked on Redis"))),
            };
            let Some(i) = self.stream_index(partition) else {
                return Err(BusError::Config(format!("ack for partition {partition} this consumer does not read")));
            };
            *per_entry.entry((i, id)).or_default() += 1;
        }
        // Complete entries (or ones no longer tracked, i.e. already complete) are XACKed.
        let mut done: Vec<(usize, EntryId)> = per_entry
            .iter()
            .filter(|(k, n)| self.unacked.get(k).is_none_or(|left| *left <= **n))
            .map(|(k, _)| *k)
            .collect();
        if !done.is_empty() {
            done.sort_unstable();
            self.xack(done.iter().copied()).await?;
        }
        for (k, n) in per_entry {
            match self.unacked.get_mut(&k) {
                Some(left) if *left > n => *left -= n,
                _ => {
                    self.unacked.remove(&k);
                }
            }
        }
        Ok(())
    }

    async fn lag(&mut self) -> Result<Vec<PartitionLag>, BusError> {
        let mut pipe = redis::pipe();
        for s in &self.streams {
            pipe.cmd("XINFO").arg("GROUPS").arg(s);
        }
        let replies: Vec<Value> = pipe.query_async(&mut self.ctl).await?;
        let mut out = Vec::with_capacity(replies.len());
        for (i, r) in replies.into_iter().enumerate() {
            let (lag, pending) = match reply::group_info(r, &self.cfg.group)? {
                Some((lag, pending)) => (lag, Some(pending)),
                None => (None, None),
            };
            out.push(PartitionLag { partition: self.partitions[i], lag, pending });
        }
        Ok(out)
    }

    async fn close(self: Box<Self>) -> Result<(), BusError> {
        // Nothing to flush: acks are synchronous, and our unacked entries stay
        // in the group's pending list for our next incarnation or XAUTOCLAIM.
        Ok(())
    }

    fn stats(&self) -> ConsumerStats {
        self.stats.snapshot()
    }
}
