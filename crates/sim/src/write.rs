//! Output files of a simulation run, written atomically into one directory.
//!
//! - `site.json`: the [`footfall_core::Site`], pretty JSON (the site file format).
//! - `observations.csv`: header `time,sensor,mac,rssi`; time RFC 3339 UTC with milliseconds
//!   and `Z` (`2026-03-02T09:00:00.120Z`), sensor id, lowercase colon hex MAC, integer dBm.
//! - `observations.jsonl`: the same frames, one object per line:
//!   `{"ts":"…Z","sensor":"s1-front","mac":"…","rssi":-61,"freq":2412,"seq":17,"kind":"wifi"}`.
//! - `pos.csv`: header `transaction_id,store,time,amount` (amount with two decimals).
//! - `pings.csv`: the app feed, header `time,adid,lat,lon,accuracy_m,consent`: advertising ID
//!   as an uppercase UUID, WGS84 degrees with 7 decimals, accuracy (68% radius, m) with one
//!   decimal, consent `1` or `0`.
//! - `truth.json`: the [`crate::Truth`], pretty JSON.
//! - `counts.csv`: header `store,time,count`: shoppers inside each store at some time in each
//!   5-minute window (with or without a phone; staff not counted), as a door counter or camera
//!   system would report them for `footfall calibrate`; every window of a store's day from
//!   its first to its last window with someone inside, zeros included.
//! - `observations.pcapng`, only with [`WriteOptions::pcapng`]: the same frames as a pcapng
//!   capture of radiotap probe requests, one interface per sensor named by its id (format
//!   in [`crate::pcap_out`]).
//!
//! Frames are globally sorted by time. Every file is written to `<name>.tmp` and renamed only
//! once all of them are complete; on failure the `.tmp` files are removed. This module owns
//! formats and files; it must not make any simulation decision.

use crate::engine::run;
use crate::layout::Layout;
use crate::pcap_out::PcapngEncoder;
use crate::truth::COUNT_WINDOW_S;
use crate::{SimConfig, SimError};
use footfall_core::Millis;
use footfall_core::time::{DAY, HOUR, MINUTE, SECOND, format_rfc3339};
use serde::Serialize;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What [`write_all`] produced.
#[derive(Clone, Debug, Serialize)]
pub struct SimSummary {
    pub out_dir: PathBuf,
    pub days: u32,
    /// Frame records (lines of `observations.csv`).
    pub frames: u64,
    pub broadcast_frames: u64,
    pub visits: u64,
    pub walk_bys: u64,
    pub transactions: u64,
    pub pings: u64,
    /// File name and size in bytes, in writing order.
    pub files: Vec<(String, u64)>,
}

/// A file written under a temporary name; removed on drop unless committed.
struct TmpFile {
    w: Option<BufWriter<File>>,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io { path: path.to_path_buf(), source }
}

impl TmpFile {
    fn create(dir: &Path, name: &str) -> Result<Self, SimError> {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let f = File::create(&tmp).map_err(io_err(&tmp))?;
        Ok(Self { w: Some(BufWriter::with_capacity(1 << 20, f)), tmp, path, committed: false })
    }

    fn write(&mut self, b: &[u8]) -> Result<(), SimError> {
        match &mut self.w {
            Some(w) => w.write_all(b).map_err(io_err(&self.tmp)),
            None => Ok(()),
        }
    }

    /// Flush and close; returns the size in bytes.
    fn close(&mut self) -> Result<u64, SimError> {
        if let Some(w) = self.w.take() {
            let f = w.into_inner().map_err(|e| SimError::Io { path: self.tmp.clone(), source: e.into_error() })?;
            f.sync_all().map_err(io_err(&self.tmp))?;
        }
        Ok(fs::metadata(&self.tmp).map_err(io_err(&self.tmp))?.len())
    }

