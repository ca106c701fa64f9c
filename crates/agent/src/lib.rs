//! # footfall-agent
//!
//! The sensor agent (`footfall sensor`): it runs on the sensor, reads frames from a
//! [`Source`] (a replayed capture file, or a live interface with the `live` feature),
//! **pseudonymizes them on the sensor** with the deployment key (the same filter and keyed
//! hash as the server's intake), spools batches of pseudonymous observations on disk and
//! ships them to `footfall serve` (`POST /api/v1/ingest/observations`). A raw MAC exists
//! only inside the source's callback: not in a batch, not in the spool, not on the wire,
//! not in a log line.
//!
//! Two threads: the caller's thread captures (a `Source` need not be `Send`) and spools each
//! batch when it reaches `batch_size` observations or `batch_age`; a sender thread posts the
//! oldest spooled batch, deletes it after a 200 (a duplicate included), and otherwise waits
//! with capped exponential backoff (network error, 5xx, 409, 429) or stops with an error
//! (any other 4xx). The sender ends when the capture has ended and the spool is empty, or
//! when told to stop.
//!
//! ## Layout
//! - [`spool`]: the on-disk buffer (atomic batch files, the sequence counter, the agent id).
//! - [`send`]: the HTTP transport, the meaning of answers, backoff and the injected sleep.

pub mod send;
pub mod spool;

