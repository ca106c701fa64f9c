//! Activity: when each device was heard, per local day, for the exclusion rules.
//!
//! For every (device, local day) [`Activity`] keeps the set of local hours the device was
//! heard in (a 24-bit mask) and its first and last observation. Records merge commutatively
//! (OR of masks, min/max of times), so runs and chunks can be merged in any order. This
//! module only records; `exclude` decides.

use footfall_core::time::{LocalCalendar, LocalDay};
use footfall_core::{DeviceId, Millis, Observation};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayActivity {
    pub device: DeviceId,
    pub day: LocalDay,
    pub hours_mask: u32,
    pub first: Millis,
    pub last: Millis,
    pub randomized: bool,
}

impl DayActivity {
    pub fn merge(&mut self, o: &DayActivity) {
        self.hours_mask |= o.hours_mask;
        self.first = self.first.min(o.first);
        self.last = self.last.max(o.last);
    }
    pub fn hours(&self) -> u32 {
        self.hours_mask.count_ones()
    }
}

#[derive(Clone)]
pub struct Activity {
    cal: LocalCalendar,
    days: FxHashMap<(DeviceId, LocalDay), DayActivity>,
    /// The record being updated, kept out of the map while the same device keeps coming.
    current: Option<DayActivity>,
}

impl Activity {
    pub fn new(cal: LocalCalendar) -> Self {
        Self { cal, days: FxHashMap::default(), current: None }
    }

    pub fn record(&mut self, o: &Observation) {
        let (day, hour) = self.cal.day_hour(o.ts);
        let fresh = DayActivity { device: o.device, day, hours_mask: 1 << hour, first: o.ts, last: o.ts, randomized: o.randomized };
        match &mut self.current {
            Some(c) if c.device == o.device && c.day == day => c.merge(&fresh),
            _ => {
                self.flush();
                self.current = Some(fresh);
            }
        }
    }

    fn flush(&mut self) {
        if let Some(c) = self.current.take() {
            self.days.entry((c.device, c.day)).and_modify(|e| e.merge(&c)).or_insert(c);
        }
    }

    /// Take what was recorded so far, in a stable order.
    pub fn drain(&mut self) -> Vec<DayActivity> {
        self.flush();
        let mut v: Vec<DayActivity> = self.days.drain().map(|(_, a)| a).collect();
        v.sort_by_key(|a| (a.day, a.device));
        v
    }

    /// Drop what was recorded of `device` and not taken yet.
    pub fn forget(&mut self, device: footfall_core::DeviceId) {
        self.flush();
        self.days.retain(|(d, _), _| *d != device);
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty() && self.current.is_none()
    }
}
