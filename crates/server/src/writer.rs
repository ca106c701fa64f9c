//! Group commit: the one thread that appends to the journal.
//!
//! Request handlers send their pseudonymous batches here and wait. The writer takes every
//! batch that is waiting, gives each the next sequence number, writes them all and fsyncs
//! once, then hands the records to the ingester's [`Backlog`] and answers each handler. So
//! concurrent posts share one fsync, and a handler is answered only after its record is
//! durable. The writer also runs journal compaction when the ingester reports what it has
//! applied. It owns the journal's file handle; it must not parse posts or touch the store.
//!
//! It also deduplicates sensor agents' batches: it holds each agent's high-water mark (the
//! highest batch sequence made durable) and answers a batch at or below it
//! [`Appended::Duplicate`] without appending. Checking and raising the mark happen on this
//! one thread, around the one fsync, so concurrent resends cannot both be stored, and a mark
//! is raised only once its record is durable. See `routes::observations_post` for why
//! that makes every agent batch count exactly once.

use crate::Health;
use crate::journal::{AgentMark, Journal, Record};
use footfall_core::Observation;
use footfall_transforms::filter::DropCounts;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// How many waiting batches one group takes at most.
const MAX_GROUP: usize = 512;
/// Batches that may wait for the writer before senders wait to send.
pub(crate) const CHANNEL: usize = 1024;

/// Records made durable and not yet taken by the ingester, in sequence order.
#[derive(Default)]
pub(crate) struct Backlog {
    records: Mutex<Vec<Record>>,
}

impl Backlog {
    pub(crate) fn push(&self, records: impl IntoIterator<Item = Record>) {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).extend(records);
    }

    /// Records waiting for the ingester (the queue depth).
    pub(crate) fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub(crate) fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A batch to append: what one request accepted.
pub(crate) struct Append {
    /// The record, its sequence number 0 until the writer assigns one.
    pub record: Record,
    /// Its payload, [`journal::prepare`](crate::journal::prepare)d by the request handler.
    pub prepared: Vec<u8>,
    /// Answered once the record is durable (or found to be a duplicate).
    pub reply: oneshot::Sender<Result<Appended, String>>,
}

/// What became of an [`Append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Durable in the journal as this record.
    Stored(u64),
    /// An agent batch at or below its agent's high-water mark: already stored, not again.
    Duplicate,
}

/// The highest durable batch of each sensor agent.
pub(crate) type Marks = HashMap<String, u64>;

/// Raise `marks` by the agent batches of `records` (at startup: what the journal holds).
pub(crate) fn raise_marks<'a>(marks: &mut Marks, records: impl IntoIterator<Item = &'a Record>) {
    for m in records.into_iter().filter_map(|r| r.agent.as_ref()) {
        let e = marks.entry(m.agent.clone()).or_default();
        *e = (*e).max(m.batch);
    }
}

pub(crate) enum Msg {
    Append(Append),
    /// The store holds everything up to this sequence number.
    Applied(u64),
    /// Finish what was sent before, then stop.
    Shutdown,
}

/// Run the writer on its own thread until [`Msg::Shutdown`] or until every sender is gone.
pub(crate) fn spawn(
    mut journal: Journal,
    mut next_seq: u64,
    mut marks: Marks,
    mut rx: mpsc::Receiver<Msg>,
    backlog: Arc<Backlog>,
    health: Arc<Health>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("footfall-journal".into()).spawn(move || {
        let mut group: Vec<Msg> = Vec::with_capacity(MAX_GROUP);
        while let Some(first) = rx.blocking_recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(m) => group.push(m),
                    Err(_) => break,
                }
            }
            let mut records = Vec::new();
            let mut prepared = Vec::new();
            let mut replies = Vec::new();
            let mut duplicates = Vec::new();
            // Marks raised by this group, tentatively: undone if the append fails.
            let before = marks.clone();
            let mut applied = None;
            let mut stop = false;
            for m in group.drain(..) {
                match m {
                    Msg::Append(a) => {
                        if let Some(m) = &a.record.agent {
                            let mark = marks.entry(m.agent.clone()).or_default();
                            if m.batch <= *mark {
                                duplicates.push(a.reply);
                                continue;
                            }
                            *mark = m.batch;
                        }
                        records.push(Record { seq: next_seq, ..a.record });
                        prepared.push(a.prepared);
                        replies.push((next_seq, a.reply));
                        next_seq += 1;
                    }
                    Msg::Applied(seq) => applied = applied.max(Some(seq)),
                    Msg::Shutdown => stop = true,
                }
            }
            if !records.is_empty() {
                match journal.append_prepared(&records, &prepared) {
                    Ok(()) => {
                        backlog.push(records);
                        for (seq, reply) in replies {
                            // A handler that went away (client disconnected) is fine: its
                            // record is durable and will be applied.
                            let _ = reply.send(Ok(Appended::Stored(seq)));
                        }
                        for reply in duplicates.drain(..) {
                            let _ = reply.send(Ok(Appended::Duplicate));
                        }
                    }
                    Err(e) => {
                        tracing::error!("journal append failed: {e}");
                        next_seq -= records.len() as u64;
                        health.journal_ok.store(journal.is_healthy(), Ordering::Relaxed);
                        // A duplicate of a batch in this failed group is not stored either: all
                        // of the group are told to retry.
                        marks = before;
                        for reply in replies.into_iter().map(|(_, r)| r).chain(duplicates.drain(..)) {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
            for reply in duplicates.drain(..) {
                let _ = reply.send(Ok(Appended::Duplicate));
            }
            if let Some(seq) = applied
                && let Err(e) = journal.compact(seq)
            {
                tracing::warn!("journal compaction failed (the records are kept and skipped on recovery): {e}");
            }
            if stop {
                break;
            }
        }
        health.journal_ok.store(false, Ordering::Relaxed);
    })
}

impl Append {
    /// A batch to append: the record is serialized here, by the caller's thread.
    pub(crate) fn new(
        sensors: Vec<String>,
        obs: Vec<Observation>,
        drops: DropCounts,
        agent: Option<AgentMark>,
        reply: oneshot::Sender<Result<Appended, String>>,
    ) -> Append {
        let record = Record { seq: 0, sensors, obs, drops, agent };
        let prepared = crate::journal::prepare(&record);
        Append { record, prepared, reply }
    }
}
