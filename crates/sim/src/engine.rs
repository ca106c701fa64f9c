//! The simulation loop: devices (phones, staff phones, fixed terminals), their MACs and probe
//! bursts, the radio evaluation of every frame at every sensor, and the day-by-day run that
//! streams frames in time order and fills the truth.
//!
//! This module owns the order of random draws (each device and each shopper-day has its own
//! derived stream) and the time ordering of frames. It must not write files or format output;
//! it hands frames to a callback.

use crate::app::{self, App};
use crate::layout::Layout;
use crate::people::{self, Track};
use crate::radio;
use crate::rng::Rng;
use crate::truth::{PersonDay, PersonTruth, TruthBuilder};
use crate::{Frame, SimConfig, SimError, SimOutput, Transaction};
use chrono::{Datelike, Weekday};
use footfall_core::Millis;
use footfall_core::geometry::Point;
use footfall_core::time::{HOUR, LocalCalendar, LocalDay, MINUTE, date_of_day, day_of_date};

/// Channels of a probe burst, in scan order (MHz).
pub const CHANNELS_MHZ: [u16; 3] = [2412, 2437, 2462];
/// Probability that a frame carries the broadcast address as source (to exercise filters).
pub const BROADCAST_SHARE: f64 = 0.001;
/// The broadcast address.
pub const BROADCAST: [u8; 6] = [0xff; 6];
/// Vendor-style OUIs for phones (Apple, Samsung, Google, Xiaomi, Huawei style prefixes).
const PHONE_OUIS: [[u8; 3]; 9] = [
    [0x3c, 0x07, 0x54],
    [0xf0, 0xd1, 0xa9],
    [0xa4, 0x5e, 0x60],
    [0x00, 0x1b, 0x63],
    [0x8c, 0x71, 0xf8],
    [0x00, 0x16, 0x32],
    [0xf4, 0xf5, 0xd8],
    [0x64, 0x09, 0x80],
    [0x00, 0xe0, 0xfc],
];
/// Vendor-style OUIs for payment terminals and printers.
const FIXED_OUIS: [[u8; 3]; 4] = [[0x00, 0x03, 0x81], [0x00, 0x0b, 0x4f], [0x3c, 0xd9, 0x2b], [0x00, 0x26, 0xab]];

const TAG_WORLD: u64 = 1;
const TAG_REGULAR: u64 = 2;
const TAG_STAFF: u64 = 3;
const TAG_FIXED: u64 = 4;
const TAG_DAY: u64 = 5;
const TAG_SHOPPER: u64 = 6;
const TAG_PHONE: u64 = 7;
const TAG_STAFF_DAY: u64 = 8;
const TAG_PHONELESS: u64 = 9;
const TAG_APP: u64 = 10;
const TAG_APP_DAY: u64 = 11;
const TAG_PING: u64 = 12;

/// One radio: its MAC, gain offset, probing rhythm, sequence counter and own random stream.
#[derive(Clone, Debug)]
struct Phone {
    mac: [u8; 6],
    randomized: bool,
    offset: f64,
    burst_mean_s: f64,
    seq: u16,
    rng: Rng,
    mac_key: Option<(LocalDay, i64)>,
    rot_phase: Millis,
}

/// Hands out globally unique, universally administered MACs.
struct MacFactory {
    counter: u32,
    salt: u32,
}

impl MacFactory {
    fn global(&mut self, ouis: &[[u8; 3]], rng: &mut Rng) -> [u8; 6] {
        let o = ouis[rng.below(ouis.len() as u64) as usize];
        // An odd multiplier is a bijection mod 2^24, so MACs never repeat within a run.
        let nic = (self.counter.wrapping_mul(0x9E_37_79) ^ self.salt) & 0xFF_FFFF;
        self.counter += 1;
        [o[0], o[1], o[2], (nic >> 16) as u8, (nic >> 8) as u8, nic as u8]
    }
}

