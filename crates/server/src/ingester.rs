//! The background ingester: journal records → pipeline → one store transaction.
//!
//! It owns the [`Store`] connection and the [`Pipeline`] (restored from the store's saved
//! state, as `footfall ingest` does) on a thread of its own, because both are synchronous.
//! Every interval it takes the records the writer made durable, pushes their observations
//! through the pipeline and commits visits, passes, activity, drop counts, the pipeline
//! state **and the last applied journal sequence** in one transaction
//! ([`Store::commit_ingest`] with `journal_seq`). Only then may the journal forget those
//! records. At startup the same code re-applies the records after the stored sequence, so
//! a record is applied exactly once whatever the crash point. The same transaction stores
//! the highest sensor agent batch among the records (`meta` `agent_batch:<id>`), so the
//! writer's deduplication marks outlive the journal's compaction. It must not see HTTP or
//! raw MACs.
//!
//! Opt-outs ([`Cmd::OptOut`]) are executed here because this thread owns the store and the
//! pipeline: the pseudonyms are refused from then on (observations of them in records not yet
//! applied are dropped as `opted_out`), what is waiting is applied, and the device is
//! forgotten in the pipeline and erased from the store with the new pipeline state in one
//! transaction. Retention runs here too, on the injected clock.

use crate::journal::Record;
use crate::live::{Live, PRESENT_WINDOW_MS};
use crate::ops::Ops;
use crate::writer::{Backlog, Msg};
use crate::{Health, ServerError};
use footfall_core::Site;
use footfall_core::clock::Clock;
use footfall_core::{DeviceId, Millis};
use footfall_store::privacy::{Erased, Erasure};
use footfall_store::{IngestBatch, Store};
use footfall_transforms::exclude::{self, Excluded};
use footfall_transforms::filter::{DropCounts, DropReason};
use footfall_transforms::locate::SiteModel;
use footfall_transforms::optout::{self, Refused};
use footfall_transforms::sessionize::Sessions;
use footfall_transforms::{Pipeline, PipelineConfig, Rotation};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The store side of the server: applies records, remembers how far it got.
pub(crate) struct Ingester {
    store: Store,
    /// The site's location model (resolved at startup, then following the stored one), given
    /// to every pipeline restored.
    locate: Option<Arc<SiteModel>>,
    /// The stamp of the database's stored location model `locate` was read from (`Some(None)`:
    /// none stored), checked between batches; `None` when the model was given at start
    /// (`--locate-model`), which is never replaced.
    stored_model: Option<Option<ModelStamp>>,
    site: Site,
    config: PipelineConfig,
    /// `None` after a failed commit: restored from the store before the next attempt.
    pipeline: Option<Pipeline>,
    /// The last journal sequence number committed to the store (0: none yet).
    applied: u64,
    /// Sensor id → index in `site`.
    sensors: HashMap<String, u16>,
    /// Records taken from the backlog whose commit failed, to retry first.
    held: Vec<Record>,
    /// Applied records that may still have observations held for reordering, with their
    /// newest observation time, oldest first. The stored pipeline state leaves those
    /// observations out: after a restore they are given back from here (or, at startup,
    /// from the journal, which keeps every record from the first of these on).
    retained: VecDeque<(Millis, Record)>,
    /// Write the next snapshot whole (held observations included), so the journal can be
    /// compacted completely (a graceful stop).
    whole_snapshot: bool,
    /// The pipeline's released time at the last commit.
    released: Millis,
    live: Arc<Live>,
    ops: Arc<Ops>,
    clock: Arc<dyn Clock>,
    /// Fixed and staff devices (not people in the occupancy), and when they were decided.
    excluded: Excluded,
    excluded_at: Option<Millis>,
    /// Opted-out devices: their observations are dropped when records are applied.
    refused: Refused,
    /// Key rotation of the deployment, to find an opted-out device's rows of every epoch.
    rotation: Option<Rotation>,
    /// Retention (`None`: off) and when it last ran (wall clock).
    retention: Option<footfall_transforms::config::RetentionConfig>,
    retained_at: Option<Millis>,
}