use footfall_core::RawObservation;
use footfall_sources::{Source, SourceError, SourceReport};
use footfall_transforms::filter::{self, DropCounts};
use footfall_transforms::wire::{SensorBatch, WireObservation};
use footfall_transforms::{KEY_LEN, Pseudonymizer};
use send::{Backoff, Sent, Sleep, Transport};
use spool::{Spool, SpoolError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Defaults of the command line.
pub const DEFAULT_BATCH_SIZE: usize = 500;
pub const DEFAULT_BATCH_AGE: Duration = Duration::from_millis(2000);
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_secs(1);
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the agent needs besides its source and transport. `Debug` leaves the key out.
#[derive(Clone)]
pub struct AgentConfig {
    pub spool: PathBuf,
    /// This sensor's id in the site; every observation is heard by it.
    pub sensor: String,
    pub key: [u8; KEY_LEN],
    /// Key rotation, as the server's `[privacy] key_epoch_days` (they must agree).
    pub key_epoch_days: Option<u32>,
    /// A batch is spooled when it has this many observations...
    pub batch_size: usize,
    /// ... or when its first observation is this old (wall-clock, checked as frames arrive
    /// and when a live source is idle).
    pub batch_age: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("spool", &self.spool)
            .field("sensor", &self.sensor)
            .field("batch_size", &self.batch_size)
            .field("batch_age", &self.batch_age)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the server refused batch {batch} with {status}: {detail}; the batch stays in the spool")]
    Refused { batch: u64, status: u16, detail: String },
    #[error("invalid agent configuration: {0}")]
    Config(String),
    #[error("the sender thread stopped unexpectedly")]
    Worker,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The capture's report (none when only draining the spool).
    pub source: Option<SourceReport>,
    /// Observations put into batches, and frames dropped by the plausibility filter.
    pub captured: u64,
    pub dropped: DropCounts,
    /// Batches spooled by this run.
    pub spooled: u64,
    /// Batches the server accepted, and how many of them were duplicates.
    pub sent: u64,
    pub duplicates: u64,
    /// Batches still in the spool at the end.
    pub waiting: usize,
}

/// Observations gathered for the next batch.
struct Batcher {
    pseudo: Pseudonymizer,
    obs: Vec<WireObservation>,
    dropped: DropCounts,
    started: Option<Instant>,
}

/// The agent: its spool, shared by the capture and the sender, and a stop flag.
pub struct Agent {
    config: AgentConfig,
    spool: Arc<Mutex<Spool>>,
    stop: Arc<AtomicBool>,
}

impl Agent {
    /// Open the spool (and make the agent id on first use).
    pub fn open(config: AgentConfig) -> Result<Agent, AgentError> {
        if config.sensor.trim().is_empty() {
            return Err(AgentError::Config("the sensor id is empty".into()));
        }
        if config.batch_size == 0 {
            return Err(AgentError::Config("the batch size must be at least 1".into()));
        }
        let spool = Spool::open(&config.spool, config.sensor.trim())?;
        Ok(Agent { config, spool: Arc::new(Mutex::new(spool)), stop: Arc::new(AtomicBool::new(false)) })
    }

    /// This agent's id (from its spool).
    pub fn agent_id(&self) -> String {
        self.lock().agent().to_string()
    }

    /// Batches waiting in the spool.
    pub fn waiting(&self) -> usize {
        self.lock().pending().len()
    }

    /// Set to stop: the sender stops after its current attempt; a live source should stop
    /// reading when it sees it.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Capture from `source` (or, with `None`, only send what is spooled), spool and send,
    /// until the capture has ended and the spool is empty, or the stop flag is set, or the
    /// server refuses a batch.
    pub fn run<T, S>(&self, source: Option<&mut dyn Source>, transport: T, sleep: S) -> Result<Summary, AgentError>
    where
        T: Transport + Send + 'static,
        S: Sleep + Send + 'static,
    {
        let waiting = self.waiting();
        tracing::info!("spool {}: agent {}, {} batches waiting", self.config.spool.display(), self.agent_id(), waiting);
        let (wake_tx, wake_rx) = mpsc::channel::<()>();
        let sender = {
            let spool = self.spool.clone();
            let stop = self.stop.clone();
            let backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max);
            std::thread::Builder::new()
                .name("footfall-agent-send".into())
                .spawn(move || send_loop(&spool, transport, sleep, backoff, &wake_rx, &stop))
                .map_err(|_| AgentError::Worker)?
        };
        let mut summary = Summary::default();
        let captured = match source {
            Some(source) => self.capture(source, &wake_tx, &mut summary),
            None => Ok(()),
        };
        drop(wake_tx);
        if captured.is_err() {
            // Nothing more will be spooled; what is spooled stays for the next run.
            self.stop.store(true, Ordering::Relaxed);
        }
        let sent = sender.join().map_err(|_| AgentError::Worker)?;
        captured?;
        let (sent, duplicates) = sent?;
        summary.sent = sent;
        summary.duplicates = duplicates;
        summary.waiting = self.waiting();
        Ok(summary)
    }

    fn capture(&self, source: &mut dyn Source, wake: &mpsc::Sender<()>, summary: &mut Summary) -> Result<(), AgentError> {
        let mut b = Batcher {
            pseudo: Pseudonymizer::with_rotation(self.config.key, self.config.key_epoch_days),
            obs: Vec::new(),
            dropped: DropCounts::default(),
            started: None,
        };
        let mut failed: Option<SpoolError> = None;
        let mut spooled = 0u64;
        let mut captured = 0u64;
        let mut dropped = DropCounts::default();
        let sensor = self.config.sensor.trim().to_string();
        let mut flush = |b: &mut Batcher, failed: &mut Option<SpoolError>| {
            if failed.is_some() || (b.obs.is_empty() && b.dropped.0.is_empty()) {
                return;
            }
            let observations = std::mem::take(&mut b.obs);
            let batch_dropped = std::mem::take(&mut b.dropped);
            b.started = None;
            let n = observations.len() as u64;
            let agent = self.agent_id();
            let pushed = self.lock().push(|seq| {
                let batch = SensorBatch {
                    agent,
                    batch: seq,
                    sensor: sensor.clone(),
                    observations,
                    dropped: batch_dropped.clone(),
                    key_epoch_days: self.config.key_epoch_days,
                };
                // Plain data serializes into a Vec without fail.
                serde_json::to_vec(&batch).unwrap_or_default()
            });
            match pushed {
                Ok(_) => {
                    spooled += 1;
                    captured += n;
                    dropped.merge(&batch_dropped);
                    let _ = wake.send(());
                }
                Err(e) => *failed = Some(e),
            }
        };
        let (size, age) = (self.config.batch_size, self.config.batch_age);
        let stop = self.stop.clone();
        let due = |b: &Batcher| b.obs.len() >= size || b.started.is_some_and(|t| t.elapsed() >= age);
        let b_cell = std::cell::RefCell::new(&mut b);
        let failed_cell = std::cell::RefCell::new(&mut failed);
        let flush_cell = std::cell::RefCell::new(&mut flush);
        let report = source.run(
            &mut |raw: RawObservation<'_>| {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let mut b = b_cell.borrow_mut();
                match filter::check(&raw) {
                    // The sensor index is the server's business; the batch names the sensor.
                    Ok(()) => {
                        let o = b.pseudo.apply(&raw, 0);
                        b.obs.push(WireObservation::from_observation(&o));
                    }
                    Err(reason) => b.dropped.add(reason, 1),
                }
                if b.started.is_none() {
                    b.started = Some(Instant::now());
                }
                if due(&b) {
                    (flush_cell.borrow_mut())(&mut b, &mut failed_cell.borrow_mut());
                }
            },
            &mut |_| {
                // Called as input is consumed, and by a live source when it is idle: a
                // quiet sensor still ships its last frames within the batch age.
                let mut b = b_cell.borrow_mut();
                if b.started.is_some_and(|t| t.elapsed() >= age) {
                    (flush_cell.borrow_mut())(&mut b, &mut failed_cell.borrow_mut());
                }
            },
        );
        {
            let mut b = b_cell.borrow_mut();
            (flush_cell.borrow_mut())(&mut b, &mut failed_cell.borrow_mut());
        }
        let report = report?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        tracing::info!(
            "capture finished: {} frames read, {captured} observations in {spooled} batches spooled, {} dropped",
            report.records + report.bad + report.skipped.values().sum::<u64>(),
            dropped.total()
        );
        summary.source = Some(report);
        summary.captured = captured;
        summary.spooled = spooled;
        summary.dropped = dropped;
        Ok(())
    }
}