impl Phone {
    fn new(mut rng: Rng, macs: &mut MacFactory, ouis: &[[u8; 3]], randomized: bool, burst_mean_s: f64) -> Self {
        let mac = macs.global(ouis, &mut rng);
        let offset = rng.normal(0.0, radio::DEVICE_OFFSET_SD_DB);
        let seq = rng.below(4096) as u16;
        let rot_phase = rng.below(HOUR as u64) as Millis;
        Self { mac, randomized, offset, burst_mean_s, seq, rng, mac_key: None, rot_phase }
    }

    /// The MAC in use at `ts`: fixed, or a locally administered one renewed every rotation
    /// period and every day.
    fn mac_at(&mut self, day: LocalDay, ts: Millis, rotation: Millis) -> [u8; 6] {
        if self.randomized {
            let key = (day, (ts - self.rot_phase).div_euclid(rotation));
            if self.mac_key != Some(key) {
                let b = self.rng.next_u64().to_le_bytes();
                self.mac = [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]];
                self.mac_key = Some(key);
            }
        }
        self.mac
    }
}

struct Fixed {
    pos: Point,
    phone: Phone,
    next: Millis,
}

/// Turns bursts into frames heard by sensors.
struct Emitter<'a> {
    layout: &'a Layout,
    rotation: Millis,
    out: Vec<Frame>,
}

impl Emitter<'_> {
    fn burst(&mut self, phone: &mut Phone, day: LocalDay, t: Millis, pos: &dyn Fn(Millis) -> Point) {
        let n = 1 + phone.rng.below(3) as usize;
        for (k, &freq) in CHANNELS_MHZ.iter().enumerate().take(n) {
            let ts = t + 20 * k as Millis + phone.rng.below(5) as Millis;
            let mac = if phone.rng.chance(BROADCAST_SHARE) { BROADCAST } else { phone.mac_at(day, ts, self.rotation) };
            let seq = phone.seq;
            phone.seq = (phone.seq + 1) % 4096;
            let p = pos(ts);
            let place = self.layout.place(p);
            for (i, &(sp, store)) in self.layout.sensors.iter().enumerate() {
                let mean = radio::mean_rssi(p.dist(sp), radio::walls_db(self.layout, place, store)) + phone.offset;
                if let Some(rssi) = radio::sample_rssi(mean, &mut phone.rng) {
                    self.out.push(Frame { ts, sensor: i as u16, mac, rssi, seq, freq });
                }
            }
        }
    }

    fn track(&mut self, phone: &mut Phone, day: LocalDay, track: &Track) {
        let end = track.end();
        let mut t = track.t0 + (phone.rng.uniform() * phone.burst_mean_s * 1000.0) as Millis;
        while t <= end {
            self.burst(phone, day, t, &|ts| track.at(ts));
            t += (phone.burst_mean_s * phone.rng.range(0.5, 1.5) * 1000.0) as Millis;
        }
    }
}

fn buy_probability(category: &str) -> f64 {
    match category {
        "beauty" => 0.45,
        "books" => 0.5,
        "electronics" => 0.3,
        _ => 0.35,
    }
}

/// Run the simulation, streaming frames in non-decreasing time order to `frames`.
pub fn simulate(cfg: &SimConfig, frames: &mut dyn FnMut(&Frame)) -> Result<SimOutput, SimError> {
    cfg.validate()?;
    let layout = Layout::new(cfg.stores, &cfg.timezone)?;
    run(
        cfg,
        &layout,
        &mut |f| {
            frames(f);
            Ok(())
        },
        &mut |_, _| {},
    )
}

