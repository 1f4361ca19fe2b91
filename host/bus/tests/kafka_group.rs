//! Scale-out: two worker processes in one Kafka consumer group split the
//! partitions and together process every update exactly once, including
//! across the rebalance when one of them leaves mid-stream.
//!
//! The mock cluster runs in this test process and listens on TCP; the workers
//! (`bus-worker`, this crate's binary) connect to it like any Kafka client.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbytron_bus::{EnvelopeId, KafkaBus, KafkaConfig, Publisher, Sequencer};
use common::*;
use rdkafka::mocking::MockCluster;

const PARTITIONS: i32 = 8;

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    out: PathBuf,
    assigned: Arc<Mutex<Vec<i32>>>,
}

impl Worker {
    fn spawn(bootstrap: &str, topic: &str, group: &str, out: PathBuf) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bus-worker"))
            .args(["--bootstrap", bootstrap, "--topic", topic, "--group", group, "--out"])
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn bus-worker");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("worker stdout");
        let assigned = Arc::new(Mutex::new(Vec::new()));
        let latest = assigned.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(list) = line.strip_prefix("assigned ") {
                    *latest.lock().unwrap() = list.split(',').filter_map(|p| p.trim().parse().ok()).collect();
                } else if line == "assigned" {
                    latest.lock().unwrap().clear();
                }
            }
        });
        Worker { child, stdin, out, assigned }
    }

    fn assigned(&self) -> Vec<i32> {
        self.assigned.lock().unwrap().clone()
    }

    fn processed(&self) -> Vec<EnvelopeId> {
        read_ids(&self.out)
    }

    /// Close stdin: the worker finishes its batch, commits, leaves the group and exits.
    fn stop(&mut self) {
        self.stdin.take();
    }

    async fn wait_exit(&mut self) {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "worker exited with {status}");
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "worker did not exit after stdin closed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_ids(path: &Path) -> Vec<EnvelopeId> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line being written right now may be partial; only complete lines count.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    complete.lines().map(|l| l.parse().expect("worker wrote an envelope id")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_split_the_partitions_and_process_every_update_exactly_once() {
    init_logs();
    const N: u64 = 6_000;
    let mock = MockCluster::new(3).expect("mock cluster");
    let topic = unique("scaleout");
    let group = unique("workers");
    mock.create_topic(&topic, PARTITIONS, 1).unwrap();
    let bootstrap = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();

    let mut a = Worker::spawn(&bootstrap, &topic, &group, dir.path().join("a.ids"));
    let mut b = Worker::spawn(&bootstrap, &topic, &group, dir.path().join("b.ids"));

    // The group protocol spreads the partitions over both processes.
    wait_for("both workers to own a disjoint half of the partitions", Duration::from_secs(90), || {
        let (pa, pb) = (a.assigned(), b.assigned());
        let all: HashSet<i32> = pa.iter().chain(&pb).copied().collect();
        !pa.is_empty()
            && !pb.is_empty()
            && pa.len() + pb.len() == PARTITIONS as usize
            && all.len() == PARTITIONS as usize
    })
    .await;

    let bus = KafkaBus::connect(KafkaConfig {
        bootstrap_servers: bootstrap.clone(),
        topic: topic.clone(),
        partitions: PARTITIONS,
        linger_ms: 1,
        ..KafkaConfig::default()
    })
    .await
    .unwrap();
    let publisher = bus.publisher().unwrap();
    let mut seq = Sequencer::new("scaleout-test");
    let published: Vec<_> = updates(N, 200).into_iter().map(|u| seq.seal(u, 0)).collect();
    let (first, second) = published.split_at(N as usize / 2);

    publisher.publish(first.to_vec()).await.unwrap();
    wait_for("the first half processed", Duration::from_secs(90), || {
        a.processed().len() + b.processed().len() >= first.len()
    })
    .await;
    let (a_share, b_share) = (a.processed().len(), b.processed().len());
    assert!(a_share > 0 && b_share > 0, "both processes take a share: a={a_share} b={b_share}");

    // Worker b leaves mid-stream: it commits what it processed, the group moves
    // its partitions to a, and a resumes exactly after b's last commit.
    b.stop();
    publisher.publish(second.to_vec()).await.unwrap();
    b.wait_exit().await;
    wait_for("a to own every partition", Duration::from_secs(90), || a.assigned().len() == PARTITIONS as usize).await;
    wait_for("every update processed", Duration::from_secs(90), || {
        a.processed().len() + b.processed().len() >= published.len()
    })
    .await;
    // Anything processed twice would land after the count was reached.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.stop();
    a.wait_exit().await;

    let (ids_a, ids_b) = (a.processed(), b.processed());
    let union = assert_unique(ids_a.iter().chain(&ids_b).copied());
    let expected: HashSet<EnvelopeId> = published.iter().map(|e| e.id).collect();
    assert_eq!(union, expected, "the union of what both processed is exactly what was published");
    assert!(!ids_a.is_empty() && !ids_b.is_empty());
}
