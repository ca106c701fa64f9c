//! The fingerprint model: weighted k-nearest neighbours on powed RSSI with the Sørensen
//! (Bray-Curtis) distance, hierarchical building → floor → position, over an inverted index.
//!
//! **Why this model.** With few survey scans per zone, instance-based kNN on a good RSSI
//! representation beats trained classifiers (FIND3's ensemble among them), and it needs no
//! training beyond storing the samples. The powed representation with the Sørensen distance is
//! the best pair in Torres-Sospedra et al. (2015) and needs no tuning per site.
//!
//! **Speed.** Features are quantized to `u16` and every sample keeps its feature sum `S`. For
//! non-negative features `|q - t| = q + t - 2 min(q, t)`, so the Sørensen distance is
//! `1 - 2 M / (S_q + S_t)` with `M = Σ min(q_i, t_i)` over the access points both heard. `M` is
//! accumulated by walking, for each access point the query heard, its posting list (the samples
//! that heard it). A sample that shares no access point with the query is at distance 1 and
//! never touched. Cost grows with the postings of the heard access points, not with the site.
//!
//! **Answer.** The `k` nearest samples vote (weight `1 / (d + 1e-3)`) for the building, then
//! among those in it for the floor; the position is their weighted mean within that floor, and
//! zone probabilities are their normalized weights per zone. This module does no I/O besides
//! (de)serializing itself, and knows nothing of devices or time.

use crate::LocateError;
use crate::fingerprint::{Fingerprint, Label, Sample, Survey};
use crate::repr::Representation;
use serde::{Deserialize, Serialize};

/// The format tag of a saved model.
pub const MODEL_FORMAT: &str = "footfall-locate-model";
pub const MODEL_VERSION: u32 = 1;

const WEIGHT_EPS: f32 = 1e-3;
const SCALE: f32 = 65535.0;

/// What the model is told; saved with it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    #[serde(default)]
    pub repr: Representation,
    /// Neighbours that vote.
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default)]
    pub search: Search,
}

fn default_k() -> usize {
    5
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self { repr: Representation::default(), k: default_k(), search: Search::default() }
    }
}

/// Where the model puts a fingerprint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub building: u16,
    pub floor: i16,
    /// The most probable zone, if the neighbours on that floor name zones.
    pub zone: Option<u32>,
    /// Zone probabilities (descending), from the neighbours on the chosen floor.
    pub zones: Vec<(u32, f32)>,
    /// Weighted mean position of the neighbours on the chosen floor that have one.
    pub pos: Option<(f64, f64)>,
    /// Distance to the nearest sample (0 = identical, 1 = nothing in common).
    pub nearest: f32,
}

/// Reusable buffers for [`Model::estimate`], one per thread.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    acc: Vec<u32>,
    acc16: Vec<u16>,
    hits: Vec<u32>,
    keys: Vec<u64>,
    touched: Vec<u32>,
    query: Vec<(u16, u16)>,
    order: Vec<(u16, u16)>,
    qdense: Vec<u16>,
    best: Vec<(f32, u32)>,
    /// Searches so far, and how many of them fell back to the exhaustive walk (for benchmarks).
    pub searches: u64,
    pub full_walks: u64,
    /// Postings walked and samples checked exactly by the pruned search.
    pub postings: u64,
    pub exact_checks: u64,
}

#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    version: u32,
    config: ModelConfig,
    aps: Vec<String>,
    zones: Vec<String>,
    samples: Vec<(Label, Fingerprint)>,
}

/// A trained model: the survey samples plus their inverted index.
#[derive(Clone, Debug)]
pub struct Model {
    config: ModelConfig,
    aps: Vec<String>,
    zones: Vec<String>,
    labels: Vec<Label>,
    fps: Vec<Fingerprint>,
    sums: Vec<u32>,
    /// Postings per access point (CSR), each list sorted by value, strongest first.
    post_start: Vec<u32>,
    postings: Vec<(u32, u16)>,
    /// The samples' quantized features (CSR) as `(access point, value)`, sorted by access
    /// point, side by side so that an exact check reads one or two cache lines.
    fp_start: Vec<u32>,
    fp: Vec<(u16, u16)>,
    /// The quantized feature of every whole-dBm reading from -128 to 0 (readings are usually
    /// whole dBm), so that a query needs no `powf`.
    lut: Vec<u16>,
}