/// The day loop behind [`simulate`] and [`crate::write_all`]; stops at the first sink error.
pub(crate) fn run(
    cfg: &SimConfig,
    layout: &Layout,
    sink: &mut dyn FnMut(&Frame) -> Result<(), SimError>,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<SimOutput, SimError> {
    let mut cal = LocalCalendar::new(cfg.validate()?);
    let seed = cfg.seed;
    let first = day_of_date(cfg.start_date);
    let n_stores = layout.stores.len();
    let mut wrng = Rng::derive(seed, &[TAG_WORLD]);
    let popularity: Vec<f64> = (0..n_stores).map(|_| wrng.lognormal(1.0, 0.6)).collect();
    let buy_p: Vec<f64> = layout.site.stores.iter().map(|s| buy_probability(&s.category)).collect();
    let mut macs = MacFactory { counter: 0, salt: (wrng.next_u64() & 0xFF_FFFF) as u32 };
    let mut regulars: Vec<(Phone, bool)> = (0..cfg.shoppers_per_day as u64)
        .map(|i| {
            let mut r = Rng::derive(seed, &[TAG_REGULAR, i]);
            let randomized = r.chance(cfg.randomized_share);
            let mean = r.range(6.0, 12.0);
            (Phone::new(r, &mut macs, &PHONE_OUIS, randomized, mean), false)
        })
        .collect();
    let regular_apps: Vec<Option<App>> = (0..cfg.shoppers_per_day as u64)
        .map(|i| App::draw(&mut Rng::derive(seed, &[TAG_APP, i]), cfg.app_share, cfg.app_consent_share))
        .collect();
    let mut people: std::collections::BTreeMap<String, PersonTruth> = Default::default();
    let mut pings = Vec::new();
    let mut app_counted: std::collections::HashSet<String> = Default::default();
    let mut staff: Vec<(u16, Phone)> = (0..n_stores * cfg.staff_per_store as usize)
        .map(|i| {
            let mut r = Rng::derive(seed, &[TAG_STAFF, i as u64]);
            // A working day's phone mostly sits idle in a pocket or locker: it scans far less
            // often than a shopper's phone in hand.
            let mean = r.range(30.0, 90.0);
            ((i / cfg.staff_per_store as usize) as u16, Phone::new(r, &mut macs, &PHONE_OUIS, false, mean))
        })
        .collect();
    let start_ms = cal.utc_of_local(first, 0, 0);
    let mut fixed: Vec<Fixed> = (0..n_stores * cfg.fixed_per_store as usize)
        .map(|i| {
            let mut r = Rng::derive(seed, &[TAG_FIXED, i as u64]);
            let s = (i / cfg.fixed_per_store as usize) as u16;
            let pos = layout.random_point(s, 2 - (i % cfg.fixed_per_store as usize) % 2, 1.0, &mut r);
            let next = start_ms + r.below(60_000) as Millis;
            Fixed { pos, phone: Phone::new(r, &mut macs, &FIXED_OUIS, false, 60.0), next }
        })
        .collect();

    let mut truth = TruthBuilder::new(cfg, layout, first);
    truth.truth.devices.staff = staff.len() as u64;
    truth.truth.devices.fixed = fixed.len() as u64;
    let mut transactions = Vec::new();
    let rotation = ((cfg.rotation_minutes * MINUTE as f64) as Millis).max(1000);
    let mut em = Emitter { layout, rotation, out: Vec::new() };
    let mut carry: Vec<Frame> = Vec::new();
    for d in 0..cfg.days {
        let day = first + d as LocalDay;
        let (ws, we) = (cal.utc_of_local(day, 0, 0), cal.utc_of_local(day + 1, 0, 0));
        em.out.append(&mut carry);
        for f in &mut fixed {
            let pos = f.pos;
            while f.next < we {
                em.burst(&mut f.phone, day, f.next, &|_| pos);
                f.next += f.phone.rng.range(50_000.0, 70_000.0) as Millis;
            }
        }
        let date = date_of_day(day);
        let hours = layout.site.stores[0].opening_hours.on(date.weekday());
        if let Some(h) = hours {
            let at = |m: u32| {
                if m >= 24 * 60 { we } else { cal.utc_of_local(day, m / 60, m % 60) }
            };
            let (open, close) = (at(h.open_min), at(h.close_min));
            for (i, (store, phone)) in staff.iter_mut().enumerate() {
                let mut r = Rng::derive(seed, &[TAG_STAFF_DAY, d as u64, i as u64]);
                let start = open - 30 * MINUTE + r.range(-1800.0, 1800.0) as Millis * 1000;
                let end = close - 30 * MINUTE + r.range(-1800.0, 1800.0) as Millis * 1000;
                let track = people::staff(layout, *store, start.max(ws), end, &mut r);
                em.track(phone, day, &track);
            }
            let mut drng = Rng::derive(seed, &[TAG_DAY, d as u64]);
            let mean = cfg.shoppers_per_day as f64 * if date.weekday() == Weekday::Sat { 1.5 } else { 1.0 };
            let n = drng.normal(mean, mean.sqrt()).round().max(0.0) as u64;
            let mut used = vec![false; regulars.len()];
            let mut day_tx = Vec::new();
            for i in 0..n {
                let mut r = Rng::derive(seed, &[TAG_SHOPPER, d as u64, i]);
                let mut regular = None;
                if !regulars.is_empty() && r.chance(cfg.returning_share) {
                    regular = (0..3).map(|_| r.below(regulars.len() as u64) as usize).find(|&k| !used[k]);
                }
                // Drawn apart from the shopper's own stream: the default (everyone has a phone)
                // gives the same output as before the option existed.
                let phoneless = cfg.phone_share < 1.0 && !Rng::derive(seed, &[TAG_PHONELESS, d as u64, i]).chance(cfg.phone_share);
                if phoneless {
                    // The regular stays home today (marked used, so the draws of the
                    // shoppers after this one do not change); this shopper has no phone.
                    if let Some(k) = regular.take() {
                        used[k] = true;
                    }
                }
                let mut one_off;
                let person = match regular {
                    Some(k) if !phoneless => format!("r{k}"),
                    _ => format!("d{d}-{i}"),
                };
                let app = match regular {
                    _ if phoneless => None,
                    Some(k) => regular_apps[k],
                    None => App::draw(&mut Rng::derive(seed, &[TAG_APP_DAY, d as u64, i]), cfg.app_share, cfg.app_consent_share),
                };
                let phone = if phoneless {
                    truth.truth.devices.phoneless_shopper_days += 1;
                    None
                } else {
                    Some(match regular {
                        Some(k) => {
                            used[k] = true;
                            let (phone, seen) = &mut regulars[k];
                            if !*seen {
                                *seen = true;
                                truth.truth.devices.shoppers += 1;
                                truth.truth.devices.randomized_shoppers += phone.randomized as u64;
                            }
                            phone
                        }
                        None => {
                            let mut pr = Rng::derive(seed, &[TAG_PHONE, d as u64, i]);
                            let randomized = pr.chance(cfg.randomized_share);
                            let mean = pr.range(6.0, 12.0);
                            one_off = Phone::new(pr, &mut macs, &PHONE_OUIS, randomized, mean);
                            truth.truth.devices.shoppers += 1;
                            truth.truth.devices.randomized_shoppers += randomized as u64;
                            &mut one_off
                        }
                    })
                };
                truth.truth.devices.shopper_days += 1;
                let plan = people::shopper(layout, &popularity, &buy_p, open, close, &mut r);
                let seen = truth.add_track(layout, &mut cal, plan.track.t0 / 1000, &plan.track.samples);
                for &(s, ts) in &plan.purchases {
                    day_tx.push((ts, s, (r.lognormal(40.0, 0.7) * 100.0).round() / 100.0));
                }
                let mac = phone.as_ref().filter(|p| !p.randomized).map(|p| p.mac);
                if let Some(phone) = phone {
                    em.track(phone, day, &plan.track);
                }
                if let Some(a) = app {
                    if app_counted.insert(person.clone()) {
                        truth.truth.app.users += 1;
                        truth.truth.app.consenting += a.consent as u64;
                    }
                    let before = pings.len();
                    app::pings(a, &plan.track, cfg.ping_interval_s, &mut Rng::derive(seed, &[TAG_PING, d as u64, i]), &mut pings);
                    let n = (pings.len() - before) as u64;
                    truth.truth.app.pings += n;
                    if !a.consent {
                        truth.truth.app.pings_without_consent += n;
                    }
                }
                let adid = app.filter(|a| a.consent).map(|a| a.adid_text());
                if mac.is_some() || adid.is_some() {
                    let entry = people.entry(person.clone()).or_insert_with(|| PersonTruth {
                        id: person,
                        mac: mac.map(|m| String::from_utf8_lossy(&crate::write::mac_hex(&m)).into_owned()),
                        adid: adid.clone(),
                        days: Vec::new(),
                    });
                    for (s, visited, walked_by) in seen {
                        let bought = plan.purchases.iter().any(|&(ps, _)| ps == s);
                        entry.days.push(PersonDay { date, store: layout.site.stores[s as usize].id.clone(), visited, walked_by, bought });
                    }
                }
            }
            day_tx.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
            for (k, (ts, s, amount)) in day_tx.into_iter().enumerate() {
                let id = format!("T{}-{:05}", date.format("%Y%m%d"), k + 1);
                let t = Transaction { id, store: layout.site.stores[s as usize].id.clone(), ts, amount };
                truth.add_transaction(&mut cal, s, &t);
                transactions.push(t);
            }
        }
        em.out.sort_unstable_by_key(|f| (f.ts, f.sensor, f.mac, f.seq));
        let cut = if d + 1 == cfg.days { em.out.len() } else { em.out.partition_point(|f| f.ts < we) };
        for f in &em.out[..cut] {
            truth.truth.frames.total += 1;
            truth.truth.frames.broadcast += (f.mac == BROADCAST) as u64;
            sink(f)?;
        }
        carry.extend_from_slice(&em.out[cut..]);
        em.out.clear();
        progress(d + 1, cfg.days);
    }
    let mut t = truth.truth;
    t.people = people.into_values().collect();
    t.people.sort_by(|a, b| a.id.cmp(&b.id));
    pings.sort_by(|a: &app::Ping, b: &app::Ping| a.ts.cmp(&b.ts).then(a.app.adid.cmp(&b.app.adid)));
    Ok(SimOutput { site: layout.site.clone(), truth: t, transactions, present: truth.present, pings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> SimConfig {
        SimConfig { seed, days: 1, stores: 2, shoppers_per_day: 60, ..SimConfig::default() }
    }

    fn digest(cfg: &SimConfig) -> (u64, usize, SimOutput) {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut n = 0;
        let mut last = Millis::MIN;
        let out = simulate(cfg, &mut |f| {
            assert!(f.ts >= last, "frames out of order");
            last = f.ts;
            n += 1;
            let mut bytes = f.ts.to_le_bytes().to_vec();
            bytes.extend(f.sensor.to_le_bytes());
            bytes.extend(f.mac);
            bytes.extend(f.rssi.to_le_bytes());
            bytes.extend(f.seq.to_le_bytes());
            bytes.extend(f.freq.to_le_bytes());
            for b in bytes {
                h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        })
        .unwrap();
        (h, n, out)
    }

    #[test]
    fn same_seed_same_output() {
        let (a, na, oa) = digest(&small(5));
        let (b, nb, ob) = digest(&small(5));
        assert_eq!((a, na), (b, nb));
        assert_eq!(serde_json::to_string(&oa.truth).unwrap(), serde_json::to_string(&ob.truth).unwrap());
        assert_eq!(oa.transactions, ob.transactions);
        assert!(na > 1000);
        assert_ne!(digest(&small(6)).0, a);
    }

    #[test]
    fn macs_are_well_formed() {
        let cfg = SimConfig { randomized_share: 0.5, returning_share: 0.5, ..small(11) };
        let (mut local, mut global, mut bcast) = (0u64, 0u64, 0u64);
        let out = simulate(&cfg, &mut |f| {
            if f.mac == BROADCAST {
                bcast += 1;
            } else {
                assert_eq!(f.mac[0] & 0x01, 0, "group MAC emitted");
                if f.mac[0] & 0x02 != 0 { local += 1 } else { global += 1 }
            }
            assert!(CHANNELS_MHZ.contains(&f.freq) && f.seq < 4096 && f.rssi >= -90 && f.rssi < 0);
        })
        .unwrap();
        assert!(local > 0 && global > 0);
        assert_eq!(out.truth.frames.broadcast, bcast);
        assert!(bcast * 200 < out.truth.frames.total);
        let d = &out.truth.devices;
        assert!(d.randomized_shoppers > 0 && d.randomized_shoppers < d.shoppers);
        assert_eq!((d.staff, d.fixed), (4, 2));
        for o in PHONE_OUIS.iter().chain(&FIXED_OUIS) {
            assert_eq!(o[0] & 0x03, 0);
        }
    }

    #[test]
    fn randomized_phones_rotate() {
        let mut macs = MacFactory { counter: 0, salt: 0 };
        let mut p = Phone::new(Rng::new(1), &mut macs, &PHONE_OUIS, true, 8.0);
        let rot = 15 * MINUTE;
        let a = p.mac_at(0, 0, rot);
        assert_eq!(a[0] & 0x03, 0x02);
        assert_eq!(p.mac_at(0, 1000, rot), a);
        assert_ne!(p.mac_at(0, 2 * rot, rot), a);
        let b = p.mac_at(0, 2 * rot, rot);
        assert_ne!(p.mac_at(1, 2 * rot, rot), b);
        let mut q = Phone::new(Rng::new(1), &mut macs, &PHONE_OUIS, false, 8.0);
        let g = q.mac_at(0, 0, rot);
        assert_eq!(g[0] & 0x03, 0);
        assert_eq!(q.mac_at(3, 99 * rot, rot), g);
    }

    #[test]
    fn phoneless_shoppers_are_counted_but_never_heard() {
        let all = digest(&small(5));
        let half = digest(&SimConfig { phone_share: 0.5, ..small(5) });
        // The people present are the same (the shoppers' own plans do not change)...
        assert_eq!(all.2.present, half.2.present);
        assert!(!all.2.present.is_empty());
        let d = &half.2.truth.devices;
        assert!(d.phoneless_shopper_days > 0 && d.phoneless_shopper_days < d.shopper_days, "{d:?}");
        assert_eq!(all.2.truth.devices.phoneless_shopper_days, 0);
        // ...but fewer frames are heard.
        assert!(half.2.truth.frames.total < all.2.truth.frames.total);
    }

    #[test]
    fn regulars_return_and_sunday_is_closed() {
        // A week around the spring DST change (Sunday 2026-03-29, closed).
        let cfg = SimConfig {
            start_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 23).unwrap(),
            days: 7,
            stores: 2,
            shoppers_per_day: 30,
            staff_per_store: 1,
            ..SimConfig::default()
        };
        let mut last = Millis::MIN;
        let out = simulate(&cfg, &mut |f| {
            assert!(f.ts >= last);
            last = f.ts;
        })
        .unwrap();
        let d = &out.truth.devices;
        assert!(d.shoppers < d.shopper_days, "{d:?}");
        let sunday: Vec<_> = out.truth.store_days.iter().filter(|s| s.date.weekday() == Weekday::Sun).collect();
        assert_eq!(sunday.len(), 2);
        assert!(sunday.iter().all(|s| s.visits == 0 && s.walk_bys == 0 && s.transactions == 0));
        let visits: u32 = out.truth.store_days.iter().map(|s| s.visits).sum();
        let tx: u32 = out.truth.store_days.iter().map(|s| s.transactions).sum();
        assert!(visits > 50 && tx > 10 && tx < visits, "{visits} {tx}");
        assert_eq!(tx as usize, out.transactions.len());
        assert!(out.transactions.windows(2).all(|w| w[0].ts <= w[1].ts));
    }

    #[test]
    fn small_run_is_fast() {
        let cfg = SimConfig { days: 1, stores: 4, shoppers_per_day: 100, ..SimConfig::default() };
        let t = std::time::Instant::now();
        let mut n = 0u64;
        simulate(&cfg, &mut |_| n += 1).unwrap();
        assert!(t.elapsed().as_secs_f64() < 2.0, "{:?} for {n} frames", t.elapsed());
    }
}
