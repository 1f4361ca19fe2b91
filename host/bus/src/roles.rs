//! The two process roles, as library calls the binary wires up:
//! [`run_ingest`] (connectors → bus) and [`run_consumer`] (bus → engine).

use std::time::{Duration, Instant};

use arbytron_model::MarketUpdate;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::dedup::Deduplicator;
use crate::envelope::{Envelope, Sequencer, now_us};
use crate::error::{BusError, PublishError};
use crate::{AckToken, Consumer, ConsumerStats, Publisher, metrics};

/// How the ingest loop batches and retries.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// `source` of every envelope: name the ingest process (e.g. `ingest@host-1`).
    pub source: String,
    /// Most updates per publish.
    pub max_batch: usize,
    /// After the first update of a batch, wait up to this long for more (zero: publish what is queued now).
    /// Under load batches fill without waiting; a linger only helps a trickle that must be batched.
    pub linger: Duration,
    /// Retries back off exponentially from 50 ms up to this.
    pub max_backoff: Duration,
    /// On shutdown, keep trying to publish what is already batched for this long.
    pub flush_timeout: Duration,
}

impl Default for IngestOptions {
    fn default() -> IngestOptions {
        IngestOptions {
            source: format!("ingest@{}", crate::config::default_consumer_name()),
            max_batch: 1024,
            linger: Duration::ZERO,
            max_backoff: Duration::from_secs(5),
            flush_timeout: Duration::from_secs(10),
        }
    }
}

/// What an ingest run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub published: u64,
    pub batches: u64,
    /// Publish attempts that failed and were retried.
    pub retries: u64,
    /// Updates given up on at shutdown because the broker stayed unreachable.
    pub abandoned: u64,
}