/// How hard the search works (see [`Model::neighbours`]); saved with the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Strongest access points of the query walked in the first stage.
    pub strong_aps: usize,
    /// Of their postings (sorted by value, strongest first), only values at least the query's
    /// value divided by this are walked: samples that heard the access point about as
    /// strongly as the query, or more.
    pub posting_cut: u16,
    /// Candidates (best partial overlap) whose exact distance is computed.
    pub candidates: usize,
}

impl Search {
    /// Walk every posting: the exact k nearest neighbours.
    pub const EXHAUSTIVE: Search = Search { strong_aps: usize::MAX, posting_cut: u16::MAX, candidates: usize::MAX };
}

impl Default for Search {
    fn default() -> Self {
        Search { strong_aps: 4, posting_cut: 2, candidates: 32 }
    }
}

fn dist(m: u32, qsum: u32, tsum: u32) -> f32 {
    1.0 - 2.0 * m as f32 / (qsum + tsum) as f32
}

/// Keep `best` the `k` smallest `(distance, id)`, sorted.
#[inline]
fn insert_best(best: &mut Vec<(f32, u32)>, k: usize, d: f32, id: u32) {
    if best.len() == k
        && let Some(&(wd, wid)) = best.last()
        && (d > wd || (d == wd && id >= wid))
    {
        return;
    }
    let pos = best.partition_point(|e| (e.0, e.1) < (d, id));
    if best.len() == k {
        best.pop();
    }
    best.insert(pos, (d, id));
}

const LUT_MIN_DBM: i32 = -128;

fn quantize_table(repr: &Representation) -> Vec<u16> {
    (LUT_MIN_DBM..=0).map(|r| quantize(repr, r as f32)).collect()
}

/// [`quantize`] through the table of whole-dBm readings when the reading is one.
#[inline]
fn quantize_with(lut: &[u16], repr: &Representation, rssi: f32) -> u16 {
    let i = rssi as i32 - LUT_MIN_DBM;
    if rssi == rssi.trunc()
        && let Some(&v) = usize::try_from(i).ok().and_then(|i| lut.get(i))
    {
        return v;
    }
    quantize(repr, rssi)
}

fn quantize(repr: &Representation, rssi: f32) -> u16 {
    let v = (repr.feature(rssi) * SCALE).round() as u32;
    v.clamp(1, SCALE as u32) as u16
}

impl Model {
    /// Train on samples over `survey.aps` and `survey.zones`. Samples that heard nothing are
    /// skipped (they cannot be matched).
    pub fn train(config: ModelConfig, survey: &Survey) -> Result<Model, LocateError> {
        Self::train_on(config, survey.aps.clone(), survey.zones.clone(), survey.samples.iter())
    }

