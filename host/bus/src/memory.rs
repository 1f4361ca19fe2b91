//! The in-process bus: connectors and engine in one process, no broker.
//!
//! One bounded channel carries decoded envelopes (nothing is serialised), so a
//! publish costs a semaphore acquire and a queue push. One FIFO gives global
//! order, which includes per-key order; one consumer is all an in-process
//! engine needs, so there is nothing to partition. When the channel is full,
//! publishers wait: backpressure reaches the connectors instead of memory
//! growing. Acks exist so callers are bus-agnostic; they cost nothing, and
//! nothing is ever redelivered (a crash loses the process and its queue together).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::config::MemoryConfig;
use crate::envelope::{Envelope, now_us};
use crate::error::{BusError, PublishError};
use crate::{
    AckToken, Bus, BusKind, Consumer, ConsumerStats, Delivery, PartitionLag, Publisher, StatCounters, Token, metrics,
};

/// How long one poll waits, so a consumer loop notices shutdown promptly.
const POLL_WAIT: Duration = Duration::from_millis(200);

type Home = Arc<Mutex<Option<mpsc::Receiver<Envelope>>>>;

/// The in-process bus.
pub struct MemoryBus {
    tx: mpsc::Sender<Envelope>,
    /// The receiving end while no consumer holds it; a consumer returns it when dropped.
    home: Home,
}

impl MemoryBus {
    pub fn new(cfg: &MemoryConfig) -> Result<MemoryBus, BusError> {
        cfg.validate()?;
        let (tx, rx) = mpsc::channel(cfg.capacity);
        Ok(MemoryBus { tx, home: Arc::new(Mutex::new(Some(rx))) })
    }

    pub fn publisher(&self) -> MemoryPublisher {
        MemoryPublisher { tx: self.tx.clone() }
    }

    /// The consumer; only one exists at a time (a second call fails until the first is dropped).
    pub fn consumer(&self) -> Result<MemoryConsumer, BusError> {
        let rx = self.home.lock().map_err(|_| BusError::Closed)?.take();
        match rx {
            Some(rx) => Ok(MemoryConsumer { rx: Some(rx), home: self.home.clone(), stats: StatCounters::default() }),
            None => Err(BusError::Config("the in-process bus has one consumer, and it is taken".into())),
        }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    fn kind(&self) -> BusKind {
        BusKind::Memory
    }

    async fn publisher(&self) -> Result<Arc<dyn Publisher>, BusError> {
        Ok(Arc::new(MemoryBus::publisher(self)))
    }

    async fn consumer(&self) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(MemoryBus::consumer(self)?))
    }
}

#[derive(Clone)]
pub struct MemoryPublisher {
    tx: mpsc::Sender<Envelope>,
}

#[async_trait]
impl Publisher for MemoryPublisher {
    fn kind(&self) -> BusKind {
        BusKind::Memory
    }

    async fn publish(&self, batch: Vec<Envelope>) -> Result<(), PublishError> {
        let started = Instant::now();
        let n = batch.len();
        let mut batch = batch.into_iter();
        while batch.len() > 0 {
            // One permit acquisition per chunk instead of per envelope.
            let chunk = batch.len().min(self.tx.max_capacity());
            let permits = match self.tx.reserve_many(chunk).await {
                Ok(p) => p,
                Err(_) => return Err(PublishError::new(BusError::Closed, batch.collect())),
            };
            let now = now_us();
            for (permit, mut env) in permits.zip(batch.by_ref()) {
                env.publish_ts_us = now;
                permit.send(env);
            }
        }
        metrics::PUBLISHED.with_label_values(&["memory"]).inc_by(n as u64);
        metrics::PUBLISH_SECONDS.with_label_values(&["memory"]).observe(started.elapsed().as_secs_f64());
        Ok(())
    }
}

pub struct MemoryConsumer {
    rx: Option<mpsc::Receiver<Envelope>>,
    home: Home,
    stats: StatCounters,
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        if let (Some(rx), Ok(mut home)) = (self.rx.take(), self.home.lock()) {
            *home = Some(rx);
        }
    }
}

#[async_trait]
impl Consumer for MemoryConsumer {
    fn kind(&self) -> BusKind {
        BusKind::Memory
    }

    async fn poll(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let rx = self.rx.as_mut().ok_or(BusError::Closed)?;
        let mut buf = Vec::with_capacity(max.min(4096));
        match tokio::time::timeout(POLL_WAIT, rx.recv_many(&mut buf, max.max(1))).await {
            Err(_) => return Ok(Vec::new()),
            Ok(0) => return Err(BusError::Closed),
            Ok(_) => {}
        }
        self.stats.delivered(BusKind::Memory, buf.len() as u64, 0);
        Ok(buf
            .into_iter()
            .map(|envelope| Delivery { envelope, redelivered: false, token: AckToken(Token::Memory) })
            .collect())
    }

    async fn ack(&mut self, _tokens: &[AckToken]) -> Result<(), BusError> {
        Ok(())
    }

    async fn lag(&mut self) -> Result<Vec<PartitionLag>, BusError> {
        let queued = self.rx.as_ref().map_or(0, |rx| rx.len() as i64);
        Ok(vec![PartitionLag { partition: 0, lag: Some(queued), pending: Some(0) }])
    }

    async fn close(self: Box<Self>) -> Result<(), BusError> {
        Ok(())
    }

    fn stats(&self) -> ConsumerStats {
        self.stats.snapshot()
    }
}