    fn commit(&mut self) -> Result<(), SimError> {
        fs::rename(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.committed {
            self.w.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Formats UTC milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, caching the date part.
struct TsFmt {
    day: i64,
    date: [u8; 11],
}

impl TsFmt {
    fn new() -> Self {
        Self { day: i64::MIN, date: [0; 11] }
    }

    fn format(&mut self, ts: Millis) -> [u8; 24] {
        let day = ts.div_euclid(DAY);
        if day != self.day {
            let s = format_rfc3339(day * DAY);
            if let Some(d) = s.as_bytes().get(..11) {
                self.date.copy_from_slice(d);
            }
            self.day = day;
        }
        let r = ts.rem_euclid(DAY);
        let mut out = [0u8; 24];
        out[..11].copy_from_slice(&self.date);
        let mut put = |at: usize, v: i64, n: usize| {
            for i in 0..n {
                out[at + n - 1 - i] = b'0' + (v / 10i64.pow(i as u32) % 10) as u8;
            }
        };
        put(11, r / HOUR, 2);
        put(14, r / MINUTE % 60, 2);
        put(17, r / SECOND % 60, 2);
        put(20, r % 1000, 3);
        out[13] = b':';
        out[16] = b':';
        out[19] = b'.';
        out[23] = b'Z';
        out
    }
}

pub(crate) fn mac_hex(mac: &[u8; 6]) -> [u8; 17] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b':'; 17];
    for (i, b) in mac.iter().enumerate() {
        out[i * 3] = HEX[(b >> 4) as usize];
        out[i * 3 + 1] = HEX[(b & 15) as usize];
    }
    out
}

/// What [`write_all_with`] writes besides the five standard files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Also write `observations.pcapng`.
    pub pcapng: bool,
}

/// Run the simulation and write all output files into `out_dir` (created if missing).
/// `progress(day_done, days)` is called after each simulated day.
pub fn write_all(cfg: &SimConfig, out_dir: &Path, progress: &mut dyn FnMut(u32, u32)) -> Result<SimSummary, SimError> {
    write_all_with(cfg, out_dir, &WriteOptions::default(), progress)
}

/// [`write_all`], with the optional outputs of `opts`.
pub fn write_all_with(
    cfg: &SimConfig,
    out_dir: &Path,
    opts: &WriteOptions,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<SimSummary, SimError> {
    cfg.validate()?;
    let layout = Layout::new(cfg.stores, &cfg.timezone)?;
    fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let mut csv = TmpFile::create(out_dir, "observations.csv")?;
    let mut jsonl = TmpFile::create(out_dir, "observations.jsonl")?;
    csv.write(b"time,sensor,mac,rssi\n")?;
    let names: Vec<&str> = layout.site.sensors.iter().map(|s| s.id.as_str()).collect();
    let mut pcap = match opts.pcapng {
        true => {
            let mut f = TmpFile::create(out_dir, "observations.pcapng")?;
            f.write(&PcapngEncoder::header(&names))?;
            Some((f, PcapngEncoder::new()))
        }
        false => None,
    };
    let mut fmt = TsFmt::new();
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let out = run(
        cfg,
        &layout,
        &mut |f| {
            let ts = fmt.format(f.ts);
            let mac = mac_hex(&f.mac);
            let sensor = names[f.sensor as usize].as_bytes();
            line.clear();
            line.extend_from_slice(&ts);
            line.push(b',');
            line.extend_from_slice(sensor);
            line.push(b',');
            line.extend_from_slice(&mac);
            let _ = writeln!(line, ",{}", f.rssi);
            csv.write(&line)?;
            line.clear();
            line.extend_from_slice(b"{\"ts\":\"");
            line.extend_from_slice(&ts);
            line.extend_from_slice(b"\",\"sensor\":\"");
            line.extend_from_slice(sensor);
            line.extend_from_slice(b"\",\"mac\":\"");
            line.extend_from_slice(&mac);
            let _ = writeln!(line, "\",\"rssi\":{},\"freq\":{},\"seq\":{},\"kind\":\"wifi\"}}", f.rssi, f.freq, f.seq);
            jsonl.write(&line)?;
            if let Some((file, enc)) = &mut pcap {
                file.write(enc.frame(f))?;
            }
            Ok(())
        },
        progress,
    )?;

    let mut site = TmpFile::create(out_dir, "site.json")?;
    site.write(&pretty("site", &out.site)?)?;
    let mut pos = TmpFile::create(out_dir, "pos.csv")?;
    pos.write(b"transaction_id,store,time,amount\n")?;
    for t in &out.transactions {
        let ts = fmt.format(t.ts);
        line.clear();
        line.extend_from_slice(format!("{},{},", t.id, t.store).as_bytes());
        line.extend_from_slice(&ts);
        let _ = writeln!(line, ",{:.2}", t.amount);
        pos.write(&line)?;
    }
    let mut pings = TmpFile::create(out_dir, "pings.csv")?;
    pings.write(b"time,adid,lat,lon,accuracy_m,consent\n")?;
    for p in &out.pings {
        line.clear();
        line.extend_from_slice(&fmt.format(p.ts));
        let _ = writeln!(line, ",{},{:.7},{:.7},{:.1},{}", p.app.adid_text(), p.lat, p.lon, p.accuracy_m, p.app.consent as u8);
        pings.write(&line)?;
    }
    let mut truth = TmpFile::create(out_dir, "truth.json")?;
    truth.write(&pretty("truth", &out.truth)?)?;
    let mut counts = TmpFile::create(out_dir, "counts.csv")?;
    counts.write(b"store,time,count\n")?;
    // A counter reports zeros too: every window of a store-day from its first to its last
    // window with someone inside.
    let mut rows: Vec<((u16, Millis), u32)> = Vec::new();
    for (&(s, ts), &n) in &out.present {
        if let Some(&((ps, pts), _)) = rows.last()
            && ps == s
            && pts.div_euclid(DAY) == ts.div_euclid(DAY)
        {
            let mut w = pts + COUNT_WINDOW_S * 1000;
            while w < ts {
                rows.push(((s, w), 0));
                w += COUNT_WINDOW_S * 1000;
            }
        }
        rows.push(((s, ts), n));
    }
    for &((s, ts), n) in &rows {
        line.clear();
        line.extend_from_slice(out.site.stores[s as usize].id.as_bytes());
        line.push(b',');
        line.extend_from_slice(&fmt.format(ts));
        let _ = writeln!(line, ",{n}");
        counts.write(&line)?;
    }

    let mut files = vec![site, csv, jsonl];
    files.extend(pcap.map(|p| p.0));
    files.extend([pos, pings, truth, counts]);
    let mut sizes = Vec::new();
    for f in &mut files {
        let n = f.close()?;
        sizes.push((f.path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(), n));
    }
    for f in &mut files {
        f.commit()?;
    }
    let sd = &out.truth.store_days;
    Ok(SimSummary {
        out_dir: out_dir.to_path_buf(),
        days: cfg.days,
        frames: out.truth.frames.total,
        broadcast_frames: out.truth.frames.broadcast,
        visits: sd.iter().map(|s| s.visits as u64).sum(),
        walk_bys: sd.iter().map(|s| s.walk_bys as u64).sum(),
        transactions: out.transactions.len() as u64,
        pings: out.pings.len() as u64,
        files: sizes,
    })
}

fn pretty<T: Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, SimError> {
    let mut out = serde_json::to_vec_pretty(v).map_err(|source| SimError::Json { what, source })?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_and_mac_formatting() {
        let mut f = TsFmt::new();
        for ts in [0, 1_772_442_000_120, 1_772_441_999_999, 1_772_528_399_001, 1_772_528_400_000] {
            assert_eq!(std::str::from_utf8(&f.format(ts)).unwrap(), format_rfc3339(ts));
        }
        assert_eq!(&mac_hex(&[0xda, 0xa1, 0x19, 0, 0x0f, 0xff]), b"da:a1:19:00:0f:ff");
    }

    #[test]
    fn writes_all_files_consistently() {
        let dir = std::env::temp_dir().join(format!("footfall-sim-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let cfg = SimConfig { days: 2, stores: 2, shoppers_per_day: 20, ..SimConfig::default() };
        let mut calls = Vec::new();
        let s = write_all(&cfg, &dir, &mut |d, n| calls.push((d, n))).unwrap();
        assert_eq!(calls, vec![(1, 2), (2, 2)]);
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names.len(), 7, "{names:?}");
        let pings = fs::read_to_string(dir.join("pings.csv")).unwrap();
        assert_eq!(pings.lines().next(), Some("time,adid,lat,lon,accuracy_m,consent"));
        assert_eq!(pings.lines().count() as u64, 1 + s.pings);
        let csv = fs::read_to_string(dir.join("observations.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "time,sensor,mac,rssi");
        assert_eq!(lines.len() as u64 - 1, s.frames);
        assert!(lines[1..].windows(2).all(|w| w[0][..24] <= w[1][..24]), "sorted by time");
        let jsonl = fs::read_to_string(dir.join("observations.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        let fields: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(first["ts"], fields[0]);
        assert_eq!(first["sensor"], fields[1]);
        assert_eq!(first["rssi"].as_i64().unwrap().to_string(), fields[3]);
        assert_eq!(first["kind"], "wifi");
        let site = footfall_core::Site::from_json(&fs::read_to_string(dir.join("site.json")).unwrap()).unwrap();
        assert_eq!(site.sensors.len(), 6);
        let truth: crate::Truth = serde_json::from_str(&fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
        assert_eq!(truth.config, cfg);
        assert_eq!(truth.store_days.len(), 4);
        let pos = fs::read_to_string(dir.join("pos.csv")).unwrap();
        assert_eq!(pos.lines().count() as u64, 1 + s.transactions);
        let counts = fs::read_to_string(dir.join("counts.csv")).unwrap();
        assert_eq!(counts.lines().next(), Some("store,time,count"));
        let row: Vec<&str> = counts.lines().nth(1).unwrap().split(',').collect();
        assert!(
            site.stores.iter().any(|st| st.id == row[0]) && row[1].ends_with(":00.000Z") && row[2].parse::<u32>().unwrap() > 0,
            "{row:?}"
        );
        // A run failing late (truth.json.tmp cannot be created) leaves no partial files.
        let bad = dir.join("failing");
        fs::create_dir_all(bad.join("truth.json.tmp")).unwrap();
        assert!(matches!(write_all(&cfg, &bad, &mut |_, _| {}), Err(SimError::Io { .. })));
        let left: Vec<_> = fs::read_dir(&bad).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("truth.json.tmp")]);
        assert!(write_all(&cfg, &dir.join("site.json").join("x"), &mut |_, _| {}).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pcapng_holds_every_frame() {
        let dir = std::env::temp_dir().join(format!("footfall-sim-pcap-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let cfg = SimConfig { days: 1, stores: 1, shoppers_per_day: 10, ..SimConfig::default() };
        let s = write_all_with(&cfg, &dir, &WriteOptions { pcapng: true }, &mut |_, _| {}).unwrap();
        let names: Vec<&str> = s.files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "site.json",
                "observations.csv",
                "observations.jsonl",
                "observations.pcapng",
                "pos.csv",
                "pings.csv",
                "truth.json",
                "counts.csv"
            ]
        );
        let b = fs::read(dir.join("observations.pcapng")).unwrap();
        assert_eq!(b.len() as u64, s.files[3].1);
        let le32 = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let (mut at, mut counts) = (0, [0u64; 7]);
        while at < b.len() {
            counts[match le32(at) {
                t @ 1..=6 => t as usize,
                _ => 0,
            }] += 1;
            at += le32(at + 4) as usize;
        }
        assert_eq!(at, b.len());
        assert_eq!(counts, [1, 3, 0, 0, 0, 0, s.frames], "a section, one interface per sensor, one packet per frame");
        // Without the option, no capture.
        write_all(&cfg, &dir, &mut |_, _| {}).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[ignore = "writes a full default-size day (hundreds of MB); run with --ignored to measure"]
    fn default_day_sizes() {
        let dir = std::env::var_os("FOOTFALL_SIM_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("footfall-sim-default-day"));
        let t = std::time::Instant::now();
        let s = write_all(&SimConfig { days: 1, ..SimConfig::default() }, &dir, &mut |_, _| {}).unwrap();
        eprintln!("{s:#?}\nin {:?}", t.elapsed());
    }
}
