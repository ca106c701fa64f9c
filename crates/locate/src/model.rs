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
//! The default search walks less ([`Search`], [`Model::neighbours`]): the postings of the
//! query's strongest access points within a band around the query's value give candidates,
//! ranked without a division for all but the few that can make the cut, and the best of them
//! get their exact distance. Samples are numbered so that similar fingerprints sit side by
//! side (building, floor, strongest access points), which keeps a query's memory accesses
//! close together. The per-query loops avoid branches on the data (picking the strongest
//! access points, keeping the `k` best, the rows' ends padded): on the machines measured, a
//! mispredicted branch cost more than the instructions it saved.
//!
//! **Spots.** A survey usually scans several times at each point (UJIIndoorLoc: ~21 scans at
//! each of its 933 points, ~11 per point and phone), and then the bands above are long. When
//! the samples repeat (at least two per spot on average), the model also indexes *spots*: the
//! samples of one phone within one square cell of `spot_cell` metres (5 by default; 0: one
//! position), at most `spot_size` of them, as their mean fingerprint. The first stage then
//! walks the spots' index (an order of magnitude smaller), and the samples of the best spots
//! are checked exactly. Cells also group a survey of single scans at distinct places that
//! lie close together. Samples without a position (zone labels without one: an area, not a
//! spot) are spots of their own.
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
    hits: Vec<Posting>,
    sims: Vec<f32>,
    approx: Vec<i32>,
    pick: Vec<u32>,
    starts: Vec<(usize, usize, u16)>,
    keys: Vec<u64>,
    touched: Vec<u32>,
    /// The spots touched by [`Model::spot_stage`]'s walk.
    spot_hits: Vec<u32>,
    query: Vec<(u16, u16)>,
    order: Vec<(u16, u16)>,
    /// The query's features by access point (every possible `u16` index, so reads need no
    /// bounds check); zero between searches.
    qdense: Vec<u16>,
    best: Vec<(f32, u32)>,
    /// Building, floor and zone votes of [`Model::estimate`].
    bvotes: Vec<(u16, f32)>,
    fvotes: Vec<(i16, f32)>,
    zvotes: Vec<(u32, f32)>,
    /// The neighbours' weights and labels in [`Model::estimate`].
    neighbours: Vec<(f32, Label)>,
    /// Searches so far, and how many of them fell back to the exhaustive walk (for benchmarks).
    pub searches: u64,
    pub full_walks: u64,
    /// Postings walked and samples checked exactly by the pruned search.
    pub postings: u64,
    pub exact_checks: u64,
    /// Touched samples whose partial similarity was computed exactly (for benchmarks).
    pub ranked: u64,
    /// Samples the first stage kept (touched, and able to reach the candidates), for benchmarks.
    pub kept: u64,
}

#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    version: u32,
    config: ModelConfig,
    aps: Vec<String>,
    zones: Vec<String>,
    samples: Vec<(Label, Fingerprint)>,
    /// Each sample's phone (files written before spots: every sample phone 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    devices: Vec<u32>,
    /// Where each spot's samples start (samples are saved spot by spot), and their end; empty
    /// without spots. Saved so that a loaded model groups exactly as the trained one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    spots: Vec<u32>,
}

/// A trained model: the survey samples plus their inverted index.
#[derive(Clone, Debug)]
pub struct Model {
    config: ModelConfig,
    aps: Vec<String>,
    zones: Vec<String>,
    labels: Vec<Label>,
    fps: Vec<Fingerprint>,
    /// Each sample's phone ([`Sample::device`]): repeated scans at one spot are grouped by it.
    devices: Vec<u32>,
    sums: Vec<u32>,
    /// The samples' postings.
    index: PostingIndex,
    /// Spots (one phone's scans within one cell of positions), when the survey has them.
    spots: Option<Spots>,
    /// The samples' rows (CSR): the feature sum as `(low, high)` 16 bits, then the quantized
    /// features as `(access point, value)` sorted by access point, side by side so that an
    /// exact check reads one or two cache lines and nothing else of the sample; padded with
    /// `(u16::MAX, 0)` to a multiple of [`ROW_CHUNK`] features.
    fp_start: Vec<u32>,
    fp: Vec<(u16, u16)>,
    /// The quantized feature of every whole-dBm reading from -128 to 0 (readings are usually
    /// whole dBm), so that a query needs no `powf`.
    lut: Vec<u16>,
}

/// One sample that heard an access point, packed in a u64: the sample id (bits 0-31), its
/// quantized feature there (bits 32-47) and its feature sum `>> sum_shift` (bits 48-63), so
/// that the walk keeps a touched sample's posting whole (one store) and ranking it reads
/// nothing per sample at random but its accumulated overlap.
#[derive(Clone, Copy, Debug, Default)]
struct Posting(u64);

impl Posting {
    fn new(id: u32, val: u16, sum: u16) -> Posting {
        Posting(id as u64 | (val as u64) << 32 | (sum as u64) << 48)
    }
    #[inline]
    fn id(self) -> u32 {
        self.0 as u32
    }
    #[inline]
    fn val(self) -> u16 {
        (self.0 >> 32) as u16
    }
    #[inline]
    fn sum(self) -> u16 {
        (self.0 >> 48) as u16
    }
}

/// Posting lists (CSR) over rows of `(access point, value)`: per access point, the rows that
/// heard it, sorted by value, strongest first.
#[derive(Clone, Debug)]
struct PostingIndex {
    /// `sums >> sum_shift` fits a u16 (the copy carried in each posting).
    sum_shift: u32,
    post_start: Vec<u32>,
    postings: Vec<Posting>,
    /// Per access point, `LEVELS` positions in its list: where the values below `2^b` start,
    /// for `b` in `0..LEVELS`, so that the walk can start near the query's upper bound
    /// without a binary search (whose probes miss the cache one after the other).
    levels: Vec<u32>,
}

impl PostingIndex {
    /// Rows in id order (padding, access point `u16::MAX`, is skipped) and their feature sums.
    fn build<'a>(rows: impl Iterator<Item = &'a [(u16, u16)]> + Clone, sums: &[u32], aps: usize) -> PostingIndex {
        let mut counts = vec![0u32; aps + 1];
        for row in rows.clone() {
            for &(a, _) in row.iter().filter(|e| e.0 != u16::MAX) {
                counts[a as usize + 1] += 1;
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        // Feature sums in a posting are stored shifted right so that the largest fits a u16.
        let max_sum = sums.iter().copied().max().unwrap_or(0);
        let sum_shift = u32::BITS - (max_sum >> 16).leading_zeros();
        let mut fill = counts.clone();
        let mut postings = vec![Posting::default(); counts[aps] as usize];
        for (i, row) in rows.enumerate() {
            for &(a, v) in row.iter().filter(|e| e.0 != u16::MAX) {
                let slot = &mut fill[a as usize];
                postings[*slot as usize] = Posting::new(i as u32, v, (sums[i] >> sum_shift) as u16);
                *slot += 1;
            }
        }
        for a in 0..aps {
            postings[counts[a] as usize..counts[a + 1] as usize].sort_unstable_by(|x, y| y.val().cmp(&x.val()).then(x.id().cmp(&y.id())));
        }
        let mut levels = Vec::with_capacity(aps * LEVELS);
        for a in 0..aps {
            let (lo, hi) = (counts[a] as usize, counts[a + 1] as usize);
            let list = &postings[lo..hi];
            levels.extend((0..LEVELS).map(|b| (lo + list.partition_point(|p| p.val() as u32 >= 1 << b)) as u32));
        }
        PostingIndex { sum_shift, post_start: counts, postings, levels }
    }

    /// Access point `a`'s postings from the first at most `top` (a level gives a start at most
    /// one power of two early), and the list's end.
    #[inline]
    fn band_start(&self, a: u16, top: u32) -> (usize, usize) {
        let (lo, hi) = (self.post_start[a as usize] as usize, self.post_start[a as usize + 1] as usize);
        let b = (u32::BITS - top.leading_zeros()) as usize;
        (if b < LEVELS { self.levels[a as usize * LEVELS + b] as usize } else { lo }, hi)
    }
}

/// Spots: samples of one phone within one cell of [`Search::spot_cell`] metres (the repeated
/// scans of a survey point, or single scans close together), at most [`Search::spot_size`]
/// each, searched by their mean fingerprint. A dense survey
/// (UJIIndoorLoc: ~11 scans per point and phone) then has an index an order of magnitude
/// smaller than its samples', and the spots nearest the query give the samples to check.
/// Spot `i` is samples `first[i]..first[i + 1]` (samples are numbered spot by spot).
#[derive(Clone, Debug)]
struct Spots {
    first: Vec<u32>,
    sums: Vec<u32>,
    index: PostingIndex,
}

/// Each sample's spot (in first-seen order), when spots group the samples: at least two per
/// spot on average; `None` otherwise (a survey of single scans at distinct places is searched
/// sample by sample).
fn spot_groups(samples: &[(Label, Fingerprint, u32)], search: Search) -> Option<Vec<u32>> {
    // Per (building, floor, zone, position bits, phone): the spot being filled and its size.
    type Place = (u16, i16, Option<u32>, (u64, u64), u32);
    let mut open: std::collections::HashMap<Place, (u32, usize)> = Default::default();
    let mut spots = 0u32;
    let mut alone = || {
        spots += 1;
        spots - 1
    };
    let groups: Vec<u32> = samples
        .iter()
        .map(|(l, _, d)| {
            // A zone is an area, not a spot: a sample without a position is a spot of its own.
            let Some((mut x, mut y)) = l.pos else { return alone() };
            if search.spot_cell > 0 {
                let cell = search.spot_cell as f64;
                (x, y) = ((x / cell).floor(), (y / cell).floor());
            }
            let e = open.entry((l.building, l.floor, l.zone, (x.to_bits(), y.to_bits()), *d)).or_insert((0, 0));
            if e.1 == search.spot_size || e.1 == 0 {
                *e = (alone(), 0);
            }
            e.1 += 1;
            e.0
        })
        .collect();
    (samples.len() >= 2 * spots as usize).then_some(groups)
}

/// Each sample's spot from saved spot bounds (`0`, then where each next spot starts, then
/// `samples`).
fn spots_from_bounds(bounds: &[u32], samples: usize) -> Result<Vec<u32>, String> {
    let ok = bounds.first() == Some(&0) && bounds.last() == Some(&(samples as u32)) && bounds.windows(2).all(|w| w[0] < w[1]);
    if !ok {
        return Err(format!("spots must rise from 0 to the {samples} samples, one bound per spot"));
    }
    Ok(bounds.windows(2).enumerate().flat_map(|(j, w)| std::iter::repeat_n(j as u32, (w[1] - w[0]) as usize)).collect())
}

impl Spots {
    /// The spots of `groups` (each sample's spot) over quantized rows: returns the samples'
    /// order (spot by spot, spots in locality order) and the spots in that order.
    fn build(samples: &[(Label, Fingerprint, u32)], groups: &[u32], rows: &[Vec<(u16, u16)>], aps: usize) -> (Vec<usize>, Spots) {
        let n = groups.iter().map(|&g| g as usize + 1).max().unwrap_or(0);
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, &g) in groups.iter().enumerate() {
            members[g as usize].push(i);
        }
        // The mean of each spot's features (a member that did not hear an access point counts
        // 0 there), rounded; access points whose mean rounds to 0 are left out.
        let means: Vec<Vec<(u16, u16)>> = members
            .iter()
            .map(|m| {
                let mut all: Vec<(u16, u16)> = m.iter().flat_map(|&i| rows[i].iter().copied()).collect();
                all.sort_unstable_by_key(|e| e.0);
                let mut mean = Vec::new();
                for run in all.chunk_by(|x, y| x.0 == y.0) {
                    let total: u64 = run.iter().map(|e| e.1 as u64).sum();
                    let v = ((total * 2 + m.len() as u64) / (2 * m.len() as u64)) as u16;
                    if v > 0 {
                        mean.push((run[0].0, v));
                    }
                }
                mean
            })
            .collect();
        // Building, floor, then the mean's strongest two access points (ties: survey order).
        let keys: Vec<(u16, i16, (u16, u16))> = (0..n)
            .map(|g| {
                let l = &samples[members[g][0]].0;
                (l.building, l.floor, strongest_two(means[g].iter().copied(), 0))
            })
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&g| (keys[g], g));
        let (mut first, mut samples) = (vec![0u32], Vec::with_capacity(groups.len()));
        for &g in &order {
            samples.extend_from_slice(&members[g]);
            first.push(samples.len() as u32);
        }
        let sums: Vec<u32> = order.iter().map(|&g| means[g].iter().map(|e| e.1 as u32).sum()).collect();
        let index = PostingIndex::build(order.iter().map(|&g| means[g].as_slice()), &sums, aps);
        (samples, Spots { first, sums, index })
    }
}