/// Publish everything `source` yields until it closes or `shutdown` fires.
///
/// Batches are published one at a time and retried unchanged until the broker
/// takes them (same envelope ids, same order), so nothing is lost to a broker
/// restart and per-key order holds; while a batch is being retried, `source`
/// fills up and the connectors feel the backpressure. Returns when `source` is
/// closed and drained, or on `shutdown` after a last flush of what is queued;
/// fails only on a non-transient error (bad configuration, fatal producer error).
pub async fn run_ingest(
    publisher: &dyn Publisher,
    mut source: mpsc::Receiver<MarketUpdate>,
    opts: IngestOptions,
    shutdown: CancellationToken,
) -> Result<IngestReport, BusError> {
    let max = opts.max_batch.max(1);
    let mut seq = Sequencer::new(opts.source.clone());
    let mut report = IngestReport::default();
    loop {
        let mut updates = Vec::with_capacity(max);
        let n = tokio::select! {
            biased;
            _ = shutdown.cancelled() => 0,
            n = source.recv_many(&mut updates, max) => n,
        };
        if n == 0 {
            break;
        }
        if !opts.linger.is_zero() && updates.len() < max {
            let deadline = tokio::time::Instant::now() + opts.linger;
            while updates.len() < max {
                let room = max - updates.len();
                match tokio::time::timeout_at(deadline, source.recv_many(&mut updates, room)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        let batch = seal(&mut seq, updates);
        publish_until_taken(publisher, batch, &opts, &shutdown, &mut report).await?;
    }
    // Whatever the connectors queued before stopping still goes out.
    let mut rest = Vec::new();
    while let Ok(u) = source.try_recv() {
        rest.push(u);
    }
    for chunk in rest.chunks(max) {
        let batch = seal(&mut seq, chunk.to_vec());
        publish_until_taken(publisher, batch, &opts, &shutdown, &mut report).await?;
    }
    tracing::info!(
        published = report.published,
        retries = report.retries,
        abandoned = report.abandoned,
        "ingest stopped"
    );
    Ok(report)
}

fn seal(seq: &mut Sequencer, updates: Vec<MarketUpdate>) -> Vec<Envelope> {
    let now_ms = now_us() / 1000;
    updates.into_iter().map(|u| seq.seal(u, now_ms)).collect()
}

async fn publish_until_taken(
    publisher: &dyn Publisher,
    mut batch: Vec<Envelope>,
    opts: &IngestOptions,
    shutdown: &CancellationToken,
    report: &mut IngestReport,
) -> Result<(), BusError> {
    let n = batch.len() as u64;
    let mut backoff = Duration::from_millis(50);
    let mut give_up_at: Option<Instant> = None;
    loop {
        match publisher.publish(batch).await {
            Ok(()) => {
                report.published += n;
                report.batches += 1;
                return Ok(());
            }
            Err(PublishError { error, unsent }) => {
                if !error.is_transient() {
                    return Err(error);
                }
                report.retries += 1;
                if shutdown.is_cancelled() {
                    let deadline = *give_up_at.get_or_insert_with(|| Instant::now() + opts.flush_timeout);
                    if Instant::now() >= deadline {
                        tracing::error!(count = unsent.len(), %error, "shutting down with updates the broker never took");
                        report.abandoned += unsent.len() as u64;
                        return Ok(());
                    }
                }
                tracing::warn!(count = unsent.len(), %error, retry_in_ms = backoff.as_millis() as u64, "publish failed; retrying the same envelopes");
                batch = unsent;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(opts.max_backoff);
            }
        }
    }
}

/// Processes one envelope for [`run_consumer`]; it is acked after `handle` returns `Ok`.
///
/// Closures `FnMut(Envelope) -> impl Future<Output = Result<(), E>>` are
/// handlers; a stateful engine implements the trait on itself, so its
/// future may borrow `&mut self`:
///
/// ```ignore
/// impl Handler for Engine {
///     type Error = EngineError;
///     fn handle(&mut self, env: Envelope) -> impl Future<Output = Result<(), EngineError>> + Send {
///         async move { self.on_update(env.update).await }
///     }
/// }
/// ```
///
/// Returning `Err` means "not processed": the envelope stays unacknowledged.
pub trait Handler: Send {
    type Error: Into<Box<dyn std::error::Error + Send + Sync>>;

    fn handle(&mut self, envelope: Envelope) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Wait until everything `handle` accepted so far is processed. A handler
    /// that hands updates on (to an engine's queue) must wait here, because
    /// the consumer acknowledges right after: an update acknowledged but
    /// still queued would be lost in a crash.
    fn processed(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async { Ok(()) }
    }
}

impl<F, Fut, E> Handler for F
where
    F: FnMut(Envelope) -> Fut + Send,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Error = E;

    fn handle(&mut self, envelope: Envelope) -> impl Future<Output = Result<(), E>> + Send {
        self(envelope)
    }
}

/// How the consumer loop batches, reports and retries.
#[derive(Clone, Debug)]
pub struct ConsumeOptions {
    /// Most deliveries per poll (per partition).
    pub max_batch: usize,
    /// How often partition lag is read into `arbytron_bus_consumer_lag`.
    pub lag_interval: Duration,
    /// Retries of polls and acks back off exponentially from 50 ms up to this.
    pub max_backoff: Duration,
}

impl Default for ConsumeOptions {
    fn default() -> ConsumeOptions {
        ConsumeOptions { max_batch: 1024, lag_interval: Duration::from_secs(5), max_backoff: Duration::from_secs(5) }
    }
}

/// What a consumer run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumeReport {
    /// Envelopes the handler processed (each exactly once in this process).
    pub processed: u64,
    /// Redeliveries dropped by the deduplicator.
    pub duplicates: u64,
    /// The consumer's own counters (deliveries, broker-flagged redeliveries, rejected, lost).
    pub consumer: ConsumerStats,
}

/// Feed the handler every envelope once, acking after it returns, until `shutdown`.
///
/// For each polled batch: envelopes already processed (per `dedup`) are acked
/// without calling the handler; the others go to the handler in order and are
/// recorded in `dedup` when it returns `Ok`; then the batch is acked in one
/// call. If the handler fails, what it finished is acked, the consumer is
/// closed and the error returned: the failed envelope and the rest of the
/// batch stay unacknowledged and are redelivered to whoever consumes next.
/// Transient bus errors (connection loss, broker restart) are retried with
/// backoff; after a reconnect the consumer re-reads its own pending entries
/// first, and `dedup` drops those the handler already saw.
///
/// Keep `dedup` across consumer restarts within a process (e.g. re-create the
/// consumer after a fatal error but reuse the deduplicator).
pub async fn run_consumer<H: Handler>(
    mut consumer: Box<dyn Consumer>,
    dedup: &mut Deduplicator,
    opts: &ConsumeOptions,
    shutdown: CancellationToken,
    mut handler: H,
) -> Result<ConsumeReport, BusError> {
    let bus = consumer.kind().as_str();
    let consumed = metrics::CONSUMED.with_label_values(&[bus]);
    let duplicates = metrics::DUPLICATES.with_label_values(&[bus]);
    let delivery_seconds = metrics::DELIVERY_SECONDS.with_label_values(&[bus]);
    let mut report = ConsumeReport::default();
    let mut backoff = Backoff::new(opts.max_backoff);
    let mut next_lag = Instant::now();
    while !shutdown.is_cancelled() {
        if Instant::now() >= next_lag {
            next_lag = Instant::now() + opts.lag_interval;
            report_lag(consumer.as_mut(), bus).await;
        }
        let batch = match consumer.poll(opts.max_batch.max(1)).await {
            Ok(b) => {
                backoff.reset();
                b
            }
            Err(e) if e.is_transient() => {
                tracing::warn!(bus, error = %e, "poll failed; retrying");
                backoff.wait(&shutdown).await;
                continue;
            }
            // The producers went away because we are shutting down: not an error.
            Err(_) if shutdown.is_cancelled() => break,
            Err(e) => {
                tracing::error!(bus, error = %e, "poll failed for good; stopping the consumer");
                if let Err(close) = consumer.close().await {
                    tracing::warn!(bus, error = %close, "closing the consumer failed too");
                }
                return Err(e);
            }
        };
        let mut tokens: Vec<AckToken> = Vec::with_capacity(batch.len());
        let mut processed = 0u64;
        let mut failure = None;
        for d in batch {
            let id = d.envelope.id;
            if dedup.is_duplicate(id) {
                report.duplicates += 1;
                duplicates.inc();
                tokens.push(d.token);
                continue;
            }
            let age_us = now_us() - d.envelope.publish_ts_us;
            if age_us >= 0 {
                delivery_seconds.observe(age_us as f64 / 1e6);
            }
            match handler.handle(d.envelope).await {
                Ok(()) => {
                    dedup.record(id);
                    tokens.push(d.token);
                    processed += 1;
                }
                Err(e) => {
                    failure = Some(BusError::Handler(e.into()));
                    break;
                }
            }
        }
        if processed > 0
            && let Err(e) = handler.processed().await
        {
            failure.get_or_insert(BusError::Handler(e.into()));
            // Not processed after all: acknowledge only the duplicates.
            tokens.clear();
            processed = 0;
        }
        ack_until_done(consumer.as_mut(), &tokens, &mut backoff, &shutdown).await?;
        report.processed += processed;
        consumed.inc_by(processed);
        if let Some(err) = failure {
            tracing::error!(bus, error = %err, "handler failed; stopping the consumer, unprocessed updates stay pending");
            if let Err(close) = consumer.close().await {
                tracing::warn!(bus, error = %close, "closing the consumer failed too");
            }
            return Err(err);
        }
    }
    report.consumer = consumer.stats();
    consumer.close().await?;
    Ok(report)
}

async fn ack_until_done(
    consumer: &mut dyn Consumer,
    tokens: &[AckToken],
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
) -> Result<(), BusError> {
    if tokens.is_empty() {
        return Ok(());
    }
    loop {
        match consumer.ack(tokens).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && !shutdown.is_cancelled() => {
                tracing::warn!(bus = consumer.kind().as_str(), error = %e, "ack failed; retrying");
                backoff.wait(shutdown).await;
            }
            // Unacked entries are redelivered later and dropped by the deduplicator.
            Err(e) if e.is_transient() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

async fn report_lag(consumer: &mut dyn Consumer, bus: &str) {
    match consumer.lag().await {
        Ok(parts) => {
            for p in parts {
                let label = p.partition.to_string();
                if let Some(lag) = p.lag {
                    metrics::LAG.with_label_values(&[bus, &label]).set(lag);
                }
                if let Some(pending) = p.pending {
                    metrics::PENDING.with_label_values(&[bus, &label]).set(pending);
                }
            }
        }
        Err(e) => tracing::debug!(bus, error = %e, "could not read consumer lag"),
    }
}

struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const START: Duration = Duration::from_millis(50);

    fn new(max: Duration) -> Backoff {
        Backoff { next: Self::START, max: max.max(Self::START) }
    }

    fn reset(&mut self) {
        self.next = Self::START;
    }

    async fn wait(&mut self, shutdown: &CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(self.next) => {}
        }
        self.next = (self.next * 2).min(self.max);
    }
}
