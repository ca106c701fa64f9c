//! The pipeline state machine: reorder → activity → locate → sessionize, on event time.
//!
//! [`Pipeline`] takes pseudonymous observations one at a time (`push`) and emits finished
//! visits and passes. Its whole state serializes (`snapshot`/`restore`), so ingesting a
//! stream in one run or in several, whole or in chunks, gives the same result: the outcome
//! depends only on the sequence of observations. Sweeps that close idle windows and
//! episodes run every [`SWEEP_MS`] of event time. [`Pipeline::provisional`] closes a copy of
//! the state as if the input had ended, for reports between ingests. It takes no wall-clock
//! time and does no I/O.

use crate::activity::{Activity, DayActivity};
use crate::config::PipelineConfig;
use crate::locate::{Fix, Locator, SensorMap, StrongestSensor};
use crate::reorder::Reorder;
use crate::sessionize::{Sessionizer, Sessions};
use footfall_core::time::LocalCalendar;
use footfall_core::{Millis, Observation, Site};
use serde::{Deserialize, Serialize};

/// Event-time interval between sweeps of idle state.
pub const SWEEP_MS: Millis = 10_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    /// Configuration the state was built with; a restore under another one is refused.
    config: PipelineConfig,
    reorder: Reorder,
    locator: Locator,
    sessionizer: Sessionizer,
    next_sweep: Millis,
    processed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("saved pipeline state is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("the saved pipeline state was built with other thresholds; re-ingest from scratch (a new database) to change them")]
    ConfigChanged,
}

/// Visits, passes and activity produced by a run.
pub type PipelineOutput = Sessions;

#[derive(Clone)]
pub struct Pipeline {
    map: SensorMap,
    state: State,
    activity: Activity,
    ready: Vec<Observation>,
    fixes: Vec<Fix>,
}

impl Pipeline {
    pub fn new(site: &Site, config: PipelineConfig) -> Self {
        let state = State {
            reorder: Reorder::new(config.sessionize.lateness_s as Millis * 1000),
            locator: Locator::StrongestSensor(StrongestSensor::new(&config.locate)),
            sessionizer: Sessionizer::new(&config.sessionize),
            next_sweep: Millis::MIN,
            processed: 0,
            config,
        };
        Self::with_state(site, state)
    }

    fn with_state(site: &Site, state: State) -> Self {
        Self {
            map: SensorMap::new(site, &state.config.locate),
            activity: Activity::new(LocalCalendar::new(site.tz())),
            state,
            ready: Vec::new(),
            fixes: Vec::new(),
        }
    }

    /// Continue from a [`Pipeline::snapshot`].
    pub fn restore(site: &Site, config: &PipelineConfig, snapshot: &str) -> Result<Self, RestoreError> {
        let state: State = serde_json::from_str(snapshot)?;
        if &state.config != config {
            return Err(RestoreError::ConfigChanged);
        }
        Ok(Self::with_state(site, state))
    }

    /// The whole state as JSON (activity excluded: take it with [`Pipeline::take_activity`]).
    pub fn snapshot(&self) -> String {
        serde_json::to_string(&self.state).unwrap_or_default()
    }

    pub fn push(&mut self, o: Observation, out: &mut Sessions) {
        self.state.reorder.push(o, &mut self.ready);
        if !self.ready.is_empty() {
            let mut ready = std::mem::take(&mut self.ready);
            for o in ready.drain(..) {
                self.process(o, out);
            }
            self.ready = ready;
        }
    }

    fn process(&mut self, o: Observation, out: &mut Sessions) {
        self.state.processed += 1;
        self.activity.record(&o);
        if o.ts >= self.state.next_sweep {
            self.sweep(o.ts, out);
            self.state.next_sweep = (o.ts.div_euclid(SWEEP_MS) + 1) * SWEEP_MS;
        }
        self.state.locator.push(&self.map, &o, &mut self.fixes);
        for f in self.fixes.drain(..) {
            self.state.sessionizer.push(&f, out);
        }
    }

    fn sweep(&mut self, now: Millis, out: &mut Sessions) {
        self.state.locator.advance(&self.map, now, &mut self.fixes);
        for f in self.fixes.drain(..) {
            self.state.sessionizer.push(&f, out);
        }
        self.state.sessionizer.advance(now, out);
    }

    /// End of input: release and close everything.
    pub fn finish(&mut self, out: &mut Sessions) {
        let mut ready = std::mem::take(&mut self.ready);
        self.state.reorder.finish(&mut ready);
        for o in ready.drain(..) {
            self.process(o, out);
        }
        self.state.locator.finish(&self.map, &mut self.fixes);
        for f in self.fixes.drain(..) {
            self.state.sessionizer.push(&f, out);
        }
        self.state.sessionizer.finish(out);
    }

    /// What finishing now would add, without changing this pipeline.
    pub fn provisional(&self) -> Sessions {
        let mut copy = self.clone();
        let mut out = Sessions::default();
        copy.finish(&mut out);
        out
    }

    /// Activity recorded since the last call.
    pub fn take_activity(&mut self) -> Vec<DayActivity> {
        self.activity.drain()
    }

    pub fn late(&self) -> u64 {
        self.state.reorder.late
    }

    pub fn processed(&self) -> u64 {
        self.state.processed
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.state.config
    }
}