    /// Train on a subset of samples (few-shot runs), over the given access points and zones.
    pub fn train_on<'a>(
        config: ModelConfig,
        aps: Vec<String>,
        zones: Vec<String>,
        samples: impl Iterator<Item = &'a Sample>,
    ) -> Result<Model, LocateError> {
        let pairs = samples.filter(|s| !s.fp.is_empty()).map(|s| (s.label, s.fp.clone())).collect();
        Self::build(config, aps, zones, pairs)
    }

    fn build(config: ModelConfig, aps: Vec<String>, zones: Vec<String>, samples: Vec<(Label, Fingerprint)>) -> Result<Model, LocateError> {
        config.repr.validate().map_err(LocateError::Invalid)?;
        if config.search.strong_aps == 0 || config.search.posting_cut == 0 {
            return Err(LocateError::Invalid("search.strong_aps and search.posting_cut must be at least 1".into()));
        }
        if config.k == 0 {
            return Err(LocateError::Invalid("k must be at least 1".into()));
        }
        if aps.len() > u16::MAX as usize {
            return Err(LocateError::Invalid(format!("{} access points; at most {}", aps.len(), u16::MAX)));
        }
        if samples.is_empty() {
            return Err(LocateError::Invalid("no survey sample heard anything: nothing to train on".into()));
        }
        let mut counts = vec![0u32; aps.len() + 1];
        for (l, fp) in &samples {
            if let Some(z) = l.zone
                && z as usize >= zones.len()
            {
                return Err(LocateError::Invalid(format!("zone index {z} but only {} zones", zones.len())));
            }
            for &(a, _) in &fp.0 {
                if a as usize >= aps.len() {
                    return Err(LocateError::Invalid(format!("access point index {a} but only {} access points", aps.len())));
                }
                counts[a as usize + 1] += 1;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let total = counts[aps.len()] as usize;
        let mut fill = counts.clone();
        let lut = quantize_table(&config.repr);
        let mut post_id = vec![0u32; total];
        let mut post_val = vec![0u16; total];
        let mut sums = Vec::with_capacity(samples.len());
        let (mut labels, mut fps) = (Vec::with_capacity(samples.len()), Vec::with_capacity(samples.len()));
        let (mut fp_start, mut fp_q) = (vec![0u32], Vec::with_capacity(total));
        for (i, (l, mut fp)) in samples.into_iter().enumerate() {
            fp = Fingerprint::from_pairs(fp.0);
            let mut sum = 0u32;
            for &(a, r) in &fp.0 {
                let v = quantize_with(&lut, &config.repr, r);
                let slot = &mut fill[a as usize];
                post_id[*slot as usize] = i as u32;
                post_val[*slot as usize] = v;
                *slot += 1;
                sum += v as u32;
                fp_q.push((a, v));
            }
            fp_start.push(fp_q.len() as u32);
            sums.push(sum);
            labels.push(l);
            fps.push(fp);
        }
        let mut postings: Vec<(u32, u16)> = post_id.into_iter().zip(post_val).collect();
        for a in 0..aps.len() {
            postings[counts[a] as usize..counts[a + 1] as usize].sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        }
        Ok(Model { config, aps, zones, labels, fps, sums, post_start: counts, postings, fp_start, fp: fp_q, lut })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    pub fn aps(&self) -> &[String] {
        &self.aps
    }
    pub fn zones(&self) -> &[String] {
        &self.zones
    }
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn ap_index(&self, name: &str) -> Option<u16> {
        self.aps.iter().position(|a| a == name).map(|i| i as u16)
    }

    /// The `k` nearest samples as `(distance, sample)`, nearest first (ties: lower sample
    /// first); fewer when fewer samples share an access point with the query.
    ///
    /// Two stages ([`Search`]): the postings of the query's `strong_aps` strongest access
    /// points, cut to samples that heard them at least `1 / posting_cut` as strongly as the
    /// query did, give candidates ranked by their partial overlap; the best `candidates` of
    /// them get their exact distance (a dense lookup per sample). Every distance returned is
    /// exact; a sample that shares none of the strong access points is not considered, so the
    /// answer can differ from the exhaustive one ([`Search::EXHAUSTIVE`], which walks every
    /// posting). If the first stage finds nothing, the exhaustive walk runs.
    pub fn neighbours<'s>(&self, fp: &Fingerprint, k: usize, s: &'s mut Scratch) -> &'s [(f32, u32)] {
        let qsum = self.prepare(fp, s);
        s.searches += 1;
        if self.config.search == Search::EXHAUSTIVE || !self.two_stage(qsum, k, s) {
            s.full_walks += 1;
            self.full(qsum, k, s);
        }
        &s.best
    }

    /// The plain inverted-index search over every posting (what the pruned one must equal).
    pub fn neighbours_full<'s>(&self, fp: &Fingerprint, k: usize, s: &'s mut Scratch) -> &'s [(f32, u32)] {
        let qsum = self.prepare(fp, s);
        self.full(qsum, k, s);
        &s.best
    }

    fn prepare(&self, fp: &Fingerprint, s: &mut Scratch) -> u32 {
        if s.acc.len() != self.labels.len() {
            s.acc = vec![0; self.labels.len()];
        }
        s.query.clear();
        let mut qsum = 0u32;
        for &(a, r) in &fp.0 {
            if (a as usize) < self.aps.len() {
                let v = quantize_with(&self.lut, &self.config.repr, r);
                s.query.push((a, v));
                qsum += v as u32;
            }
        }
        s.query.sort_unstable_by_key(|q| q.0);
        s.query.dedup_by_key(|q| q.0);
        qsum
    }

    fn full(&self, qsum: u32, k: usize, s: &mut Scratch) {
        s.touched.clear();
        for &(a, qv) in &s.query {
            let (lo, hi) = (self.post_start[a as usize] as usize, self.post_start[a as usize + 1] as usize);
            for &(id, tv) in &self.postings[lo..hi] {
                let slot = &mut s.acc[id as usize];
                if *slot == 0 {
                    s.touched.push(id);
                }
                *slot += qv.min(tv) as u32;
            }
        }
        s.best.clear();
        for &id in &s.touched {
            let m = std::mem::take(&mut s.acc[id as usize]);
            insert_best(&mut s.best, k, dist(m, qsum, self.sums[id as usize]), id);
        }
    }

    /// Exact `M` of the query and one sample, with the query spread out densely in `qdense`.
    fn overlap(&self, qdense: &[u16], id: u32) -> u32 {
        let (lo, hi) = (self.fp_start[id as usize] as usize, self.fp_start[id as usize + 1] as usize);
        self.fp[lo..hi].iter().map(|&(a, tv)| qdense[a as usize].min(tv) as u32).sum()
    }

    /// The two-stage search; false when the first stage found no candidate (then run `full`).
    fn two_stage(&self, qsum: u32, k: usize, s: &mut Scratch) -> bool {
        // Stage 1: the query's strongest access points, and of their postings only the samples
        // that heard them at least half as strongly, give candidates ranked by partial overlap.
        s.order.clear();
        s.order.extend(s.query.iter().map(|&(a, v)| (v, a)));
        s.order.sort_unstable_by(|x, y| y.cmp(x));
        let search = self.config.search;
        let strong = search.strong_aps.min(s.order.len());
        // The partial overlap is summed in a u16 per sample (half the cache footprint of u32):
        // each term is shifted right so that `strong` of them cannot overflow, and is at least
        // 1 so that a touched sample is never 0. The shift loses at most `strong` low bits of
        // a 16-bit sum, which only orders candidates; their distances are computed exactly.
        let shift = usize::BITS - (strong.max(1) - 1).leading_zeros();
        if s.acc16.len() != self.labels.len() {
            s.acc16 = vec![0; self.labels.len()];
            s.hits = vec![0; self.labels.len() + 1];
        }
        let mut n = 0usize;
        for &(qv, a) in &s.order[..strong] {
            let (lo, hi) = (self.post_start[a as usize] as usize, self.post_start[a as usize + 1] as usize);
            let cut = (qv / search.posting_cut).max(1);
            let list = &self.postings[lo..hi];
            // The list is sorted strongest first: the postings at or above the cut are a prefix.
            let end = list.partition_point(|p| p.1 >= cut);
            s.postings += end as u64;
            for &(id, tv) in &list[..end] {
                let slot = &mut s.acc16[id as usize];
                // Branch-free: always write the id, keep it only on the sample's first touch.
                s.hits[n] = id;
                n += (*slot == 0) as usize;
                *slot += (qv.min(tv) >> shift).max(1);
            }
        }
        if n == 0 {
            return false;
        }
        // Rank the touched samples by partial similarity `2 M / (S_q + S_t)` (non-negative, so
        // its bits order like the number) and keep the best `c`, ties to the lower sample: one
        // integer key per sample, so the selection compares plain u64s.
        s.keys.clear();
        for &id in &s.hits[..n] {
            let mp = (std::mem::take(&mut s.acc16[id as usize]) as u32) << shift;
            let sim = 2.0 * mp as f32 / (qsum + self.sums[id as usize]) as f32;
            s.keys.push(((!sim.to_bits() as u64) << 32) | id as u64);
        }
        let c = search.candidates.max(k);
        if s.keys.len() > c {
            s.keys.select_nth_unstable(c - 1);
            s.keys.truncate(c);
        }
        // Stage 2: exact distances of the candidates, against the query spread out densely.
        if s.qdense.len() != self.aps.len() {
            s.qdense = vec![0; self.aps.len()];
        }
        for &(a, v) in &s.query {
            s.qdense[a as usize] = v;
        }
        // Touch every candidate's first cache line before reading any in full: the loads are
        // independent, so the memory system serves them in parallel instead of one by one.
        let mut warm = 0u32;
        for &key in &s.keys {
            let id = key as u32;
            let (lo, hi) = (self.fp_start[id as usize] as usize, self.fp_start[id as usize + 1] as usize);
            warm ^= self.fp[lo..hi].first().map_or(0, |p| p.1 as u32) ^ self.fp[lo..hi].last().map_or(0, |p| p.1 as u32);
        }
        std::hint::black_box(warm);
        s.best.clear();
        for i in 0..s.keys.len() {
            let id = s.keys[i] as u32;
            s.exact_checks += 1;
            let m = self.overlap(&s.qdense, id);
            insert_best(&mut s.best, k, dist(m, qsum, self.sums[id as usize]), id);
        }
        for &(a, _) in &s.query {
            s.qdense[a as usize] = 0;
        }
        true
    }

    /// How much stronger (dB) the query heard the access points it shares with its `k`
    /// nearest samples than those samples did: the median over shared access points of the
    /// difference, for per-device gain calibration. `None` without shared access points.
    pub fn gain_offset(&self, fp: &Fingerprint, s: &mut Scratch) -> Option<f32> {
        let best = self.neighbours(fp, self.config.k, s).to_vec();
        let mut diffs = Vec::new();
        for (_, id) in best {
            let t = &self.fps[id as usize].0;
            for &(a, r) in &fp.0 {
                if let Ok(j) = t.binary_search_by_key(&a, |p| p.0) {
                    diffs.push(r - t[j].1);
                }
            }
        }
        if diffs.is_empty() {
            return None;
        }
        diffs.sort_by(f32::total_cmp);
        Some(diffs[diffs.len() / 2])
    }

    /// Locate one fingerprint; `None` when it shares no access point with any sample.
    pub fn estimate(&self, fp: &Fingerprint, s: &mut Scratch) -> Option<Estimate> {
        let k = self.config.k;
        let best = self.neighbours(fp, k, s);
        let nearest = best.first()?.0;
        let w = |d: f32| 1.0 / (d + WEIGHT_EPS);
        // Building, then floor within it: weighted votes (ties to the lower id).
        let mut votes: Vec<(u16, f32)> = Vec::new();
        for &(d, id) in best {
            let b = self.labels[id as usize].building;
            match votes.iter_mut().find(|v| v.0 == b) {
                Some(v) => v.1 += w(d),
                None => votes.push((b, w(d))),
            }
        }
        let building = votes.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?.0;
        let mut fvotes: Vec<(i16, f32)> = Vec::new();
        for &(d, id) in best {
            let l = &self.labels[id as usize];
            if l.building == building {
                match fvotes.iter_mut().find(|v| v.0 == l.floor) {
                    Some(v) => v.1 += w(d),
                    None => fvotes.push((l.floor, w(d))),
                }
            }
        }
        let floor = fvotes.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?.0;
        let (mut sx, mut sy, mut sw) = (0.0f64, 0.0f64, 0.0f64);
        let mut zones: Vec<(u32, f32)> = Vec::new();
        let mut zw = 0.0f32;
        for &(d, id) in best {
            let l = &self.labels[id as usize];
            if l.building != building || l.floor != floor {
                continue;
            }
            let wt = w(d);
            if let Some((x, y)) = l.pos {
                sx += x * wt as f64;
                sy += y * wt as f64;
                sw += wt as f64;
            }
            if let Some(z) = l.zone {
                zw += wt;
                match zones.iter_mut().find(|v| v.0 == z) {
                    Some(v) => v.1 += wt,
                    None => zones.push((z, wt)),
                }
            }
        }
        for z in &mut zones {
            z.1 /= zw;
        }
        zones.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Some(Estimate { building, floor, zone: zones.first().map(|z| z.0), zones, pos: (sw > 0.0).then(|| (sx / sw, sy / sw)), nearest })
    }

    /// The model as JSON (configuration, access point and zone names, the samples in dBm).
    pub fn to_json(&self) -> String {
        let file = ModelFile {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            config: self.config,
            aps: self.aps.clone(),
            zones: self.zones.clone(),
            samples: self.labels.iter().copied().zip(self.fps.iter().cloned()).collect(),
        };
        serde_json::to_string(&file).unwrap_or_default()
    }

    /// Read a model written by [`Model::to_json`]; `file` names it in errors.
    pub fn from_json(text: &str, file: &str) -> Result<Model, LocateError> {
        let bad = |reason: String| LocateError::Model { file: file.to_string(), reason };
        let m: ModelFile = serde_json::from_str(text).map_err(|e| bad(format!("line {}, column {}: {e}", e.line(), e.column())))?;
        if m.format != MODEL_FORMAT {
            return Err(bad(format!("format is {:?}, expected {MODEL_FORMAT:?}", m.format)));
        }
        if m.version != MODEL_VERSION {
            return Err(bad(format!("version {} but this footfall reads version {MODEL_VERSION}", m.version)));
        }
        Self::build(m.config, m.aps, m.zones, m.samples).map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(b: u16, f: i16, zone: u32, pos: (f64, f64), fp: &[(u16, f32)]) -> Sample {
        Sample {
            fp: Fingerprint(fp.to_vec()),
            label: Label { building: b, floor: f, zone: Some(zone), pos: Some(pos) },
            device: 0,
            user: 0,
            time: 0,
        }
    }

    fn survey() -> Survey {
        Survey {
            aps: (0..4).map(|i| format!("ap{i}")).collect(),
            zones: vec!["a".into(), "b".into(), "c".into()],
            samples: vec![
                sample(0, 0, 0, (0.0, 0.0), &[(0, -40.0), (1, -80.0)]),
                sample(0, 0, 0, (1.0, 0.0), &[(0, -45.0), (1, -75.0)]),
                sample(0, 0, 1, (10.0, 0.0), &[(0, -80.0), (1, -40.0)]),
                sample(0, 0, 1, (11.0, 0.0), &[(0, -75.0), (1, -45.0)]),
                sample(1, 2, 2, (50.0, 50.0), &[(2, -50.0), (3, -60.0)]),
            ],
        }
    }

    /// The plain definition, to check the inverted index against.
    fn sorensen(repr: &Representation, a: &Fingerprint, b: &Fingerprint, aps: u16) -> f32 {
        let f = |fp: &Fingerprint, i: u16| fp.0.iter().find(|p| p.0 == i).map(|p| quantize(repr, p.1) as f32).unwrap_or(0.0);
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..aps {
            num += (f(a, i) - f(b, i)).abs();
            den += f(a, i) + f(b, i);
        }
        num / den
    }

    #[test]
    fn index_distances_equal_the_definition() {
        let s = survey();
        let m = Model::train(ModelConfig::default(), &s).unwrap();
        let q = Fingerprint(vec![(0, -50.0), (1, -70.0), (2, -90.0)]);
        let mut sc = Scratch::default();
        let got = m.neighbours(&q, 5, &mut sc).to_vec();
        assert_eq!(got.len(), 5);
        for (d, id) in got {
            let want = sorensen(&m.config.repr, &q, &s.samples[id as usize].fp, 4);
            assert!((d - want).abs() < 1e-5, "sample {id}: {d} vs {want}");
        }
        // Sorted nearest first; a second query reuses the scratch cleanly.
        let again = m.neighbours(&q, 5, &mut sc).to_vec();
        assert!(again.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn two_stage_distances_are_exact_and_exhaustive_equals_the_full_walk() {
        // A seeded random site: 60 access points, 2,000 samples, 300 queries.
        let mut x = 12345u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut fp = |n: usize| {
            let pairs = (0..n).map(|_| ((next() % 60) as u16, -30.0 - (next() % 70) as f32)).collect();
            Fingerprint::from_pairs(pairs)
        };
        let label = Label { building: 0, floor: 0, zone: None, pos: None };
        let samples: Vec<Sample> = (0..2000).map(|i| Sample { fp: fp(3 + i % 20), label, device: 0, user: 0, time: 0 }).collect();
        let survey = Survey { aps: (0..60).map(|i| i.to_string()).collect(), zones: vec![], samples };
        let fast = Model::train(ModelConfig::default(), &survey).unwrap();
        let exact = Model::train(ModelConfig { search: Search::EXHAUSTIVE, ..Default::default() }, &survey).unwrap();
        let (mut a, mut b) = (Scratch::default(), Scratch::default());
        let mut same_first = 0;
        for i in 0..300 {
            let q = fp(1 + i % 25);
            for k in [1, 5, 12] {
                let full = exact.neighbours_full(&q, k, &mut b).to_vec();
                assert_eq!(exact.neighbours(&q, k, &mut a), &full[..], "query {i}, k {k}");
                let got = fast.neighbours(&q, k, &mut a).to_vec();
                assert!(got.windows(2).all(|w| w[0] <= w[1]));
                for (d, id) in &got {
                    let want = sorensen(&fast.config.repr, &q, &survey.samples[*id as usize].fp, 60);
                    assert!((d - want).abs() < 1e-5, "query {i}: sample {id} at {d}, exactly {want}");
                }
                if k == 1 && got.first().map(|g| g.1) == full.first().map(|f| f.1) {
                    same_first += 1;
                }
            }
        }
        // Uniform random fingerprints are the hard case for the first stage (no geometry).
        assert!(same_first >= 200, "the fast search found the nearest sample for {same_first} of 300 queries");
    }

    #[test]
    fn estimate_picks_building_floor_zone_and_position() {
        let m = Model::train(ModelConfig { k: 2, ..Default::default() }, &survey()).unwrap();
        let mut sc = Scratch::default();
        let e = m.estimate(&Fingerprint(vec![(0, -78.0), (1, -42.0)]), &mut sc).unwrap();
        assert_eq!((e.building, e.floor, e.zone), (0, 0, Some(1)));
        let (x, _) = e.pos.unwrap();
        assert!((10.0..=11.0).contains(&x), "{x}");
        assert!((e.zones.iter().map(|z| z.1).sum::<f32>() - 1.0).abs() < 1e-5);
        let e = m.estimate(&Fingerprint(vec![(2, -52.0)]), &mut sc).unwrap();
        assert_eq!((e.building, e.floor, e.zone), (1, 2, Some(2)));
        assert!(m.estimate(&Fingerprint(vec![]), &mut sc).is_none());
    }

    #[test]
    fn save_and_load_give_the_same_answers() {
        let m = Model::train(ModelConfig::default(), &survey()).unwrap();
        let back = Model::from_json(&m.to_json(), "m.json").unwrap();
        let q = Fingerprint(vec![(0, -60.0), (1, -60.0)]);
        let (mut a, mut b) = (Scratch::default(), Scratch::default());
        assert_eq!(m.estimate(&q, &mut a), back.estimate(&q, &mut b));
        let e = Model::from_json("{\"format\":\"x\"}", "m.json").unwrap_err().to_string();
        assert!(e.contains("m.json"), "{e}");
    }

    #[test]
    fn the_whole_dbm_table_equals_the_transform() {
        let repr = Representation::default();
        let lut = quantize_table(&repr);
        for r in [-128.0, -104.0, -70.0, -70.5, -0.0, 0.0, 3.0, -200.0, f32::NAN] {
            assert_eq!(quantize_with(&lut, &repr, r), quantize(&repr, r), "{r}");
        }
    }

    #[test]
    fn refuses_empty_training_and_zero_k() {
        let mut s = survey();
        assert!(Model::train(ModelConfig { k: 0, ..Default::default() }, &s).is_err());
        s.samples.iter_mut().for_each(|x| x.fp.0.clear());
        assert!(Model::train(ModelConfig::default(), &s).is_err());
    }
}