/// The access points of the strongest and the second strongest value above `floor` in `row`
/// (`u16::MAX` for none; ties: the first).
fn strongest_two<T: PartialOrd + Copy>(row: impl Iterator<Item = (u16, T)>, floor: T) -> (u16, u16) {
    let (mut a, mut b) = ((floor, u16::MAX), (floor, u16::MAX));
    for (ap, v) in row {
        if v > a.0 {
            b = a;
            a = (v, ap);
        } else if v > b.0 {
            b = (v, ap);
        }
    }
    (a.1, b.1)
}

/// Samples in an order where similar fingerprints sit side by side: by building, floor, then
/// the access point each heard strongest and the second strongest (ties: survey order). The
/// candidates of a query then mostly share cache lines (their rows, their overlap counters),
/// which the survey's own order (by time or by user) does not give. Only the numbering of
/// samples changes; distances do not. Returns the survey indexes in the new order.
fn locality_order(samples: &[(Label, Fingerprint, u32)]) -> Vec<usize> {
    let keys: Vec<(u16, i16, u16, u16)> = samples
        .iter()
        .map(|(l, fp, _)| {
            let (a, b) = strongest_two(fp.0.iter().copied(), f32::NEG_INFINITY);
            (l.building, l.floor, a, b)
        })
        .collect();
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|&i| (keys[i], i));
    order
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
    /// ...and at most the query's value times this: samples that heard the access point far
    /// more strongly than the query are nearer to it than the query is (the Sørensen distance
    /// counts `|q - t|`, so their partial overlap, capped at the query's value, flatters them).
    /// `u16::MAX`: no upper bound. Models saved without it get the default.
    #[serde(default = "default_top")]
    pub posting_top: u16,
    /// Candidates (best partial overlap) whose exact distance is computed.
    pub candidates: usize,
    /// Strongest access points of the query walked in the spot index, when the survey has
    /// spots (see [`Model::neighbours`]); 0: never search by spot.
    #[serde(default = "default_spot_aps")]
    pub spot_aps: usize,
    /// The band of the spot walk: spots whose mean value is within the query's value divided
    /// and multiplied by this.
    #[serde(default = "default_spot_band")]
    pub spot_band: u16,
    /// Most samples in one spot (a larger group of repeated scans is split, in survey order).
    #[serde(default = "default_spot_size")]
    pub spot_size: usize,
    /// Side of the square cells (metres, on the labels' positions) whose samples of one phone
    /// make one spot; 0: only samples at exactly the same position. Models saved without it
    /// load with the default.
    #[serde(default = "default_spot_cell")]
    pub spot_cell: u16,
}

fn default_top() -> u16 {
    2
}
fn default_spot_aps() -> usize {
    8
}
fn default_spot_band() -> u16 {
    3
}
fn default_spot_size() -> usize {
    16
}
fn default_spot_cell() -> u16 {
    5
}

impl Search {
    /// Walk every posting: the exact k nearest neighbours.
    pub const EXHAUSTIVE: Search = Search {
        strong_aps: usize::MAX,
        posting_cut: u16::MAX,
        posting_top: u16::MAX,
        candidates: usize::MAX,
        spot_aps: 0,
        spot_band: u16::MAX,
        spot_size: 1,
        spot_cell: 0,
    };
}

/// `strong_aps,posting_cut,posting_top,candidates`, optionally followed by
/// `,spot_aps,spot_band,spot_size` and then `,spot_cell` (otherwise the defaults), as the benchmark and the
/// `uji_search` example take them.
impl std::str::FromStr for Search {
    type Err = String;
    fn from_str(text: &str) -> Result<Search, String> {
        let n = text
            .split(',')
            .map(|x| x.trim().parse::<usize>().map_err(|e| format!("{x:?} in search {text:?}: {e}")))
            .collect::<Result<Vec<usize>, String>>()?;
        let short = |i: usize| u16::try_from(n[i]).map_err(|_| format!("{} in search {text:?}: at most {}", n[i], u16::MAX));
        let mut search = match n.len() {
            4 | 7 | 8 => Search { strong_aps: n[0], posting_cut: short(1)?, posting_top: short(2)?, candidates: n[3], ..Search::default() },
            _ => {
                return Err(format!(
                    "search {text:?}: expected strong_aps,posting_cut,posting_top,candidates[,spot_aps,spot_band,spot_size[,spot_cell]]"
                ));
            }
        };
        if n.len() >= 7 {
            (search.spot_aps, search.spot_band, search.spot_size) = (n[4], short(5)?, n[6]);
        }
        if n.len() == 8 {
            search.spot_cell = short(7)?;
        }
        Ok(search)
    }
}

