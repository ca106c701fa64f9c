//! Event-time reordering with bounded lateness.
//!
//! Observations arrive roughly in time order. [`Reorder`] holds them in one-second buckets
//! until the watermark (newest time seen minus the lateness) has passed a bucket, then
//! releases that bucket sorted by time. An observation older than what was already released
//! is late: dropped and counted. The outcome depends only on the sequence of inputs, so the
//! same stream gives the same output whether it arrives in one piece or many, and the state
//! survives `snapshot`/`restore` through serde.

use footfall_core::{Millis, Observation};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reorder {
    lateness: Millis,
    newest: Millis,
    /// Everything before this was released; older arrivals are late.
    released: Millis,
    /// One-second buckets in increasing key order.
    buckets: VecDeque<(i64, Vec<Observation>)>,
    pub late: u64,
    /// Emptied bucket vectors, reused for new buckets (their allocations, not their content).
    #[serde(skip)]
    spare: Vec<Vec<Observation>>,
}

/// Emptied bucket vectors kept for reuse, at most.
const SPARE: usize = 64;

impl Reorder {
    pub fn new(lateness: Millis) -> Self {
        Self { lateness, newest: Millis::MIN, released: Millis::MIN, buckets: VecDeque::new(), late: 0, spare: Vec::new() }
    }

    /// Accept one observation; buckets that became ready are appended to `out` whole, each
    /// sorted, in time order (no copy of their observations). Give each bucket's vector back
    /// with [`Reorder::recycle`] once it is consumed.
    pub fn push(&mut self, o: Observation, out: &mut Vec<Vec<Observation>>) {
        if o.ts < self.released {
            self.late += 1;
            return;
        }
        self.hold(o);
        if o.ts > self.newest {
            self.newest = o.ts;
            self.release_until(self.newest.saturating_sub(self.lateness), out);
        }
    }

    fn release_until(&mut self, watermark: Millis, out: &mut Vec<Vec<Observation>>) {
        while let Some((key, _)) = self.buckets.front() {
            let end = (*key + 1) * 1000;
            if end > watermark {
                break;
            }
            let Some((_, mut v)) = self.buckets.pop_front() else { break };
            // A total order, so that ties (one burst heard by several sensors) reach the
            // linker in the same order whatever order they arrived in. Buckets usually arrive
            // in order already; checking is cheaper than sorting.
            let key = |o: &Observation| (o.ts, o.sensor, o.device, o.rssi, o.seq, o.ie);
            // Time and sensor decide almost every pair: one compare of the two packed.
            let head = |o: &Observation| ((o.ts as i128) << 16) | o.sensor as i128;
            if !v.windows(2).all(|w| head(&w[0]) < head(&w[1]) || key(&w[0]) <= key(&w[1])) {
                v.sort_by_key(key);
            }
            out.push(v);
            self.released = end;
        }
    }

    /// Take back a released bucket's vector for reuse (its allocation, not its content).
    pub fn recycle(&mut self, mut v: Vec<Observation>) {
        if self.spare.len() < SPARE {
            v.clear();
            self.spare.push(v);
        }
    }

    /// Release everything held (end of input).
    pub fn finish(&mut self, out: &mut Vec<Vec<Observation>>) {
        self.release_until(Millis::MAX, out);
    }

    /// Move held observations to a new site's sensor indexes, dropping removed sensors'.
    pub fn remap_sensors(&mut self, map: &[Option<u16>]) {
        for (_, v) in self.buckets.iter_mut() {
            v.retain_mut(|o| match map.get(o.sensor as usize).copied().flatten() {
                Some(n) => {
                    o.sensor = n;
                    true
                }
                None => false,
            });
        }
    }

    /// Everything before this time has been released (processed) or counted late.
    pub fn released(&self) -> Millis {
        self.released
    }

    /// Hold an observation again after a restore whose snapshot left the held ones out
    /// (they were accepted before, so no lateness check and no release here). Observations
    /// before [`Reorder::released`] were processed already and are ignored.
    pub fn rehold(&mut self, o: Observation) {
        if o.ts >= self.released {
            self.hold(o);
        }
    }

    /// Put `o` in its one-second bucket (usually the newest one).
    fn hold(&mut self, o: Observation) {
        let key = o.ts.div_euclid(1000);
        match self.buckets.back_mut() {
            Some((k, v)) if *k == key => v.push(o),
            Some((k, _)) if *k > key => {
                let i = self.buckets.partition_point(|(k, _)| *k < key);
                match self.buckets.get_mut(i) {
                    Some((k, v)) if *k == key => v.push(o),
                    _ => {
                        let v = self.bucket_with(o);
                        self.buckets.insert(i, (key, v));
                    }
                }
            }
            _ => {
                let v = self.bucket_with(o);
                self.buckets.push_back((key, v));
            }
        }
    }