/// The sender: oldest spooled batch first; delete after a 200; back off on a retryable
/// failure; stop on a refusal. Returns (batches accepted, of which duplicates).
fn send_loop<T: Transport, S: Sleep>(
    spool: &Mutex<Spool>,
    mut transport: T,
    mut sleep: S,
    mut backoff: Backoff,
    wake: &mpsc::Receiver<()>,
    stop: &AtomicBool,
) -> Result<(u64, u64), AgentError> {
    let lock = || spool.lock().unwrap_or_else(|e| e.into_inner());
    let (mut sent, mut duplicates) = (0u64, 0u64);
    let mut capture_done = false;
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        let oldest = lock().oldest();
        let Some(seq) = oldest else {
            if capture_done {
                break;
            }
            match wake.recv_timeout(Duration::from_millis(500)) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => capture_done = true,
            }
            continue;
        };
        let body = lock().read(seq)?;
        match transport.post(&body) {
            Sent::Accepted { duplicate } => {
                lock().remove(seq)?;
                sent += 1;
                duplicates += u64::from(duplicate);
                if failing {
                    tracing::info!("the server is reachable again");
                    failing = false;
                }
                backoff.reset();
            }
            Sent::Retry(why) => {
                let wait = backoff.next_wait();
                let waiting = lock().pending().len();
                tracing::warn!("batch {seq} not sent ({why}); {waiting} batches spooled; retrying in {wait:?}");
                failing = true;
                sleep.sleep(wait);
            }
            Sent::Refused { status, detail } => {
                stop.store(true, Ordering::Relaxed);
                return Err(AgentError::Refused { batch: seq, status, detail });
            }
        }
    }
    Ok((sent, duplicates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_sources::jsonl::JsonlSource;
    use std::sync::atomic::AtomicUsize;

    /// A scripted server: answers `Retry` for the first `down` attempts, then accepts, and
    /// keeps every accepted body.
    #[derive(Clone, Default)]
    struct Fake {
        down: Arc<AtomicUsize>,
        refuse: bool,
        got: Arc<Mutex<Vec<SensorBatch>>>,
    }

    impl Transport for Fake {
        fn post(&mut self, body: &[u8]) -> Sent {
            if self.down.load(Ordering::Relaxed) > 0 {
                self.down.fetch_sub(1, Ordering::Relaxed);
                return Sent::Retry("connection refused".into());
            }
            if self.refuse {
                return Sent::Refused { status: 403, detail: "the sensor token is not the configured one".into() };
            }
            let b: SensorBatch = serde_json::from_slice(body).unwrap();
            let mut got = self.got.lock().unwrap();
            let duplicate = got.iter().any(|g| g.batch == b.batch);
            if !duplicate {
                got.push(b);
            }
            Sent::Accepted { duplicate }
        }
    }

    #[derive(Clone, Default)]
    struct Waits(Arc<Mutex<Vec<Duration>>>);

    impl Sleep for Waits {
        fn sleep(&mut self, d: Duration) {
            self.0.lock().unwrap().push(d);
        }
    }

    fn config(dir: &std::path::Path) -> AgentConfig {
        AgentConfig {
            spool: dir.to_path_buf(),
            sensor: "pos1".into(),
            key: [7; KEY_LEN],
            key_epoch_days: None,
            batch_size: 4,
            batch_age: Duration::from_secs(3600),
            backoff_min: Duration::from_millis(1000),
            backoff_max: Duration::from_millis(4000),
        }
    }

    fn lines(n: usize) -> Vec<u8> {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!("{{\"ts\":{},\"sensor\":\"x\",\"mac\":\"00:16:3e:00:00:{:02x}\",\"rssi\":-60}}\n", 1000 + i, i % 3));
        }
        // A group address: dropped on the sensor and counted.
        s.push_str("{\"ts\":9999,\"sensor\":\"x\",\"mac\":\"ff:ff:ff:ff:ff:ff\",\"rssi\":-60}\n");
        s.into_bytes()
    }

    #[test]
    fn batches_wait_in_the_spool_while_the_server_is_down_then_go_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake { down: Arc::new(AtomicUsize::new(5)), ..Fake::default() };
        let waits = Waits::default();
        let agent = Agent::open(config(dir.path())).unwrap();
        let body = lines(10);
        let mut src = JsonlSource::new(&body[..], "t");
        let summary = agent.run(Some(&mut src), fake.clone(), waits.clone()).unwrap();
        assert_eq!((summary.captured, summary.spooled, summary.sent, summary.waiting), (10, 3, 3, 0));
        assert_eq!(summary.dropped.total(), 1);
        let got = fake.got.lock().unwrap();
        assert_eq!(got.iter().map(|b| b.batch).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(got.iter().map(|b| b.observations.len()).collect::<Vec<_>>(), vec![4, 4, 2]);
        assert!(got.iter().all(|b| b.sensor == "pos1" && b.agent == agent.agent_id()));
        assert_eq!(got[2].dropped.total(), 1);
        let ms: Vec<u128> = waits.0.lock().unwrap().iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![1000, 2000, 4000, 4000, 4000]);
        // Nothing of a MAC is in what was sent.
        let all = serde_json::to_string(&*got).unwrap();
        assert!(!all.contains("16:3e") && !all.contains("163e"), "{all}");
        assert!(Spool::open(dir.path(), "pos1").unwrap().pending().is_empty());
    }

    #[test]
    fn a_refusal_stops_the_agent_and_keeps_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake { refuse: true, ..Fake::default() };
        let agent = Agent::open(config(dir.path())).unwrap();
        let body = lines(3);
        let mut src = JsonlSource::new(&body[..], "t");
        let err = agent.run(Some(&mut src), fake, Waits::default()).unwrap_err().to_string();
        assert!(err.contains("refused batch 1 with 403") && err.contains("token"), "{err}");
        drop(agent);
        // The next run sends it (draining only): the batch was kept, and the sequence goes on.
        let fake = Fake::default();
        let agent = Agent::open(config(dir.path())).unwrap();
        let s = agent.run(None, fake.clone(), Waits::default()).unwrap();
        assert_eq!((s.sent, s.waiting), (1, 0));
        assert_eq!(fake.got.lock().unwrap()[0].batch, 1);
        assert_eq!(Spool::open(dir.path(), "pos1").unwrap().next_seq(), 2);
    }

    #[test]
    fn a_duplicate_answer_deletes_the_batch_too() {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::default();
        let agent = Agent::open(config(dir.path())).unwrap();
        // Batch 1 reached the server, but its 200 was lost: it is still spooled.
        let body = lines(3);
        let mut src = JsonlSource::new(&body[..], "t");
        let stopped = Fake { down: Arc::new(AtomicUsize::new(usize::MAX)), ..Fake::default() };
        agent.stop_flag().store(false, Ordering::Relaxed);
        let stop = agent.stop_flag();
        let waits = StopAfter(stop);
        agent.run(Some(&mut src), stopped, waits).unwrap();
        assert_eq!(agent.waiting(), 1);
        let spooled: SensorBatch = serde_json::from_slice(&agent.lock().read(1).unwrap()).unwrap();
        fake.got.lock().unwrap().push(spooled);
        drop(agent);
        let agent = Agent::open(config(dir.path())).unwrap();
        let s = agent.run(None, fake.clone(), Waits::default()).unwrap();
        assert_eq!((s.sent, s.duplicates, s.waiting), (1, 1, 0));
        assert_eq!(fake.got.lock().unwrap().len(), 1);
    }

    /// Sets the stop flag instead of sleeping: "kill" the agent at its first retry.
    struct StopAfter(Arc<AtomicBool>);

    impl Sleep for StopAfter {
        fn sleep(&mut self, _: Duration) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}