impl Default for Search {
    fn default() -> Self {
        Search {
            strong_aps: 4,
            posting_cut: 2,
            posting_top: default_top(),
            candidates: 32,
            spot_aps: default_spot_aps(),
            spot_band: default_spot_band(),
            spot_size: default_spot_size(),
            spot_cell: default_spot_cell(),
        }
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
/// Value levels per posting list (`2^0` to `2^16`; values are below `2^16`).
const LEVELS: usize = 17;
/// Buckets of the similarity histogram that finds the candidates' threshold.
const HIST: usize = 256;
/// Twice the error of a similarity's log estimate `bits(m) - bits(S_q + S_t)`, in units of
/// `2^-23` octaves: a float's bits are `2^23 (e + 127 + f)` for `2^e (1 + f)`, and
/// `log2(1 + f) - f` is within `[0, 0.0860713]`, so each of the two terms is off by at most
/// `0.0860713 * 2^23 = 722,019`; plus a margin of 62 for the rounding of the exact key's
/// division (a few units). (Was `2^21`, the same bound rounded up: on the bench site 51
/// samples a query were then ranked exactly instead of 45.)
const TWO_ERRORS: i32 = 1_444_100;
/// Entries of the dense query of the exact checks: one per possible access point index.
const DENSE: usize = 1 << 16;
/// Strong access points picked in a fixed array (more: a sorted `Vec`).
const STRONG_MAX: usize = 8;
/// Neighbours kept in a fixed array during the exact checks (more: a sorted `Vec`).
const BEST_MAX: usize = 16;
/// Features per step of an exact check; rows are padded to a multiple of it.
const ROW_CHUNK: usize = 4;

fn quantize_table(repr: &Representation) -> Vec<u16> {
    (LUT_MIN_DBM..=0).map(|r| quantize(repr, r as f32)).collect()
}

/// [`quantize`] through the table of whole-dBm readings when the reading is one.
#[inline]
fn quantize_with(lut: &[u16], repr: &Representation, rssi: f32) -> u16 {
    // `rssi as i32 as f32 == rssi` is `rssi == rssi.trunc()` for every value a table entry
    // can match, without a call to `truncf`; `as` saturates, so the index wraps (out of the
    // table) instead of overflowing for readings beyond `i32`.
    let whole = rssi as i32;
    if whole as f32 == rssi
        && let Some(&v) = usize::try_from(whole.wrapping_sub(LUT_MIN_DBM)).ok().and_then(|i| lut.get(i))
    {
        return v;
    }
    quantize(repr, rssi)
}

fn quantize(repr: &Representation, rssi: f32) -> u16 {
    let v = (repr.feature(rssi) * SCALE).round() as u32;
    v.clamp(1, SCALE as u32) as u16
}

/// The walk of one band after the first list (its postings from the band's top on; the walk
/// stops at the first below `cut`): add each posting's term `min(q, t) >> SHIFT` to its
/// sample's overlap counter, and keep (in `hits`, from `n` on) each sample touched for the
/// first time whose posting is at most `limit` (its feature sum, the posting's top bits, small
/// enough to still reach the candidates); a sample not kept keeps a zero counter. Returns the
/// samples kept so far and the postings walked.
///
/// Needs `cut >= 2^SHIFT`: every value walked, and the query's, is then at least `2^SHIFT`,
/// so the term is at least 1 without the `max(1)` of [`walk_later_dyn`] (same result).
/// Branch-free but for the end of the band: the posting is always written, and counted only
/// on a kept first touch. `acc16` and `hits` are the same power of two long, so the masked
/// indexes need no bounds check. Its own function with the shift a constant: inlined in
/// `two_stage`, the loop ran short of registers (38 instructions a posting, now 30).
#[inline(never)]
fn walk_later<const SHIFT: u32>(
    band: &[Posting],
    qv: u16,
    cut: u16,
    limit: u64,
    acc16: &mut [u16],
    hits: &mut [Posting],
    mut n: usize,
) -> (usize, usize) {
    // (Sample ids are below 2^32: the mask has no higher bits, so it applies to the whole
    // posting as well as to its id, and one register holds it.)
    let mask = acc16.len().wrapping_sub(1) & u32::MAX as usize;
    let (acc16, hits) = (&mut acc16[..=mask], &mut hits[..=mask]);
    let (qv, cut) = (qv as u32, cut as u32);
    let mut it = band.iter();
    let mut walked = band.len();
    while let Some(&p) = it.next() {
        let tv = p.val() as u32;
        if tv < cut {
            walked -= it.len() + 1;
            break;
        }
        let slot = &mut acc16[p.0 as usize & mask];
        let old = *slot;
        let (fresh, ok) = (old == 0, p.0 <= limit);
        hits[n & mask] = p;
        n += (fresh & ok) as usize;
        // (A sample not kept has `old == 0`: it stays 0.)
        *slot = (old + (qv.min(tv) >> SHIFT) as u16) * (!fresh | ok) as u16;
    }
    (n, walked)
}

/// [`walk_later`] with a shift known only at run time (more than 8 strong access points, or
/// a cut below `2^shift`), and terms at least 1.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn walk_later_dyn(
    band: &[Posting],
    qv: u16,
    cut: u16,
    limit: u64,
    shift: u32,
    acc16: &mut [u16],
    hits: &mut [Posting],
    mut n: usize,
) -> (usize, usize) {
    let mask = acc16.len().wrapping_sub(1);
    let (acc16, hits) = (&mut acc16[..=mask], &mut hits[..=mask]);
    let mut walked = band.len();
    for (j, &p) in band.iter().enumerate() {
        let tv = p.val();
        if tv < cut {
            walked = j;
            break;
        }
        let slot = &mut acc16[p.id() as usize & mask];
        let old = *slot;
        let new = (old == 0) & (p.0 <= limit);
        hits[n & mask] = p;
        n += new as usize;
        let term = (qv.min(tv) >> shift).max(1);
        *slot = old + if (old != 0) | new { term } else { 0 };
    }
    (n, walked)
}

/// The query's `strong` strongest `(value, access point)`, strongest first, into `order`
/// (pairs are distinct: one per access point). Kept sorted while reading the query, which is
/// shorter than sorting it.
#[inline]
fn strongest(query: &[(u16, u16)], strong: usize, order: &mut Vec<(u16, u16)>) {
    order.clear();
    if strong <= STRONG_MAX {
        // Branch-free: each `(value, access point)` as one key (values are at least 1, so
        // every key beats the empty 0), bubbled through the sorted `strong` best.
        let mut top = [0u32; STRONG_MAX];
        for &(a, v) in query {
            let mut x = (v as u32) << 16 | a as u32;
            for t in &mut top[..strong] {
                let hi = (*t).max(x);
                x = (*t).min(x);
                *t = hi;
            }
        }
        order.extend(top[..strong].iter().map(|&t| ((t >> 16) as u16, t as u16)));
    } else {
        for &(a, v) in query {
            let e = (v, a);
            if order.len() == strong {
                if order.last().is_some_and(|&l| l >= e) {
                    continue;
                }
                order.pop();
            }
            let at = order.iter().rposition(|&o| o > e).map_or(0, |i| i + 1);
            order.insert(at, e);
        }
    }
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
        let pairs = samples.filter(|s| !s.fp.is_empty()).map(|s| (s.label, s.fp.clone(), s.device)).collect();
        Self::build(config, aps, zones, pairs, None)
    }

    /// The model of `samples` (label, fingerprint, phone); `groups`, each sample's spot, when
    /// a saved model gives them (otherwise they are found from labels and phones).
    fn build(
        config: ModelConfig,
        aps: Vec<String>,
        zones: Vec<String>,
        samples: Vec<(Label, Fingerprint, u32)>,
        groups: Option<Vec<u32>>,
    ) -> Result<Model, LocateError> {
        config.repr.validate().map_err(LocateError::Invalid)?;
        let search = config.search;
        if search.strong_aps == 0 || search.posting_cut == 0 || search.posting_top == 0 || search.spot_band == 0 || search.spot_size == 0 {
            return Err(LocateError::Invalid(
                "search.strong_aps, search.posting_cut, search.posting_top, search.spot_band and search.spot_size must be at least 1"
                    .into(),
            ));
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
        for (l, fp, _) in &samples {
            if let Some(z) = l.zone
                && z as usize >= zones.len()
            {
                return Err(LocateError::Invalid(format!("zone index {z} but only {} zones", zones.len())));
            }
            if let Some(&(a, _)) = fp.0.iter().find(|e| e.0 as usize >= aps.len()) {
                return Err(LocateError::Invalid(format!("access point index {a} but only {} access points", aps.len())));
            }
        }
        let lut = quantize_table(&config.repr);
        let samples: Vec<(Label, Fingerprint, u32)> = samples.into_iter().map(|(l, fp, d)| (l, Fingerprint::from_pairs(fp.0), d)).collect();
        let quantized: Vec<Vec<(u16, u16)>> =
            samples.iter().map(|(_, fp, _)| fp.0.iter().map(|&(a, r)| (a, quantize_with(&lut, &config.repr, r))).collect()).collect();
        // Spots only where the search uses them (saved bounds included).
        let by_spot = search.spot_aps > 0 && search != Search::EXHAUSTIVE;
        let groups = if by_spot { groups.or_else(|| spot_groups(&samples, search)) } else { None };
        let (order, spots) = match groups {
            Some(groups) => {
                let (order, spots) = Spots::build(&samples, &groups, &quantized, aps.len());
                (order, Some(spots))
            }
            None => (locality_order(&samples), None),
        };
        let mut sums = Vec::with_capacity(samples.len());
        let (mut labels, mut fps, mut devices) =
            (Vec::with_capacity(order.len()), Vec::with_capacity(order.len()), Vec::with_capacity(order.len()));
        let (mut fp_start, mut fp_q) = (vec![0u32], Vec::with_capacity(quantized.iter().map(|r| r.len() + ROW_CHUNK).sum()));
        let mut slots: Vec<Option<(Label, Fingerprint, u32)>> = samples.into_iter().map(Some).collect();
        for i in order {
            let Some((l, fp, d)) = slots[i].take() else { unreachable!("an order names each sample once") };
            let head = fp_q.len();
            fp_q.push((0, 0));
            fp_q.extend_from_slice(&quantized[i]);
            let sum: u32 = quantized[i].iter().map(|e| e.1 as u32).sum();
            // Padded to whole chunks of the exact check (access point `u16::MAX`, which no
            // query hears: its term is 0).
            while !(fp_q.len() - head - 1).is_multiple_of(ROW_CHUNK) {
                fp_q.push((u16::MAX, 0));
            }
            fp_q[head] = (sum as u16, (sum >> 16) as u16);
            fp_start.push(fp_q.len() as u32);
            sums.push(sum);
            labels.push(l);
            fps.push(fp);
            devices.push(d);
        }
        let rows = fp_start.windows(2).map(|w| &fp_q[w[0] as usize + 1..w[1] as usize]);
        let index = PostingIndex::build(rows, &sums, aps.len());
        Ok(Model { config, aps, zones, labels, fps, devices, sums, index, fp_start, fp: fp_q, lut, spots })
    }

    /// Sample `id` (as [`Model::neighbours`] numbers them: the model's own order, not the
    /// survey's) with its label and fingerprint.
    pub fn sample(&self, id: u32) -> Option<(&Label, &Fingerprint)> {
        Some((self.labels.get(id as usize)?, self.fps.get(id as usize)?))
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
    /// points, cut to samples that heard them at least `1 / posting_cut` and at most
    /// `posting_top` times as strongly as the query did, give candidates ranked by their
    /// partial similarity; the best `candidates` of them get their exact distance (a dense
    /// lookup per sample). Every distance returned is exact; a sample outside the band of
    /// every strong access point is not considered, so the answer can differ from the
    /// exhaustive one ([`Search::EXHAUSTIVE`], which walks every posting). If the first stage
    /// finds nothing, the exhaustive walk runs. A model with spots (see the module's
    /// documentation) runs the first stage on them instead: its candidates are the samples of
    /// the best spots by partial similarity over the query's `spot_aps` strongest access
    /// points (spots within `spot_band` times the query's value either way), until they hold
    /// `candidates` samples. Sample ids are the model's own numbering ([`Model::sample`]), not
    /// the survey's order.
    pub fn neighbours<'s>(&self, fp: &Fingerprint, k: usize, s: &'s mut Scratch) -> &'s [(f32, u32)] {
        self.search(fp, k, s);
        &s.best
    }