/// The newest observation time of a record.
fn newest(r: &Record) -> Millis {
    r.obs.iter().map(|o| o.ts).max().unwrap_or(Millis::MIN)
}

/// How often (injected wall clock) retention runs in the server.
const RETENTION_INTERVAL_MS: Millis = 60 * 60_000;

/// What tells stored location models apart (`Store::locate_model_stamp`).
type ModelStamp = (i64, String, u64);

/// How often (wall clock) fixed and staff devices are decided again for the occupancy.
const EXCLUDE_REFRESH_MS: Millis = 5 * 60_000;

impl Ingester {
    /// Continue from what the store holds: its pipeline state and applied sequence; every
    /// pipeline it restores places zones with `locate` when given.
    // One call site, each argument one piece of the server's state: a struct would add nothing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Store,
        locate: Option<Arc<SiteModel>>,
        stored_model: Option<Option<ModelStamp>>,
        site: Site,
        config: PipelineConfig,
        live: Arc<Live>,
        ops: Arc<Ops>,
        clock: Arc<dyn Clock>,
        retention: Option<footfall_transforms::config::RetentionConfig>,
        rotation: Option<Rotation>,
    ) -> Result<Self, ServerError> {
        let applied = store.journal_applied()?.unwrap_or(0);
        let mut refused = Refused::new(rotation.clone());
        refused.extend(store.optouts()?);
        let sensors = site.sensors.iter().enumerate().map(|(i, s)| (s.id.clone(), i as u16)).collect();
        let mut me = Ingester {
            store,
            locate,
            stored_model,
            site,
            config,
            pipeline: None,
            applied,
            sensors,
            held: Vec::new(),
            retained: VecDeque::new(),
            whole_snapshot: false,
            released: Millis::MIN,
            live,
            ops,
            clock,
            excluded: Excluded::default(),
            excluded_at: None,
            refused,
            rotation,
            retention,
            retained_at: None,
        };
        let pipeline = me.restore()?;
        // Occupancy as the saved state leaves it, before anything new arrives.
        me.publish_live(&pipeline, &[]);
        me.released = pipeline.released();
        me.pipeline = Some(pipeline);
        Ok(me)
    }

    /// The pipeline as the store left it, with the held observations of the retained
    /// records given back (except those of opted-out devices).
    fn restore(&self) -> Result<Pipeline, ServerError> {
        let mut p = match self.store.pipeline_state()? {
            Some(state) => Pipeline::restore(&self.site, &self.config, &state)?,
            None => Pipeline::new(&self.site, self.config.clone()),
        };
        p.set_locate_model(self.locate.clone());
        for (_, r) in &self.retained {
            let local = self.local_sensors(r);
            for o in r.obs.iter().filter(|o| !self.refused.has(o.device, o.ts)) {
                if let Some(sensor) = local.get(o.sensor as usize).copied().flatten() {
                    p.rehold(footfall_core::Observation { sensor, ..*o });
                }
            }
        }
        Ok(p)
    }

    /// A record's sensor names as this site's indexes.
    fn local_sensors(&self, r: &Record) -> Vec<Option<u16>> {
        r.sensors.iter().map(|id| self.sensors.get(id).copied()).collect()
    }

    /// At startup: take back the journal's records that the stored state left out (from
    /// `journal_replay_from` up to the applied sequence), before anything new is applied.
    pub(crate) fn resume(&mut self, recovered: &[Record]) -> Result<(), ServerError> {
        let from = self.store.journal_replay_from()?.unwrap_or(self.applied + 1);
        self.retained = recovered.iter().filter(|r| (from..=self.applied).contains(&r.seq)).map(|r| (newest(r), r.clone())).collect();
        if !self.retained.is_empty() {
            let pipeline = self.restore()?;
            self.released = pipeline.released();
            self.pipeline = Some(pipeline);
        }
        Ok(())
    }

    /// Journal records at or below this may be dropped: applied, and none of their
    /// observations is still held.
    pub(crate) fn compactable(&self) -> u64 {
        self.retained.front().map_or(self.applied, |(_, r)| r.seq - 1)
    }

    pub(crate) fn applied(&self) -> u64 {
        self.applied
    }

    /// The opted-out master pseudonyms (for the intake).
    pub(crate) fn refused(&self) -> Vec<DeviceId> {
        self.refused.masters()
    }

    /// Refuse `ids` from now on (before the waiting records are applied).
    pub(crate) fn refuse(&mut self, ids: &[DeviceId]) {
        self.refused.extend(ids.iter().copied());
    }

    /// Forget `ids` in the pipeline and erase them from the store, registering them as
    /// opted out, in one transaction with the new pipeline state.
    pub(crate) fn opt_out(&mut self, masters: &[DeviceId]) -> Result<Erased, ServerError> {
        self.refuse(masters);
        // With key rotation, the rows of every epoch of the stored data (and now's).
        let now = self.clock.now_ms();
        let (from, to) = self.store.device_time_span()?.map_or((now, now), |(a, b)| (a.min(now), b.max(now)));
        let ids = &optout::erasure_ids(masters, self.rotation.clone(), from, to)[..];
        let mut pipeline = match self.pipeline.take() {
            Some(p) => p,
            None => self.restore()?,
        };
        let open: usize = ids.iter().map(|id| pipeline.forget(*id).total()).sum();
        // Like every commit here, without the held observations: the retained journal
        // records give them back after a restart, minus the refused devices (see `restore`).
        let state = pipeline.snapshot_without_held();
        let app = self.store.app_state()?.and_then(|s| footfall_transforms::geofence::AppTracker::forget_in_snapshot(&s, ids));
        let result = self.store.erase_devices(Erasure {
            devices: ids,
            pipeline_state: Some(&state),
            app_state: app.as_ref().map(|a| a.0.as_str()),
            open_state: (open + app.as_ref().map_or(0, |a| a.1)) as u64,
            register_ms: Some(now),
            registry: masters,
        });
        match result {
            Ok(erased) => {
                for id in ids {
                    self.excluded.fixed.remove(id);
                    self.excluded.staff.remove(id);
                }
                self.publish_live(&pipeline, &[]);
                self.pipeline = Some(pipeline);
                Ok(erased)
            }
            // The pipeline forgot what the store still has: start over from the store.
            Err(e) => Err(e.into()),
        }
    }

    /// Delete what is older than the retention periods, at most once per interval of the
    /// injected clock. Returns what was deleted, when it ran.
    pub(crate) fn retain(&mut self) -> Result<Option<footfall_store::privacy::Retained>, ServerError> {
        let Some(r) = self.retention else { return Ok(None) };
        let now = self.clock.now_ms();
        if self.retained_at.is_some_and(|t| now - t < RETENTION_INTERVAL_MS) {
            return Ok(None);
        }
        let (visits_before, passes_before) = r.cutoffs(now);
        let done = self.store.apply_retention(visits_before, passes_before)?;
        self.retained_at = Some(now);
        Ok(Some(done))
    }

    /// Apply `records` (those at or below the applied sequence are skipped) and whatever
    /// is held from a failed attempt, in one transaction. With `always`, commit even when
    /// there is nothing to apply (to store a new site). Returns the new applied sequence
    /// when something was committed.
    pub(crate) fn apply(&mut self, records: Vec<Record>, always: bool) -> Result<Option<u64>, ServerError> {
        let mut todo = std::mem::take(&mut self.held);
        todo.extend(records.into_iter().filter(|r| r.seq > self.applied));
        if todo.is_empty() && !always {
            return Ok(None);
        }
        let newest_ts: Vec<Millis> = todo.iter().map(newest).collect();
        let result = self.commit(&todo, &newest_ts);
        match &result {
            Ok(_) if self.whole_snapshot => self.retained.clear(),
            Ok(_) => {
                self.retained.extend(newest_ts.into_iter().zip(todo));
                while self.retained.front().is_some_and(|(n, _)| *n < self.released) {
                    self.retained.pop_front();
                }
            }
            Err(_) => {
                // The pipeline has seen records the store has not: start over from the store.
                self.pipeline = None;
                self.held = todo;
            }
        }
        result
    }

    /// Apply and commit `todo`; `newest_ts[i]` is the newest observation time of `todo[i]`.
    fn commit(&mut self, todo: &[Record], newest_ts: &[Millis]) -> Result<Option<u64>, ServerError> {
        let mut pipeline = match self.pipeline.take() {
            Some(p) => p,
            None => self.restore()?,
        };
        let mut sessions = Sessions::default();
        let mut drops = DropCounts::default();
        let late_before = pipeline.late();
        for r in todo {
            drops.merge(&r.drops);
            // The record names its sensors; map them to this site's indexes.
            let local = self.local_sensors(r);
            for o in &r.obs {
                if self.refused.has(o.device, o.ts) {
                    drops.add(DropReason::OptedOut, 1);
                    continue;
                }
                match local.get(o.sensor as usize).copied().flatten() {
                    Some(sensor) => pipeline.push(footfall_core::Observation { sensor, ..*o }, &mut sessions),
                    None => drops.add(DropReason::UnknownSensor, 1),
                }
            }
        }
        drops.add(DropReason::Late, pipeline.late() - late_before);
        let activity = pipeline.take_activity();
        let presence = pipeline.take_presence();
        let seq = todo.last().map(|r| r.seq).unwrap_or(self.applied);
        // The first record (retained, then this batch) that may still have observations held.
        let released = pipeline.released();
        let first_held = self
            .retained
            .iter()
            .map(|(n, r)| (*n, r.seq))
            .chain(newest_ts.iter().zip(todo).map(|(n, r)| (*n, r.seq)))
            .find(|(n, _)| *n >= released);
        let (state, replay_from) = if self.whole_snapshot {
            (pipeline.snapshot(), seq + 1)
        } else {
            (pipeline.snapshot_without_held(), first_held.map_or(seq + 1, |(_, s)| s))
        };
        sessions.sort();
        let mut marks = crate::writer::Marks::new();
        crate::writer::raise_marks(&mut marks, todo);
        let agent_batches: Vec<(String, u64)> = marks.into_iter().collect();
        self.store.commit_ingest(IngestBatch {
            site: &self.site,
            files: &[],
            sessions: &sessions,
            activity: &activity,
            presence: &presence,
            drops: &drops,
            pipeline_state: &state,
            now_ms: self.clock.now_ms(),
            journal_seq: (seq > 0).then_some(seq),
            journal_replay_from: Some(replay_from),
            agent_batches: &agent_batches,
        })?;
        self.released = released;
        self.publish_live(&pipeline, todo);
        self.pipeline = Some(pipeline);
        self.applied = seq;
        Ok(Some(seq))
    }

    /// After a commit: who is present now, which sensors were heard, and the metrics.
    fn publish_live(&mut self, pipeline: &Pipeline, applied: &[Record]) {
        let now = self.clock.now_ms();
        if self.excluded_at.is_none_or(|t| now - t >= EXCLUDE_REFRESH_MS) {
            match self.store.activity() {
                Ok(days) => {
                    self.excluded = exclude::decide(&self.config.exclude, &days);
                    self.excluded_at = Some(now);
                }
                Err(e) => tracing::warn!("reading device activity for the occupancy: {e}"),
            }
        }
        self.live.heard(applied.iter().filter(|r| !r.obs.is_empty()).flat_map(|r| r.sensors.iter().map(String::as_str)));
        if let Some((at, presence)) = pipeline.present(PRESENT_WINDOW_MS) {
            self.live.publish(at, &presence, &self.excluded);
            self.ops.last_event_ms.store(at, Ordering::Relaxed);
        }
        self.ops.applied.fetch_add(applied.iter().map(|r| r.obs.len() as u64).sum(), Ordering::Relaxed);
    }

    /// Between batches: when the location model stored in the database changed (`footfall
    /// locate train --db` or `footfall locate remove` while serving), place zones with the new
    /// one (or the strongest-sensor rule) from the next batch on; open windows carry over. A
    /// stored model that cannot be used for this site is reported once and the previous one
    /// kept.
    pub(crate) fn follow_stored_model(&mut self) {
        let Some(current) = &self.stored_model else { return };
        let stamp = match self.store.locate_model_stamp() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("checking the stored location model: {e}");
                return;
            }
        };
        if stamp == *current {
            return;
        }
        self.stored_model = Some(stamp.clone());
        match crate::site_model(&self.store, &self.site, None) {
            Ok(model) => {
                match &stamp {
                    Some((_, source, samples)) => {
                        tracing::info!("location model reloaded from the database ({samples} fingerprints from {source})")
                    }
                    None => tracing::info!("location model removed from the database: zones follow the strongest sensor"),
                }
                self.locate = model.clone();
                if let Some(p) = &mut self.pipeline {
                    p.set_locate_model(model);
                }
            }
            Err(e) => {
                tracing::error!("the location model stored in the database changed but cannot be used ({e}); keeping the previous one")
            }
        }
    }

    /// Wall-clock checks between batches (silent sensors).
    pub(crate) fn tick(&self) {
        self.live.check_silence();
    }
}