    fn bucket_with(&mut self, o: Observation) -> Vec<Observation> {
        let mut v = self.spare.pop().unwrap_or_default();
        v.push(o);
        v
    }

    /// Take the held observations out (to snapshot without them), to be put back with
    /// [`Reorder::put_back`].
    pub fn take_held(&mut self) -> VecDeque<(i64, Vec<Observation>)> {
        std::mem::take(&mut self.buckets)
    }

    pub fn put_back(&mut self, held: VecDeque<(i64, Vec<Observation>)>) {
        self.buckets = held;
    }

    /// Drop every held observation of `device`; returns how many.
    pub fn forget(&mut self, device: footfall_core::DeviceId) -> usize {
        let before = self.held();
        for (_, v) in self.buckets.iter_mut() {
            v.retain(|o| o.device != device);
        }
        self.buckets.retain(|(_, v)| !v.is_empty());
        before - self.held()
    }

    pub fn held(&self) -> usize {
        self.buckets.iter().map(|(_, v)| v.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::DeviceId;

    fn obs(ts: Millis) -> Observation {
        Observation::basic(ts, 0, DeviceId(1), -50)
    }

    #[test]
    fn sorts_within_lateness_and_drops_later() {
        let mut r = Reorder::new(5_000);
        let mut out = Vec::new();
        // 4_500 is within 5 s of the newest (9_000); 2_500 and 1_500 are not.
        for ts in [1_000, 3_000, 2_000, 9_000, 4_500, 2_500, 20_000, 1_500, 15_000] {
            r.push(obs(ts), &mut out);
        }
        r.finish(&mut out);
        let got: Vec<_> = out.concat().iter().map(|o| o.ts).collect();
        assert_eq!(got, vec![1_000, 2_000, 3_000, 4_500, 9_000, 15_000, 20_000]);
        assert_eq!(r.late, 2);
    }

    #[test]
    fn same_output_across_snapshot() {
        let input: Vec<Millis> = (0..500).map(|i| (i * 7_919) % 3_000 + i * 400).collect();
        let mut one = Reorder::new(3_000);
        let mut a = Vec::new();
        input.iter().for_each(|&t| one.push(obs(t), &mut a));
        one.finish(&mut a);
        let mut two = Reorder::new(3_000);
        let mut b = Vec::new();
        input[..250].iter().for_each(|&t| two.push(obs(t), &mut b));
        let mut two: Reorder = serde_json::from_str(&serde_json::to_string(&two).unwrap()).unwrap();
        input[250..].iter().for_each(|&t| two.push(obs(t), &mut b));
        two.finish(&mut b);
        assert_eq!(a.concat(), b.concat());
        assert_eq!(one.late, two.late);
    }

    #[test]
    fn ties_leave_in_sensor_order_however_they_arrived() {
        // Bursts heard by four sensors, in scrambled sensor order, some a little late.
        let mut input = Vec::new();
        for i in 0..400i64 {
            let ts = i * 250 + if i % 7 == 0 { -900 } else { 0 };
            for s in [2u16, 0, 3, 1] {
                input.push(Observation::basic(ts, (s + i as u16) % 4, DeviceId(i as u64 % 5), -50));
            }
        }
        let mut want = input.clone();
        want.sort_by_key(|o| (o.ts, o.sensor, o.device, o.rssi, o.seq, o.ie));
        let run = |cut: Option<(usize, u8)>| {
            let mut r = Reorder::new(2_000);
            let mut out = Vec::new();
            for (n, &o) in input.iter().enumerate() {
                match cut {
                    Some((at, 0)) if n == at => r = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap(),
                    Some((at, 1)) if n == at => {
                        let held = r.take_held();
                        r.put_back(held);
                    }
                    Some((at, _)) if n == at => r.remap_sensors(&[Some(0), Some(1), Some(2), Some(3)]),
                    _ => {}
                }
                r.push(o, &mut out);
            }
            r.finish(&mut out);
            out.concat()
        };
        assert_eq!(run(None), want);
        for way in 0..3 {
            // Cut after the first two of a burst (sensors 2 then 0): a held bucket is already out
            // of order at the cut.
            assert_eq!(run(Some((802, way))), want, "way {way}");
        }
    }
}