    /// [`Model::neighbours`] into `s.best`.
    fn search(&self, fp: &Fingerprint, k: usize, s: &mut Scratch) {
        let qsum = self.prepare(fp, s);
        s.searches += 1;
        let found = match &self.spots {
            _ if self.config.search == Search::EXHAUSTIVE => false,
            Some(spots) => self.spot_stage(spots, qsum, k, s),
            None => self.two_stage(qsum, k, s),
        };
        if !found {
            s.full_walks += 1;
            self.full(qsum, k, s);
        }
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
        // Fingerprints are usually sorted by access point already ([`Fingerprint::from_pairs`]).
        if !s.query.windows(2).all(|w| w[0].0 < w[1].0) {
            s.query.sort_unstable_by_key(|q| q.0);
            s.query.dedup_by_key(|q| q.0);
        }
        qsum
    }

    fn full(&self, qsum: u32, k: usize, s: &mut Scratch) {
        s.touched.clear();
        for &(a, qv) in &s.query {
            let (lo, hi) = (self.index.post_start[a as usize] as usize, self.index.post_start[a as usize + 1] as usize);
            for &p in &self.index.postings[lo..hi] {
                let (id, tv) = (p.id(), p.val());
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

    /// Sample `id`'s row in `fp`: its feature sum, then its features.
    #[inline]
    fn row(&self, id: u32) -> &[(u16, u16)] {
        &self.fp[self.fp_start[id as usize] as usize..self.fp_start[id as usize + 1] as usize]
    }

    /// Exact `M` of the query (spread out densely in `qdense`) and one sample's row, and the
    /// sample's feature sum (the row's first entry).
    /// Rows are whole chunks of [`ROW_CHUNK`] (padded), so the loop has no odd remainder to
    /// branch on, a quarter of the iterations, and its exit is the only data-dependent branch.
    #[inline]
    fn overlap(qdense: &[u16; DENSE], row: &[(u16, u16)]) -> (u32, u32) {
        let Some((&(lo, hi), feats)) = row.split_first() else { return (0, 0) };
        let term = |&(a, tv): &(u16, u16)| qdense[a as usize].min(tv) as u32;
        let chunks = feats.chunks_exact(ROW_CHUNK);
        let rest: u32 = chunks.remainder().iter().map(term).sum();
        let m = chunks.fold(rest, |m, c| m + c.iter().map(term).sum::<u32>());
        (m, lo as u32 | (hi as u32) << 16)
    }

    /// The two-stage search; false when the first stage found no candidate (then run `full`).
    fn two_stage(&self, qsum: u32, k: usize, s: &mut Scratch) -> bool {
        // Stage 1: the query's strongest access points, and of their postings only the samples
        // that heard them at least half as strongly, give candidates ranked by partial overlap.
        let search = self.config.search;
        let strong = search.strong_aps.min(s.query.len());
        if strong == 0 {
            return false;
        }
        strongest(&s.query, strong, &mut s.order);
        // The partial overlap is summed in a u16 per sample (half the cache footprint of u32):
        // each term is shifted right so that `strong` of them cannot overflow, and is at least
        // 1 so that a touched sample is never 0. The shift loses at most `strong` low bits of
        // a 16-bit sum, which only orders candidates; their distances are computed exactly.
        let shift = usize::BITS - (strong.max(1) - 1).leading_zeros();
        // Both buffers are a power of two long and indexed through a mask (a no-op: sample ids
        // are below it, and a sample is kept in `hits` once), so the walk has no bounds checks.
        let size = (self.labels.len() + 1).next_power_of_two();
        if s.acc16.len() != size {
            s.acc16 = vec![0; size];
            s.hits = vec![Posting::default(); size];
        }
        let mask = size - 1;
        // Where each list's walk starts: past the values above the query's value times
        // `posting_top` (a level of the list gives a start at most one power of two early,
        // the rest is skipped one by one). Ask for the first lines of every list's walk before
        // walking any: those loads miss the cache and are independent, so they overlap
        // instead of each stalling its own walk.
        s.starts.clear();
        let mut warm = 0u64;
        for &(qv, a) in &s.order[..strong] {
            let top = (qv as u32 * search.posting_top as u32).min(u16::MAX as u32);
            let (from, hi) = self.index.band_start(a, top);
            for p in self.index.postings[from..hi].iter().step_by(8).take(4) {
                warm ^= p.0;
            }
            s.starts.push((from, hi, top as u16));
        }
        std::hint::black_box(warm);
        // Samples first touched by a later list that cannot reach the `c`-th best partial
        // similarity are not kept (the answer is the same; see `floor` below).
        let qs = qsum as f32 / (1u32 << self.index.sum_shift) as f32;
        let c = search.candidates.max(k);
        // The largest partial overlap a sample can still gain from the lists not yet walked
        // (a term is at most the query's value there, shifted, and at least 1).
        let most: u32 = s.order[..strong].iter().map(|&(qv, _)| ((qv >> shift) as u32).max(1)).sum();
        let mut rest = most;
        // A lower bound of the `c`-th best partial similarity (0: none yet).
        let mut floor = 0.0f32;
        let mut n = 0usize;
        let (acc16, hits) = (&mut s.acc16[..=mask], &mut s.hits[..=mask]);
        for (i, (&(qv, _), &(from, hi, top))) in s.order[..strong].iter().zip(&s.starts).enumerate() {
            // A sample first touched here ends with a partial overlap of at most `rest`, so a
            // similarity of at most `rest / (S_q + S_t)` (in the units of ranking): below
            // `floor` when its feature sum `S_t` (in a posting) exceeds `most_sum`. The margin
            // of 1e-5 covers the f32 rounding of ranking's `m / (S_q + S_t)`.
            let most_sum = if floor > 0.0 {
                // (`as` rounds toward zero and saturates: never below the floor of the bound.)
                (rest as f64 / (floor as f64 * (1.0 - 1e-5)) - qs as f64) as i32
            } else {
                i32::MAX
            };
            let cut = (qv / search.posting_cut).max(1);
            let list = &self.index.postings[from..hi];
            let skip = list.iter().take_while(|p| p.val() > top).count();
            // The list is sorted strongest first: the postings in the band are a run, walked
            // until the first one below it (a binary search for its end would probe the part
            // beyond it, cache misses in a row, for nothing).
            let mut walked = 0u64;
            if i == 0 {
                // The first list touches every sample for the first time (a list names a
                // sample once, and every counter is zero between searches): plain stores.
                for &p in &list[skip..] {
                    let tv = p.val();
                    if tv < cut {
                        break;
                    }
                    walked += 1;
                    acc16[p.id() as usize & mask] = (qv.min(tv) >> shift).max(1);
                    hits[n & mask] = p;
                    n += 1;
                }
            } else {
                // A new sample is kept when its feature sum is at most `most_sum`: the sum is
                // the posting's top 16 bits, so that is one compare of the whole posting.
                let limit = match most_sum {
                    ..0 => 0,
                    0..=0xFFFE => ((most_sum as u64 + 1) << 48) - 1,
                    _ => u64::MAX,
                };
                let band = &list[skip..];
                // (With `cut >= 2^shift` every term is at least 1 without `max(1)`; only a
                // query whose strongest readings are near the floor has a lower cut.)
                let (kept, len) = match shift {
                    0 => walk_later::<0>(band, qv, cut, limit, acc16, hits, n),
                    1 if cut >= 2 => walk_later::<1>(band, qv, cut, limit, acc16, hits, n),
                    2 if cut >= 4 => walk_later::<2>(band, qv, cut, limit, acc16, hits, n),
                    3 if cut >= 8 => walk_later::<3>(band, qv, cut, limit, acc16, hits, n),
                    _ => walk_later_dyn(band, qv, cut, limit, shift, acc16, hits, n),
                };
                n = kept;
                walked = len as u64;
            }
            s.postings += walked;
            rest -= ((qv >> shift) as u32).max(1);
            // Any `c` touched samples end at least as similar as they are now (overlaps only
            // grow; f32 division rounds monotonically), so the least similar of the first `c`
            // bounds the `c`-th best from below.
            if n >= c && i + 1 < strong {
                let least = hits[..c]
                    .iter()
                    .map(|p| acc16[p.id() as usize & mask] as f32 / (qs + p.sum() as f32))
                    .fold(f32::INFINITY, |a, b| if b < a { b } else { a });
                floor = floor.max(least);
            }
        }
        s.kept += n as u64;
        if n == 0 {
            return false;
        }
        // Rank the touched samples by partial similarity `M_p / (S_q + S_t)` (in units of
        // 2^shift and 2^sum_shift: only the order matters) and keep the best `c` (one u64 key
        // each: similarity bits, then sample id, so that ties go to the lower sample). Most of
        // them share one weak access point with the query and cannot be among the best `c`,
        // so they are not divided out: a float's bits read as an integer are its log2 to
        // within 0.0861 (times 2^23, plus a constant), so `bits(M_p) - bits(S_q + S_t)` is the
        // log of the similarity to within ±0.0861. A histogram of those finds where the
        // `c`-th best falls; every sample within twice the error of it is ranked exactly.
        s.sims.resize(n, 0.0);
        s.approx.resize(n, 0);
        let (sims, approx) = (&mut s.sims[..n], &mut s.approx[..n]);
        s.keys.clear();
        let key = |m: f32, p: Posting| ((!(m / (qs + p.sum() as f32)).to_bits() as u64) << 32) | p.id() as u64;
        if n <= c {
            for (m, &p) in sims.iter_mut().zip(&hits[..n]) {
                *m = std::mem::take(&mut acc16[p.id() as usize & mask]) as f32;
                s.keys.push(key(*m, p));
            }
        } else {
            // No sample's estimate exceeds that of the largest possible overlap over the
            // smallest sum, `anchor`: buckets of 2^18 (1/32 of an octave) down from it, the
            // last one open, filled in the same pass.
            let anchor = (most as f32).to_bits() as i32 - qs.to_bits() as i32;
            // Two histograms, even and odd samples: neighbouring samples often fall in one
            // bucket, and one counter would make each increment wait for the previous one.
            // (Samples in pairs, so that which histogram is fixed per line of code.)
            let (mut even, mut odd) = ([0u32; HIST], [0u32; HIST]);
            let mut rank = |p: Posting, m: &mut f32, l: &mut i32| {
                *m = std::mem::take(&mut acc16[p.id() as usize & mask]) as f32;
                *l = m.to_bits() as i32 - (qs + p.sum() as f32).to_bits() as i32;
                (((anchor - *l) >> 18) as usize).min(HIST - 1)
            };
            let (sims2, approx2, hits2) = (sims.chunks_exact_mut(2), approx.chunks_exact_mut(2), hits[..n].chunks_exact(2));
            if let (Some(m), Some(l), Some(&p)) =
                (sims2.into_remainder().first_mut(), approx2.into_remainder().first_mut(), hits2.remainder().first())
            {
                even[rank(p, m, l)] += 1;
            }
            for ((m, l), p) in sims.chunks_exact_mut(2).zip(approx.chunks_exact_mut(2)).zip(hits[..n].chunks_exact(2)) {
                even[rank(p[0], &mut m[0], &mut l[0])] += 1;
                odd[rank(p[1], &mut m[1], &mut l[1])] += 1;
            }
            let (mut seen, mut upto) = (0u32, 0usize);
            while upto < HIST && (seen as usize) < c {
                seen += even[upto] + odd[upto];
                upto += 1;
            }
            // The `c` best by the estimate are at or above `anchor - upto * 2^18`, so the
            // `c`-th best similarity is at least that minus one error, and every sample that
            // can reach it is within one more error: keep `anchor - upto * 2^18 - TWO_ERRORS`
            // and above.
            let keep = if upto < HIST { anchor.saturating_sub(((upto as i32) << 18).saturating_add(TWO_ERRORS)) } else { i32::MIN };
            // Branch-free: the survivors' indexes first (which ones survive is unpredictable).
            // (`pick` is as long as `hits`, a power of two, so the masked index needs no
            // bounds check; `j <= i < n` anyway.)
            if s.pick.len() != size {
                s.pick = vec![0; size];
            }
            let pick = &mut s.pick[..=mask];
            let mut j = 0usize;
            for (i, &l) in approx.iter().enumerate() {
                pick[j & mask] = i as u32;
                j += (l >= keep) as usize;
            }
            s.keys.extend(pick[..j].iter().map(|&i| key(sims[i as usize], hits[i as usize])));
            s.ranked += s.keys.len() as u64;
            if s.keys.len() > c {
                s.keys.select_nth_unstable(c - 1);
                s.keys.truncate(c);
            }
        }
        self.exact_stage(qsum, k, s);
        true
    }

    /// The search by spot ([`Spots`]); false when it found no candidate (then run `full`).
    /// Stage 1 walks the spot index: of the postings of the query's `spot_aps` strongest
    /// access points, the spots whose mean there is within `spot_band` times the query's value
    /// either way, summing each spot's partial overlap; the spots are ranked by partial
    /// similarity `M_p / (S_q + S_spot)`, and the best of them, until they hold `candidates`
    /// samples, give their samples to the exact checks of stage 2.
    fn spot_stage(&self, spots: &Spots, qsum: u32, k: usize, s: &mut Scratch) -> bool {
        let search = self.config.search;
        let strong = search.spot_aps.min(s.query.len());
        if strong == 0 {
            return false;
        }
        strongest(&s.query, strong, &mut s.order);
        let count = spots.sums.len();
        // One slot more than spots: every posting is written at `n`, which reaches `count`
        // once every spot has been touched (the write then lands in the spare slot).
        if s.spot_hits.len() != count + 1 {
            s.spot_hits = vec![0; count + 1];
        }
        // (`prepare` made `acc` one counter per sample, zero between searches; spots are
        // fewer than samples.)
        let (acc, hits) = (&mut s.acc[..count], &mut s.spot_hits[..=count]);
        let band = search.spot_band as u32;
        let mut n = 0usize;
        for &(qv, a) in &s.order {
            let (qv, top) = (qv as u32, (qv as u32 * band).min(u16::MAX as u32));
            let cut = (qv / band).max(1);
            let (from, end) = spots.index.band_start(a, top);
            let list = &spots.index.postings[from..end];
            let skip = list.iter().take_while(|p| p.val() as u32 > top).count();
            let mut walked = 0u64;
            for &p in &list[skip..] {
                let tv = p.val() as u32;
                if tv < cut {
                    break;
                }
                walked += 1;
                let id = p.id() as usize;
                // Branch-free: the spot is always written, and counted on its first touch.
                hits[n] = id as u32;
                n += (acc[id] == 0) as usize;
                acc[id] += qv.min(tv);
            }
            s.postings += walked;
        }
        s.kept += n as u64;
        s.ranked += n as u64;
        if n == 0 {
            return false;
        }
        // Rank the touched spots (one u64 key each: similarity bits, then spot id, so that ties
        // go to the lower spot) and keep the best `c`: enough, since a spot has a sample.
        let c = search.candidates.max(k);
        let qs = qsum as f32;
        s.keys.clear();
        s.keys.extend(hits[..n].iter().map(|&id| {
            let m = std::mem::take(&mut acc[id as usize]) as f32;
            ((!(m / (qs + spots.sums[id as usize] as f32)).to_bits() as u64) << 32) | id as u64
        }));
        if s.keys.len() > c {
            s.keys.select_nth_unstable(c - 1);
            s.keys.truncate(c);
        }
        s.keys.sort_unstable();
        // The best spots until they hold `c` samples; their samples are the candidates.
        let (mut held, mut take) = (0usize, 0usize);
        for &key in &s.keys {
            let id = key as u32 as usize;
            held += (spots.first[id + 1] - spots.first[id]) as usize;
            take += 1;
            if held >= c {
                break;
            }
        }
        s.touched.clear();
        s.touched.extend(s.keys[..take].iter().map(|&key| key as u32));
        s.keys.clear();
        for &id in &s.touched {
            let (lo, hi) = (spots.first[id as usize], spots.first[id as usize + 1]);
            s.keys.extend((lo..hi).map(u64::from));
        }
        self.exact_stage(qsum, k, s);
        true
    }

    /// Stage 2: the exact distances of the candidates (sample ids in the low 32 bits of
    /// `s.keys`), the `k` best into `s.best`.
    #[inline]
    fn exact_stage(&self, qsum: u32, k: usize, s: &mut Scratch) {
        // Stage 2: exact distances of the candidates, against the query spread out densely.
        if s.qdense.len() != DENSE {
            s.qdense = vec![0; DENSE];
        }
        let Some(qdense) = s.qdense.first_chunk_mut::<DENSE>() else { unreachable!("qdense has DENSE entries") };
        for &(a, v) in &s.query {
            qdense[a as usize] = v;
        }
        // Touch every candidate's first cache line before reading any in full: the loads are
        // independent, so the memory system serves them in parallel instead of one by one.
        let mut warm = 0u32;
        for &key in &s.keys {
            let row = self.row(key as u32);
            warm ^= row.first().map_or(0, |p| p.1 as u32) ^ row.last().map_or(0, |p| p.1 as u32);
        }
        std::hint::black_box(warm);
        s.best.clear();
        s.exact_checks += s.keys.len() as u64;
        if k <= BEST_MAX {
            // The `k` best as `(distance bits, id)` keys (distances are in 0..=1, never -0 or
            // NaN, so their bits order them as the floats do, ties to the lower id), each new
            // one bubbled through a sorted array: no branch on the data (whether a candidate
            // beats the `k`-th best so far is a coin toss the predictor loses).
            let mut top = [u64::MAX; BEST_MAX];
            for &key in &s.keys {
                let id = key as u32;
                let (m, tsum) = Self::overlap(qdense, self.row(id));
                let mut x = (dist(m, qsum, tsum).to_bits() as u64) << 32 | id as u64;
                for t in &mut top[..k] {
                    let lo = (*t).min(x);
                    x = (*t).max(x);
                    *t = lo;
                }
            }
            let found = top[..k].iter().take_while(|&&t| t != u64::MAX);
            s.best.extend(found.map(|&t| (f32::from_bits((t >> 32) as u32), t as u32)));
        } else {
            for &key in &s.keys {
                let id = key as u32;
                let (m, tsum) = Self::overlap(qdense, self.row(id));
                insert_best(&mut s.best, k, dist(m, qsum, tsum), id);
            }
        }
        for &(a, _) in &s.query {
            qdense[a as usize] = 0;
        }
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

    /// Locate one fingerprint; `None` when it shares no access point with any sample. Votes
    /// are counted in `s` (no allocation but the returned zone list).
    pub fn estimate(&self, fp: &Fingerprint, s: &mut Scratch) -> Option<Estimate> {
        let k = self.config.k;
        self.search(fp, k, s);
        let best = &s.best;
        let nearest = best.first()?.0;
        // Each neighbour's weight `1 / (d + 1e-3)` and label, once (the three votes below
        // read them; the same values, in the same order, as computing them in each vote).
        let nb = &mut s.neighbours;
        nb.clear();
        nb.extend(best.iter().map(|&(d, id)| (1.0 / (d + WEIGHT_EPS), self.labels[id as usize])));
        // Building, then floor within it: weighted votes (ties to the lower id).
        let votes = &mut s.bvotes;
        votes.clear();
        for &(wt, l) in nb.iter() {
            match votes.iter_mut().find(|v| v.0 == l.building) {
                Some(v) => v.1 += wt,
                None => votes.push((l.building, wt)),
            }
        }
        let building = votes.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?.0;
        let fvotes = &mut s.fvotes;
        fvotes.clear();
        for &(wt, l) in nb.iter().filter(|n| n.1.building == building) {
            match fvotes.iter_mut().find(|v| v.0 == l.floor) {
                Some(v) => v.1 += wt,
                None => fvotes.push((l.floor, wt)),
            }
        }
        let floor = fvotes.iter().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?.0;
        let (mut sx, mut sy, mut sw) = (0.0f64, 0.0f64, 0.0f64);
        let zones = &mut s.zvotes;
        zones.clear();
        let mut zw = 0.0f32;
        for &(wt, l) in nb.iter().filter(|n| n.1.building == building && n.1.floor == floor) {
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
        for z in zones.iter_mut() {
            z.1 /= zw;
        }
        zones.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Some(Estimate {
            building,
            floor,
            zone: zones.first().map(|z| z.0),
            zones: zones.to_vec(),
            pos: (sw > 0.0).then(|| (sx / sw, sy / sw)),
            nearest,
        })
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
            devices: if self.devices.iter().any(|&d| d != 0) { self.devices.clone() } else { Vec::new() },
            spots: self.spots.as_ref().map_or_else(Vec::new, |sp| sp.first.clone()),
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
        if !m.devices.is_empty() && m.devices.len() != m.samples.len() {
            return Err(bad(format!("{} devices for {} samples", m.devices.len(), m.samples.len())));
        }
        let devices = m.devices.into_iter().chain(std::iter::repeat(0));
        let groups = (!m.spots.is_empty()).then(|| spots_from_bounds(&m.spots, m.samples.len())).transpose().map_err(bad)?;
        let samples = m.samples.into_iter().zip(devices).map(|((l, fp), d)| (l, fp, d)).collect();
        Self::build(m.config, m.aps, m.zones, samples, groups).map_err(|e| bad(e.to_string()))
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
        let q = Fingerprint(vec![(0, -50.0), (1, -70.0), (2, -90.0)]);
        let mut sc = Scratch::default();
        // The exhaustive search finds every sample sharing an access point; the fast one the
        // samples within the band of a strong access point; both give exact distances.
        for (search, found) in [(Search::EXHAUSTIVE, 5), (Search::default(), 2)] {
            let m = Model::train(ModelConfig { search, ..Default::default() }, &s).unwrap();
            let got = m.neighbours(&q, 5, &mut sc).to_vec();
            assert_eq!(got.len(), found, "{search:?}");
            for (d, id) in got {
                let want = sorensen(&m.config.repr, &q, m.sample(id).unwrap().1, 4);
                assert!((d - want).abs() < 1e-5, "sample {id}: {d} vs {want}");
            }
            // Sorted nearest first; a second query reuses the scratch cleanly.
            let again = m.neighbours(&q, 5, &mut sc).to_vec();
            assert!(again.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }

    /// The two-stage search written plainly: every sample in the band of a strong access
    /// point gets its partial overlap, all of them are ranked by `(similarity, id)`, the best
    /// `c` are checked exactly. What the pruned walk and ranking must equal.
    fn two_stage_plainly(m: &Model, fp: &Fingerprint, k: usize) -> Vec<(f32, u32)> {
        let search = m.config.search;
        let mut q: Vec<(u16, u16)> = fp.0.iter().map(|&(a, r)| (a, quantize(&m.config.repr, r))).collect();
        q.sort_unstable_by_key(|x| x.0);
        q.dedup_by_key(|x| x.0);
        let qsum: u32 = q.iter().map(|x| x.1 as u32).sum();
        let mut order: Vec<(u16, u16)> = q.iter().map(|&(a, v)| (v, a)).collect();
        order.sort_unstable_by(|x, y| y.cmp(x));
        let strong = search.strong_aps.min(order.len());
        let shift = usize::BITS - (strong.max(1) - 1).leading_zeros();
        let mut partial = vec![0u32; m.len()];
        for &(qv, a) in &order[..strong] {
            let top = (qv as u32 * search.posting_top as u32).min(u16::MAX as u32) as u16;
            let cut = (qv / search.posting_cut).max(1);
            for (id, row) in (0..m.len() as u32).map(|id| (id, m.row(id))) {
                if let Some(&(_, tv)) = row[1..].iter().find(|e| e.0 == a)
                    && (cut..=top).contains(&tv)
                {
                    partial[id as usize] += ((qv.min(tv) >> shift).max(1)) as u32;
                }
            }
        }
        let qs = qsum as f32 / (1u32 << m.index.sum_shift) as f32;
        let mut keys: Vec<u64> = (0..m.len())
            .filter(|&id| partial[id] > 0)
            .map(|id| {
                let sim = partial[id] as f32 / (qs + (m.sums[id] >> m.index.sum_shift) as f32);
                ((!sim.to_bits() as u64) << 32) | id as u64
            })
            .collect();
        keys.sort_unstable();
        keys.truncate(search.candidates.max(k));
        nearest_plainly(m, &q.iter().copied().collect(), qsum, keys.iter().map(|&key| key as u32), k)
    }

    /// The `k` nearest of samples `ids` to the query `qd` (access point → quantized value,
    /// feature sum `qsum`), by their rows, nearest first (ties: lower id).
    fn nearest_plainly(
        m: &Model,
        qd: &std::collections::HashMap<u16, u16>,
        qsum: u32,
        ids: impl Iterator<Item = u32>,
        k: usize,
    ) -> Vec<(f32, u32)> {
        let mut best: Vec<(f32, u32)> = ids
            .map(|id| {
                let mm: u32 = m.row(id)[1..].iter().map(|&(a, tv)| qd.get(&a).map_or(0, |&qv| qv.min(tv) as u32)).sum();
                (dist(mm, qsum, m.sums[id as usize]), id)
            })
            .collect();
        best.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        best.truncate(k);
        best
    }

    /// A seeded xorshift generator for the randomized tests below.
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn the_constant_shift_walk_equals_the_general_one() {
        // Random bands (sorted strongest first) over a few counters, some already touched,
        // several limits: same counters, same kept samples, same postings walked.
        let mut next = xorshift(7u64);
        for round in 0..200 {
            let size = 64usize;
            let qv = 4 + (next() % 60_000) as u16;
            let cut = (qv / 2).max(4);
            let mut ids: Vec<u32> = (0..size as u32 - 1).collect();
            for i in (1..ids.len()).rev() {
                ids.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            let mut band: Vec<Posting> =
                ids[..40].iter().map(|&id| Posting::new(id, 1 + (next() % 65_535) as u16, (next() % 65_536) as u16)).collect();
            band.sort_by_key(|p| std::cmp::Reverse(p.val()));
            let limit = match round % 3 {
                0 => u64::MAX,
                1 => 0,
                _ => ((next() % 65_536) << 48) | 0xFFFF_FFFF_FFFF,
            };
            let mut acc: Vec<u16> = (0..size).map(|_| if next().is_multiple_of(3) { 1 + (next() % 1000) as u16 } else { 0 }).collect();
            let (mut acc2, mut hits, mut hits2) = (acc.clone(), vec![Posting::default(); size], vec![Posting::default(); size]);
            let got = walk_later::<2>(&band, qv, cut, limit, &mut acc, &mut hits, 3);
            let want = walk_later_dyn(&band, qv, cut, limit, 2, &mut acc2, &mut hits2, 3);
            assert_eq!(got, want, "round {round}");
            assert_eq!(acc, acc2, "round {round}");
            assert_eq!(hits[..got.0].iter().map(|p| p.0).collect::<Vec<_>>(), hits2[..want.0].iter().map(|p| p.0).collect::<Vec<_>>());
        }
    }

    #[test]
    fn pruned_first_stage_equals_ranking_every_sample_in_the_bands() {
        // A seeded site with geometry (log-distance readings), so that the bands hold many
        // samples and the floor prunes; several search settings.
        let mut next = xorshift(99u64);
        let aps: Vec<(f64, f64)> = (0..40).map(|_| ((next() % 1000) as f64 / 10.0, (next() % 600) as f64 / 10.0)).collect();
        let mut fp = || {
            let (px, py) = ((next() % 1000) as f64 / 10.0, (next() % 600) as f64 / 10.0);
            let pairs = aps
                .iter()
                .enumerate()
                .filter_map(|(i, &(ax, ay))| {
                    let d = ((px - ax).powi(2) + (py - ay).powi(2)).sqrt().max(1.0);
                    let r = (-35.0 - 30.0 * d.log10() - (next() % 9) as f64).round();
                    (r > -92.0).then_some((i as u16, r as f32))
                })
                .collect();
            Fingerprint::from_pairs(pairs)
        };
        let label = Label { building: 0, floor: 0, zone: None, pos: None };
        let samples: Vec<Sample> = (0..3000).map(|_| Sample { fp: fp(), label, device: 0, user: 0, time: 0 }).collect();
        let survey = Survey { aps: (0..40).map(|i| i.to_string()).collect(), zones: vec![], samples };
        let queries: Vec<Fingerprint> = (0..150).map(|_| fp()).collect();
        let mut pruned = 0u64;
        for search in [
            Search::default(),
            Search { strong_aps: 1, ..Search::default() },
            Search { strong_aps: 2, candidates: 8, ..Search::default() },
            Search { strong_aps: 6, posting_top: u16::MAX, ..Search::default() },
            // More strong access points than the fixed arrays hold: the general paths.
            Search { strong_aps: 10, candidates: 20, ..Search::default() },
            // Many candidates: samples first touched by a later list make the cut.
            Search { candidates: 150, ..Search::default() },
            Search { strong_aps: 3, posting_cut: 4, candidates: 400, ..Search::default() },
        ] {
            let m = Model::train(ModelConfig { search, ..Default::default() }, &survey).unwrap();
            let mut sc = Scratch::default();
            for (i, q) in queries.iter().enumerate() {
                for k in [1, 5] {
                    let got = m.neighbours(q, k, &mut sc).to_vec();
                    assert_eq!(got, two_stage_plainly(&m, q, k), "{search:?}, query {i}, k {k}");
                }
            }
            // The walk kept fewer samples than the bands hold (the floor pruned some).
            let touched: u64 = queries
                .iter()
                .map(|q| {
                    let mut o: Vec<(u16, u16)> = q.0.iter().map(|&(a, r)| (quantize(&m.config.repr, r), a)).collect();
                    o.sort_unstable_by(|x, y| y.cmp(x));
                    let strong = &o[..search.strong_aps.min(o.len())];
                    (0..m.len() as u32)
                        .filter(|&id| {
                            strong.iter().any(|&(qv, a)| {
                                let top = (qv as u32 * search.posting_top as u32).min(u16::MAX as u32) as u16;
                                m.row(id)[1..].iter().any(|e| e.0 == a && (qv / search.posting_cut).max(1) <= e.1 && e.1 <= top)
                            })
                        })
                        .count() as u64
                })
                .sum::<u64>()
                * 2;
            pruned += touched - sc.kept;
        }
        assert!(pruned > 0, "the floor pruned nothing");
    }

    #[test]
    fn two_stage_distances_are_exact_and_exhaustive_equals_the_full_walk() {
        // A seeded random site: 60 access points, 2,000 samples, 300 queries.
        let mut next = xorshift(12345u64);
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
            for k in [1, 5, 12, 20] {
                let full = exact.neighbours_full(&q, k, &mut b).to_vec();
                assert_eq!(exact.neighbours(&q, k, &mut a), &full[..], "query {i}, k {k}");
                let got = fast.neighbours(&q, k, &mut a).to_vec();
                assert!(got.windows(2).all(|w| w[0] <= w[1]));
                for (d, id) in &got {
                    let want = sorensen(&fast.config.repr, &q, fast.sample(*id).unwrap().1, 60);
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

    /// A survey of repeated scans: `points` positions on a 100 m square with 40 access points
    /// (log-distance path loss, 3 dB noise, heard above -90 dBm), `scans` scans at each by each
    /// of two phones (the second 4 dB hotter); and a query maker: a scan by a third phone
    /// within 2 m of a random survey point, with its true label.
    fn dense_site(points: usize, scans: usize, seed: u64) -> (Survey, impl FnMut() -> (Fingerprint, Label)) {
        let mut next = xorshift(seed);
        let mut unit = move || (next() % 1_000_000) as f64 / 1_000_000.0;
        let aps: Vec<(f64, f64)> = (0..40).map(|_| (unit() * 100.0, unit() * 100.0)).collect();
        let scan = {
            let aps = aps.clone();
            move |(x, y): (f64, f64), gain: f64, unit: &mut dyn FnMut() -> f64| {
                let pairs = aps
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &(ax, ay))| {
                        let d = ((ax - x).powi(2) + (ay - y).powi(2)).sqrt().max(1.0);
                        let noise = (unit() + unit() + unit() - 1.5) * 6.0;
                        let r = (-35.0 - 30.0 * d.log10() + gain + noise).round();
                        (r > -90.0).then_some((i as u16, r as f32))
                    })
                    .collect();
                Fingerprint::from_pairs(pairs)
            }
        };
        let mut samples = Vec::new();
        let places: Vec<(f64, f64)> = (0..points).map(|_| (unit() * 100.0, unit() * 100.0)).collect();
        for (i, &p) in places.iter().enumerate() {
            for device in 0..2u32 {
                for _ in 0..scans {
                    let label = Label { building: 0, floor: (i % 2) as i16, zone: None, pos: Some(p) };
                    samples.push(Sample { fp: scan(p, 4.0 * device as f64, &mut unit), label, device, user: 0, time: 0 });
                }
            }
        }
        let survey = Survey { aps: (0..40).map(|i| format!("ap{i}")).collect(), zones: vec![], samples };
        let query = move || {
            let i = (unit() * places.len() as f64) as usize % places.len();
            let at = (places[i].0 + unit() * 4.0 - 2.0, places[i].1 + unit() * 4.0 - 2.0);
            (scan(at, 2.0, &mut unit), Label { building: 0, floor: (i % 2) as i16, zone: None, pos: Some(at) })
        };
        (survey, query)
    }

    /// The spot search done plainly: spot means from the model's rows, every spot's partial
    /// overlap over the query's strongest access points in the band, the best spots until
    /// they hold `candidates` samples, and those samples' exact distances.
    fn spot_stage_plainly(m: &Model, fp: &Fingerprint, k: usize) -> Vec<(f32, u32)> {
        let (search, spots) = (m.config.search, m.spots.as_ref().expect("spots"));
        let qd: std::collections::HashMap<u16, u16> = fp.0.iter().map(|&(a, r)| (a, quantize(&m.config.repr, r))).collect();
        let qsum: u32 = qd.values().map(|&v| v as u32).sum();
        let mut order: Vec<(u16, u16)> = qd.iter().map(|(&a, &v)| (v, a)).collect();
        order.sort_unstable_by(|x, y| y.cmp(x));
        order.truncate(search.spot_aps);
        let mut keys = Vec::new();
        for (j, w) in spots.first.windows(2).enumerate() {
            let members = w[0]..w[1];
            let mean = |a: u16| {
                let total: u64 = members.clone().map(|id| m.row(id)[1..].iter().find(|e| e.0 == a).map_or(0, |e| e.1 as u64)).sum();
                let n = members.len() as u64;
                ((total * 2 + n) / (2 * n)) as u32
            };
            let (mut partial, mut touched) = (0u32, false);
            for &(qv, a) in &order {
                let (qv, t) = (qv as u32, mean(a));
                let band = search.spot_band as u32;
                if t > 0 && t >= (qv / band).max(1) && t <= (qv * band).min(u16::MAX as u32) {
                    partial += qv.min(t);
                    touched = true;
                }
            }
            let sum: u32 = (0..m.aps.len() as u16).map(mean).sum();
            assert_eq!(sum, spots.sums[j], "spot {j}'s sum");
            if touched {
                keys.push(((!(partial as f32 / (qsum as f32 + sum as f32)).to_bits() as u64) << 32) | j as u64);
            }
        }
        keys.sort_unstable();
        let c = search.candidates.max(k);
        let mut ids = Vec::new();
        for key in keys {
            if ids.len() >= c {
                break;
            }
            let j = key as u32 as usize;
            ids.extend(spots.first[j]..spots.first[j + 1]);
        }
        nearest_plainly(m, &qd, qsum, ids.into_iter(), k)
    }

    #[test]
    fn spots_group_one_phone_at_one_position_and_the_search_equals_its_plain_form() {
        // 150 points, 9 scans by each of 2 phones: spots of at most 4 split each group in 3.
        let (survey, mut query) = dense_site(150, 9, 99);
        // Exact positions, then cells of 5 m (the default) and 20 m (several points a spot).
        let exact = Search { spot_cell: 0, ..Search::default() };
        for search in [
            exact,
            Search { spot_size: 4, candidates: 12, ..exact },
            Search { spot_aps: 3, spot_band: 2, ..exact },
            Search::default(),
            Search { spot_cell: 20, spot_size: 40, ..Search::default() },
        ] {
            let m = Model::train(ModelConfig { search, ..Default::default() }, &survey).unwrap();
            let spots = m.spots.as_ref().expect("repeated scans make spots");
            if search.spot_cell == 0 {
                assert_eq!(spots.first.len() - 1, 300 * 9_usize.div_ceil(search.spot_size.min(9)), "{search:?}");
            }
            // A spot's place: building, floor, phone and position (or cell).
            let place = |i: usize| {
                let (l, c) = (m.labels[i], search.spot_cell.max(1) as f64);
                let (x, y) = l.pos.unwrap_or_default();
                let (x, y) = if search.spot_cell == 0 { (x, y) } else { ((x / c).floor(), (y / c).floor()) };
                (l.building, l.floor, m.devices[i], x.to_bits(), y.to_bits())
            };
            let mut sizes: std::collections::HashMap<_, Vec<usize>> = Default::default();
            for w in spots.first.windows(2) {
                let (a, b) = (w[0] as usize, w[1] as usize);
                assert!(b - a <= search.spot_size);
                assert!((a..b).all(|i| place(i) == place(a)), "spot {a}..{b} mixes places or phones ({search:?})");
                sizes.entry(place(a)).or_default().push(b - a);
            }
            // Each place's samples are split into as few spots as the size allows.
            for v in sizes.values() {
                assert_eq!(v.len(), v.iter().sum::<usize>().div_ceil(search.spot_size), "{v:?} ({search:?})");
            }
            let mut sc = Scratch::default();
            for i in 0..200 {
                let q = query().0;
                for k in [1, 5] {
                    let got = m.neighbours(&q, k, &mut sc).to_vec();
                    assert_eq!(got, spot_stage_plainly(&m, &q, k), "{search:?}, query {i}, k {k}");
                }
            }
            assert_eq!(sc.full_walks, 0);
        }
    }

    #[test]
    fn spot_search_is_as_accurate_as_the_exhaustive_one_and_only_where_scans_repeat() {
        let (survey, mut query) = dense_site(200, 6, 7);
        let fast = Model::train(ModelConfig::default(), &survey).unwrap();
        let exact = Model::train(ModelConfig { search: Search::EXHAUSTIVE, ..Default::default() }, &survey).unwrap();
        assert!(fast.spots.is_some() && exact.spots.is_none());
        let plain =
            Model::train(ModelConfig { search: Search { spot_aps: 0, ..Search::default() }, ..Default::default() }, &survey).unwrap();
        let (mut a, mut b) = (Scratch::default(), Scratch::default());
        let mut errors = [0.0f64; 3];
        for i in 0..400 {
            let (q, truth) = query();
            for (j, m) in [&fast, &plain, &exact].into_iter().enumerate() {
                let e = m.estimate(&q, &mut a).unwrap();
                errors[j] += crate::metrics::outcome(&truth, &e).error_m.unwrap() / 400.0;
            }
            for &(d, id) in fast.neighbours(&q, 5, &mut b) {
                let want = sorensen(&fast.config.repr, &q, fast.sample(id).unwrap().1, 40);
                assert!((d - want).abs() < 1e-5, "query {i}: sample {id} at {d}, exactly {want}");
            }
        }
        // Measured: 3.28 m (spots), 3.31 m (samples), 3.35 m (exhaustive); ~36 exact checks.
        let [spots, samples, exhaustive] = errors;
        assert!(
            spots <= exhaustive * 1.05 && spots <= samples * 1.05,
            "mean error {spots:.2} m by spot, {samples:.2} m by sample, {exhaustive:.2} m exhaustively"
        );
        assert!(b.exact_checks < 400 * 48, "{} exact checks for 400 queries", b.exact_checks);
        // Single scans at distinct places, or positions missing (zones are areas, not spots):
        // no spots, the sample search.
        let (mut single, _) = dense_site(200, 1, 7);
        single.samples.retain(|s| s.device == 0);
        assert!(Model::train(ModelConfig::default(), &single).unwrap().spots.is_none());
        let mut zoned = survey.clone();
        zoned.samples.iter_mut().for_each(|s| s.label.pos = None);
        assert!(Model::train(ModelConfig::default(), &zoned).unwrap().spots.is_none());
    }

    #[test]
    fn a_spot_search_that_touches_every_spot_leaves_nothing_behind() {
        // Three zones of 6 scans at one position each: 3 spots, and every query touches all
        // of them (the walk's last write then lands past the touched list: it once overwrote
        // a touched spot, whose count then leaked into the next query).
        let plan =
            [(0u32, [-45.0f32, -75.0, -80.0], (1.0, 1.0)), (1, [-72.0, -48.0, -85.0], (5.0, 1.0)), (2, [-82.0, -88.0, -50.0], (9.0, 9.0))];
        let samples = plan
            .iter()
            .flat_map(|&(z, r, p)| {
                (0..6).map(move |t| Sample {
                    fp: Fingerprint(r.iter().enumerate().map(|(a, &v)| (a as u16, v + (t % 5 - 2) as f32)).collect()),
                    label: Label { building: 0, floor: 0, zone: Some(z), pos: Some(p) },
                    device: 0,
                    user: 0,
                    time: 0,
                })
            })
            .collect();
        let survey = Survey { aps: (0..3).map(|i| format!("ap{i}")).collect(), zones: vec!["a".into(), "b".into(), "c".into()], samples };
        let m = Model::train(ModelConfig::default(), &survey).unwrap();
        assert_eq!(m.spots.as_ref().map(|s| s.first.len()), Some(4));
        let mut reused = Scratch::default();
        for q in [[-60.0, -60.0, -60.0], [-45.0, -75.0, -80.0], [-72.0, -50.0, -84.0], [-60.0, -60.0, -60.0], [-80.0, -90.0, -51.0]] {
            let q = Fingerprint(q.iter().enumerate().map(|(a, &v)| (a as u16, v)).collect());
            assert_eq!(m.estimate(&q, &mut reused), m.estimate(&q, &mut Scratch::default()), "{q:?}");
        }
        let e = m.estimate(&Fingerprint(vec![(0, -45.0), (1, -75.0), (2, -80.0)]), &mut reused).unwrap();
        assert_eq!(e.zone, Some(0));
    }

    #[test]
    fn a_saved_model_keeps_its_spots() {
        let (survey, mut query) = dense_site(60, 7, 3);
        let m = Model::train(ModelConfig { search: Search { spot_size: 3, ..Search::default() }, ..Default::default() }, &survey).unwrap();
        let json = m.to_json();
        let back = Model::from_json(&json, "m.json").unwrap();
        assert_eq!(back.spots.as_ref().map(|s| &s.first), m.spots.as_ref().map(|s| &s.first));
        let (mut a, mut b) = (Scratch::default(), Scratch::default());
        for _ in 0..100 {
            let q = query().0;
            assert_eq!(m.estimate(&q, &mut a), back.estimate(&q, &mut b));
        }
        // Saved bounds are not used by a search without spots.
        let off = json.replacen("\"spot_aps\":8", "\"spot_aps\":0", 1);
        assert_ne!(off, json);
        assert!(Model::from_json(&off, "m.json").unwrap().spots.is_none());
        let broken = json.replacen("\"spots\":[0,", "\"spots\":[1,", 1);
        assert_ne!(broken, json);
        let e = Model::from_json(&broken, "m.json").unwrap_err().to_string();
        assert!(e.contains("m.json") && e.contains("spots must rise"), "{e}");
    }

    #[test]
    fn search_settings_parse_with_or_without_the_spot_settings() {
        assert_eq!("4,2,2,32".parse::<Search>(), Ok(Search::default()));
        let s: Search = "5, 3, 2, 20, 6, 2, 8".parse().unwrap();
        assert_eq!(
            (s.strong_aps, s.posting_cut, s.posting_top, s.candidates, s.spot_aps, s.spot_band, s.spot_size),
            (5, 3, 2, 20, 6, 2, 8)
        );
        assert_eq!(s.spot_cell, Search::default().spot_cell);
        assert_eq!("4,2,2,32,8,3,16,0".parse::<Search>().map(|s| s.spot_cell), Ok(0));
        for bad in ["4,2,2", "4,2,x,32", "4,70000,2,32", "", "4,2,2,32,8,3", "4,2,2,32,8,3,16,0,1"] {
            assert!(bad.parse::<Search>().is_err(), "{bad}");
        }
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
        for r in [-128.0, -104.0, -70.0, -70.5, -0.0, 0.0, 3.0, -200.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -3e9, 1e10] {
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