pub(crate) enum Cmd {
    /// Stop; with `flush`, apply what is waiting first. Answered when done.
    Stop { flush: bool, done: oneshot::Sender<Result<(), ServerError>> },
    /// Opt these pseudonyms out: refuse them, apply what is waiting, erase them. Answered
    /// with what was erased.
    OptOut { ids: Vec<DeviceId>, done: oneshot::Sender<Result<Erased, ServerError>> },
}

/// Run the ingester on its own thread: every `interval`, apply the backlog and tell the
/// writer what may be compacted.
pub(crate) fn spawn(
    mut ingester: Ingester,
    interval: Duration,
    backlog: Arc<Backlog>,
    writer: mpsc::Sender<Msg>,
    health: Arc<Health>,
) -> std::io::Result<(std_mpsc::Sender<Cmd>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std_mpsc::channel::<Cmd>();
    let handle = std::thread::Builder::new().name("footfall-ingester".into()).spawn(move || {
        let run = |ingester: &mut Ingester, always: bool| -> Result<(), ServerError> {
            let result = ingester.apply(backlog.take(), always);
            health.store_ok.store(result.is_ok(), Ordering::Relaxed);
            if let Ok(Some(_)) = result {
                // Compaction is an optimisation: if the writer is busy, the next one does it.
                let _ = writer.try_send(Msg::Applied(ingester.compactable()));
            }
            result.map(|_| ())
        };
        loop {
            match rx.recv_timeout(interval) {
                Ok(Cmd::Stop { flush, done }) => {
                    // A graceful stop stores the whole state, so the journal empties.
                    ingester.whole_snapshot = flush;
                    let result = if flush { run(&mut ingester, true) } else { Ok(()) };
                    let _ = done.send(result);
                    return;
                }
                Ok(Cmd::OptOut { ids, done }) => {
                    // Refused first, so the records applied now drop the device too.
                    ingester.refuse(&ids);
                    if let Err(e) = run(&mut ingester, false) {
                        tracing::error!("applying the journal to the database failed (will retry): {e}");
                    }
                    let result = ingester.opt_out(&ids);
                    if let Err(e) = &result {
                        tracing::error!("erasing an opted-out device failed: {e}");
                    }
                    let _ = done.send(result);
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    ingester.tick();
                    ingester.follow_stored_model();
                    if let Err(e) = run(&mut ingester, false) {
                        tracing::error!("applying the journal to the database failed (will retry): {e}");
                    }
                    match ingester.retain() {
                        Ok(Some(r)) if r.visits + r.passes + r.device_days + r.presence_minutes > 0 => tracing::info!(
                            "retention deleted {} visits, {} walk-bys, {} device-days and {} presence minutes past their retention period",
                            r.visits,
                            r.passes,
                            r.device_days,
                            r.presence_minutes
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::error!("applying retention failed (will retry): {e}"),
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
    })?;
    Ok((tx, handle))
}
