//! A Kafka consumer-group member that records what it processes: the second
//! process of the scale-out test (tests/kafka_group.rs), and a quick way to
//! watch a live topic.
//!
//! ```text
//! bus-worker --bootstrap HOST:PORT --topic TOPIC --group GROUP --out FILE
//! ```
//!
//! Appends the envelope id of every update it processes to FILE (one per line,
//! written before the ack), prints `assigned <p,p,...>` on stdout after every
//! rebalance, and shuts down cleanly (final commit, leave the group) when its
//! stdin closes or on SIGTERM / Ctrl-C.

use std::fs::OpenOptions;
use std::io::Write;

use anyhow::{Context, bail};
use arbytron_bus::{ConsumeOptions, Deduplicator, Envelope, KafkaBus, KafkaConfig, run_consumer};
use arbytron_telemetry::{LogFormat, init_logging};
use tokio_util::sync::CancellationToken;

struct Args {
    bootstrap: String,
    topic: String,
    group: String,
    out: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let (mut bootstrap, mut topic, mut group, mut out) = (None, None, None, None);
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--bootstrap" => &mut bootstrap,
            "--topic" => &mut topic,
            "--group" => &mut group,
            "--out" => &mut out,
            other => {
                bail!("unknown argument {other:?}; usage: bus-worker --bootstrap H:P --topic T --group G --out FILE")
            }
        };
        *slot = Some(it.next().with_context(|| format!("{flag} needs a value"))?);
    }
    Ok(Args {
        bootstrap: bootstrap.context("--bootstrap is required")?,
        topic: topic.context("--topic is required")?,
        group: group.context("--group is required")?,
        out: out.context("--out is required")?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging(LogFormat::Human, &std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()));
    let args = parse_args()?;
    let cfg = KafkaConfig {
        bootstrap_servers: args.bootstrap,
        topic: args.topic,
        group: args.group,
        client_id: format!("bus-worker-{}", std::process::id()),
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        poll_timeout_ms: 100,
        ..KafkaConfig::default()
    };
    let bus = KafkaBus::connect(cfg).await.context("connecting to kafka")?;
    let consumer = bus.consumer().await.context("joining the consumer group")?;

    let mut assignment = consumer.assignment();
    tokio::spawn(async move {
        while assignment.changed().await.is_ok() {
            let parts: Vec<String> = assignment.borrow_and_update().iter().map(i32::to_string).collect();
            println!("assigned {}", parts.join(","));
            if std::io::stdout().flush().is_err() {
                return;
            }
        }
    });

    let shutdown = CancellationToken::new();
    let on_eof = shutdown.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(std::io::Read::read(&mut stdin, &mut buf), Ok(n) if n > 0) {}
        on_eof.cancel();
    });
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        on_signal.cancel();
    });

    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.out)
        .with_context(|| format!("opening {}", args.out))?;
    let handler = move |env: Envelope| std::future::ready(writeln!(&out, "{}", env.id));
    let mut dedup = Deduplicator::default();
    let report = run_consumer(Box::new(consumer), &mut dedup, &ConsumeOptions::default(), shutdown, handler).await?;
    eprintln!(
        "bus-worker: processed {} duplicates {} rejected {}",
        report.processed, report.duplicates, report.consumer.rejected
    );
    Ok(())
}
