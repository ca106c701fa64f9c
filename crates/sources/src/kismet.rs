//! Kismet logs (`.kismet`, "kismetdb") as a [`Source`].
//!
//! A Kismet log is an SQLite database. This module reads its `packets` table, one row per
//! captured packet, in row order, and runs each row's `packet` blob (the raw frame with the
//! link-layer header its `dlt` names: 127 radiotap, 105 plain 802.11, 192 PPI) through the
//! capture files' per-frame step, [`crate::capture::emit_frame`]: a probe request becomes
//! one observation, anything else one counted skip reason, exactly as in a pcap file.
//!
//! ## What it relies on (Kismet's `kis_databaselogfile.cc`, db_version 4 to 8+)
//!
//! - `packets`: `ts_sec INT`, `dlt INT` and `packet BLOB` are required; the time is `ts_sec`
//!   s + `ts_usec` µs (0 when the column is missing), cut to the millisecond. Optional:
//!   `signal INT` (dBm; Kismet writes 0 when the packet had no radio data), `frequency REAL`
//!   (**kHz**, e.g. 2412000 for channel 1; 0 when unknown), `datasource TEXT` (the capturing
//!   datasource's UUID) and `error INT` (Kismet flagged the packet as invalid). Every other
//!   column (`phyname`, the MAC columns, location, `tags`, `hash`, ...) is never read: the
//!   MAC comes from the frame itself, as in a capture file.
//! - `datasources`: `uuid TEXT`, `name TEXT`, `interface TEXT`. A datasource's name is
//!   Kismet's `name=` source option, which defaults to the interface.
//!
//! The radio header's signal and frequency win; the row's `signal` and `frequency` fill in
//! only what it lacks (plain 802.11 rows, or a radiotap header without a dBm signal).
//!
//! **The sensor** is `--sensor` when given, else the name (or, when blank, the interface) of
//! the row's datasource. Without `--sensor`, a log whose `datasources` table is missing,
//! empty, or has a datasource with neither name nor interface is refused before anything is
//! emitted ([`SourceError::Config`]). A row whose datasource is not in the table is a bad
//! record.
//!
//! **Accounting**: every row is one record, one bad record (a time that is not an integer,
//! or an unknown datasource) or one skip: the capture reasons ([`crate::capture`]) plus
//! `no_packet` (no blob: a log stripped with `kismetdb_strip_packets`, or a non-packet
//! record) and `kismet_error` (Kismet's own `error` flag). So `records + bad + sum(skipped)`
//! is the number of rows. Progress is reported in bytes as the share of the file's size
//! that the rows read so far stand for (by rowid).
//!
//! The database is opened read-only; nothing is written, and a log that Kismet is still
//! writing is read as of its last commit.

use crate::capture::{FrameIn, RadioHint, emit_frame};
use crate::{Emit, Progress, Source, SourceError, SourceReport};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// The first 16 bytes of every SQLite 3 database file.
pub const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Columns of `packets` without which a row cannot be read.
const REQUIRED: [&str; 3] = ["ts_sec", "dlt", "packet"];
/// Columns read when present (`NULL` is selected in their place otherwise).
const OPTIONAL: [&str; 4] = ["signal", "frequency", "datasource", "error"];

/// Whether the file at `path` starts with the SQLite magic. `Ok(false)` for shorter files.
pub fn is_sqlite(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n == head.len() && &head == SQLITE_MAGIC)
}

fn open_db(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
}

/// The columns of `table`, empty when there is no such table.
fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt.query_map([table], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(names.into_iter().map(|n| n.to_ascii_lowercase()).collect())
}

/// Whether the SQLite database at `path` has a `packets` table (is a Kismet log).
pub fn has_packets_table(path: &Path) -> rusqlite::Result<bool> {
    Ok(!columns(&open_db(path)?, "packets")?.is_empty())
}

/// Reads the `packets` table of a Kismet log.
pub struct KismetSource {
    conn: Connection,
    what: String,
    sensor: Option<String>,
    /// Datasource UUID → sensor id (used without `--sensor`).
    names: HashMap<String, String>,
    query: String,
    file_bytes: u64,
    max_rowid: i64,
    fingerprint: String,
}

impl KismetSource {
    /// Open the log at `path` read-only, check that it is a Kismet log (an SQLite database
    /// whose `packets` table has the required columns) and that every packet will have a
    /// sensor. `what` names the input in errors.
    pub fn open(path: &Path, what: impl Into<String>, sensor: Option<String>) -> Result<Self, SourceError> {
        let what = what.into();
        let not = |why: String| SourceError::NotThisFormat { what: what.clone(), format: "kismet", why };
        let io = |source: std::io::Error| SourceError::Io { what: what.clone(), offset: 0, source };
        if !is_sqlite(path).map_err(io)? {
            return Err(not("it does not start with the SQLite magic (\"SQLite format 3\")".into()));
        }
        let file_bytes = std::fs::metadata(path).map_err(io)?.len();
        let conn = open_db(path).map_err(|e| not(format!("it cannot be opened as an SQLite database: {e}")))?;
        let have = columns(&conn, "packets").map_err(|e| not(format!("its tables cannot be read: {e}")))?;
        if have.is_empty() {
            return Err(not("an SQLite database without a packets table (not a Kismet log)".into()));
        }
        if let Some(missing) = REQUIRED.iter().find(|c| !have.iter().any(|h| h == *c)) {
            return Err(not(format!("its packets table has no {missing} column")));
        }
        let pick = |c: &str| if have.iter().any(|h| h == c) { c.to_string() } else { "NULL".to_string() };
        let optional: Vec<String> = OPTIONAL.iter().map(|c| pick(c)).collect();
        let query = format!("SELECT rowid, ts_sec, {}, dlt, packet, {} FROM packets ORDER BY rowid", pick("ts_usec"), optional.join(", "));
        conn.prepare(&query).map_err(|e| not(format!("its packets table cannot be read: {e}")))?;
        let max_rowid: i64 = conn.query_row("SELECT coalesce(max(rowid), 0) FROM packets", [], |r| r.get(0)).unwrap_or(0);

        let sensor = sensor.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let mut names = HashMap::new();
        if sensor.is_none() {
            let config = |why: String| SourceError::Config { what: what.clone(), why };
            let pass = "pass --sensor ID (the sensor's id in the site file)";
            if !have.iter().any(|h| h == "datasource") {
                return Err(config(format!("its packets table has no datasource column to name the sensor: {pass}")));
            }
            let ds = columns(&conn, "datasources").unwrap_or_default();
            if !ds.iter().any(|c| c == "uuid") || !ds.iter().any(|c| c == "name" || c == "interface") {
                return Err(config(format!("the Kismet log has no datasources table (uuid, name) to name its sensors: {pass}")));
            }
            let name_col = |c: &'static str| if ds.iter().any(|h| h == c) { c } else { "NULL" };
            let sql = format!("SELECT uuid, {}, {} FROM datasources", name_col("name"), name_col("interface"));
            let text = |v: ValueRef<'_>| match v {
                ValueRef::Text(t) => Some(String::from_utf8_lossy(t).trim().to_string()).filter(|s| !s.is_empty()),
                _ => None,
            };
            let mut rows: Vec<(Option<String>, Option<String>)> = Vec::new();
            let read = (|| -> rusqlite::Result<()> {
                let mut stmt = conn.prepare(&sql)?;
                let mut q = stmt.query([])?;
                while let Some(r) = q.next()? {
                    rows.push((text(r.get_ref(0)?), text(r.get_ref(1)?).or(text(r.get_ref(2)?))));
                }
                Ok(())
            })();
            read.map_err(|e| not(format!("its datasources table cannot be read: {e}")))?;
            if rows.is_empty() {
                return Err(config(format!("the Kismet log lists no datasources to name its sensors: {pass}")));
            }
            for (uuid, name) in rows {
                match (uuid, name) {
                    (Some(uuid), Some(name)) => {
                        names.insert(uuid, name);
                    }
                    (uuid, None) => {
                        return Err(config(format!(
                            "Kismet datasource {} has no name or interface to use as the sensor id: {pass}",
                            uuid.as_deref().unwrap_or("(no uuid)")
                        )));
                    }
                    (None, Some(_)) => {}
                }
            }
        }
        Ok(KismetSource { conn, what, sensor, names, query, file_bytes, max_rowid, fingerprint: String::with_capacity(512) })
    }
}

/// A row column as an integer, `None` when NULL, `Err` when of another type.
fn int(v: ValueRef<'_>) -> Result<Option<i64>, ()> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(i) => Ok(Some(i)),
        _ => Err(()),
    }
}

fn number(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) if f.is_finite() => Some(f),
        _ => None,
    }
}

/// The row's `signal` (dBm) as a fallback: 0 (Kismet's "no radio data") is none.
fn signal_hint(v: ValueRef<'_>) -> Option<i16> {
    let s = number(v)?.round();
    (s != 0.0 && (i16::MIN as f64..=i16::MAX as f64).contains(&s)).then_some(s as i16)
}

/// The row's `frequency` (kHz) as a fallback in MHz: 0 (unknown) is none.
fn freq_hint(v: ValueRef<'_>) -> Option<u16> {
    let mhz = (number(v)? / 1000.0).round();
    (1.0..=u16::MAX as f64).contains(&mhz).then_some(mhz as u16)
}

impl Source for KismetSource {
    fn format(&self) -> &'static str {
        "kismet"
    }

    fn run(&mut self, emit: &mut Emit<'_>, progress: &mut Progress<'_>) -> Result<SourceReport, SourceError> {
        let mut report = SourceReport::default();
        let Self { conn, what, sensor, names, query, file_bytes, max_rowid, fingerprint } = self;
        let sql_err = |e: rusqlite::Error| SourceError::Io { what: what.clone(), offset: 0, source: std::io::Error::other(e) };
        let mut stmt = conn.prepare(query).map_err(sql_err)?;
        let mut rows = stmt.query([]).map_err(sql_err)?;
        let at = |rowid: i64| match *max_rowid {
            m if m > 0 => (*file_bytes as u128 * rowid.clamp(0, m) as u128 / m as u128) as u64,
            _ => 0,
        };
        let mut n = 0u64;
        while let Some(row) = rows.next().map_err(sql_err)? {
            n += 1;
            let col = |i: usize| row.get_ref(i).map_err(sql_err);
            let rowid = int(col(0)?).ok().flatten().unwrap_or(0);
            if n.is_multiple_of(4096) {
                progress(at(rowid));
            }
            let ts = match (int(col(1)?), int(col(2)?)) {
                (Ok(Some(sec)), Ok(usec)) => match usec.unwrap_or(0) {
                    usec @ 0..=999_999 => sec.checked_mul(1000).and_then(|ms| ms.checked_add(usec / 1000)),
                    _ => None,
                },
                _ => None,
            };
            let Some(ts) = ts else {
                report.bad_record(n, "ts_sec/ts_usec are not a time (integer seconds and microseconds)");
                continue;
            };
            let sensor = match sensor.as_deref() {
                Some(s) => s,
                None => {
                    let uuid = match col(7)? {
                        ValueRef::Text(t) => std::str::from_utf8(t).unwrap_or_default().trim(),
                        _ => "",
                    };
                    match names.get(uuid) {
                        Some(name) => name.as_str(),
                        None => {
                            report.bad_record(n, format!("datasource {uuid:?} is not in the datasources table and no --sensor was given"));
                            continue;
                        }
                    }
                }
            };
            if matches!(int(col(8)?), Ok(Some(e)) if e != 0) {
                report.skip("kismet_error");
                continue;
            }
            let data = match col(4)? {
                ValueRef::Blob(b) if !b.is_empty() => b,
                _ => {
                    report.skip("no_packet");
                    continue;
                }
            };
            let linktype = match int(col(3)?) {
                Ok(Some(dlt)) => u16::try_from(dlt).unwrap_or(u16::MAX),
                _ => u16::MAX,
            };
            let hint = RadioHint { signal_dbm: signal_hint(col(5)?), freq_mhz: freq_hint(col(6)?) };
            let frame = FrameIn { ts, sensor, linktype, fcs_len: None, data, orig_len: data.len() as u32, hint };
            emit_frame(frame, fingerprint, emit, &mut report);
        }
        debug_assert_eq!(n, report.records + report.bad + report.skipped.values().sum::<u64>());
        report.bytes = *file_bytes;
        progress(report.bytes);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureSource;
    use crate::dot11::tests::probe;
    use crate::{Format, OpenOptions, open_path};
    use std::collections::BTreeMap;

    const BRNO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/brno-excerpt.pcap");
    const POS1: &str = "5fe308bd-0000-0000-0000-00c0ca9ab5ba";

    /// Kismet's own table definitions (db_version 8: with datarate, hash, packetid, tags).
    const SCHEMA: &str = "
        CREATE TABLE KISMET (kismet_version TEXT, db_version INT, db_module TEXT);
        INSERT INTO KISMET VALUES ('2023.07.R1', 8, 'kismetlog');
        CREATE TABLE packets (ts_sec INT, ts_usec INT, phyname TEXT, sourcemac TEXT, destmac TEXT, transmac TEXT,
            frequency REAL, devkey TEXT, lat REAL, lon REAL, alt REAL, speed REAL, heading REAL, packet_len INT,
            signal INT, datasource TEXT, dlt INT, packet BLOB, error INT, tags TEXT, datarate REAL, hash INT, packetid INT);
        CREATE TABLE datasources (uuid TEXT, typestring TEXT, definition TEXT, name TEXT, interface TEXT, json BLOB,
            UNIQUE(uuid) ON CONFLICT REPLACE);
        CREATE TABLE devices (first_time INT, last_time INT, devkey TEXT, phyname TEXT, devmac TEXT);";

    /// What one emitted observation carried, owned.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Obs {
        ts: i64,
        sensor: String,
        mac: [u8; 6],
        rssi: i16,
        freq: Option<u16>,
        seq: Option<u16>,
        ie: Option<String>,
    }

    fn collect(src: &mut dyn Source) -> (Vec<Obs>, SourceReport) {
        let mut out = Vec::new();
        let mut last = 0;
        let rep = src
            .run(
                &mut |o| {
                    out.push(Obs {
                        ts: o.ts,
                        sensor: o.sensor.to_string(),
                        mac: o.mac.octets(),
                        rssi: o.rssi,
                        freq: o.freq,
                        seq: o.seq,
                        ie: o.ie.map(String::from),
                    })
                },
                &mut |b| {
                    assert!(b >= last, "progress goes forward");
                    last = b;
                },
            )
            .unwrap();
        assert_eq!(rep.records, out.len() as u64);
        assert_eq!(last, rep.bytes);
        (out, rep)
    }

    fn accounted(rep: &SourceReport) -> u64 {
        rep.records + rep.bad + rep.skipped.values().sum::<u64>()
    }

    /// The frames of a little-endian microsecond pcap: (seconds, microseconds, bytes).
    fn pcap_frames(bytes: &[u8]) -> Vec<(i64, i64, Vec<u8>)> {
        assert_eq!(bytes[..4], [0xd4, 0xc3, 0xb2, 0xa1]);
        let u32at = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let (mut at, mut out) = (24, Vec::new());
        while at < bytes.len() {
            let len = u32at(at + 8) as usize;
            out.push((u32at(at) as i64, u32at(at + 4) as i64, bytes[at + 16..at + 16 + len].to_vec()));
            at += 16 + len;
        }
        out
    }

    /// A radiotap header with flags, channel and dBm signal.
    fn rt(freq: u16, signal: i8) -> Vec<u8> {
        let mut h = vec![0, 0, 15, 0, 0x2a, 0, 0, 0, 0, 0];
        h.extend_from_slice(&freq.to_le_bytes());
        h.extend_from_slice(&[0xa0, 0x00, signal as u8]);
        h
    }

    struct Row {
        ts_sec: Option<i64>,
        ts_usec: i64,
        signal: i64,
        freq_khz: f64,
        datasource: &'static str,
        dlt: i64,
        packet: Option<Vec<u8>>,
        error: i64,
    }

    fn row(ts_sec: i64, dlt: i64, packet: &[u8]) -> Row {
        Row { ts_sec: Some(ts_sec), ts_usec: 0, signal: 0, freq_khz: 0.0, datasource: POS1, dlt, packet: Some(packet.to_vec()), error: 0 }
    }

    fn insert(conn: &Connection, rows: &[Row]) {
        let mut stmt = conn
            .prepare(
                "INSERT INTO packets (ts_sec, ts_usec, phyname, sourcemac, frequency, packet_len, signal, datasource, dlt, packet, error, tags)
                 VALUES (?1, ?2, 'IEEE802.11', '00:00:00:00:00:00', ?3, ?4, ?5, ?6, ?7, ?8, ?9, '')",
            )
            .unwrap();
        for r in rows {
            let len = r.packet.as_ref().map_or(0, |p| p.len() as i64);
            let packet: rusqlite::types::Value = match &r.packet {
                Some(p) => p.clone().into(),
                None => String::new().into(), // what Kismet writes for a packet without a frame
            };
            stmt.execute(rusqlite::params![r.ts_sec, r.ts_usec, r.freq_khz, len, r.signal, r.datasource, r.dlt, packet, r.error]).unwrap();
        }
    }

    fn kismet_db(dir: &Path, name: &str, datasources: &[(&str, &str, &str)], rows: &[Row]) -> std::path::PathBuf {
        let path = dir.join(name);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        for (uuid, name, iface) in datasources {
            conn.execute(
                "INSERT INTO datasources (uuid, typestring, definition, name, interface, json) VALUES (?1, 'linuxwifi', ?3, ?2, ?3, '{}')",
                [uuid, name, iface],
            )
            .unwrap();
        }
        insert(&conn, rows);
        path
    }

    fn open_k(path: &Path, sensor: Option<&str>) -> Result<KismetSource, SourceError> {
        KismetSource::open(path, "log.kismet", sensor.map(String::from))
    }

    fn err_text<T>(r: Result<T, SourceError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    /// The Brno capture's 200 frames as Kismet packet rows (dlt 127), plus one row of each
    /// other kind: the observations equal the pcap source's, and every row is accounted for.
    #[test]
    fn brno_frames_as_kismet_rows_match_the_pcap_source() {
        let pcap = std::fs::read(BRNO).unwrap();
        let frames = pcap_frames(&pcap);
        assert_eq!(frames.len(), 200);
        // The row columns say something else: the radiotap header wins.
        let mut rows: Vec<Row> =
            frames.iter().map(|(s, us, data)| Row { ts_usec: *us, signal: -20, freq_khz: 5_180_000.0, ..row(*s, 127, data) }).collect();
        let mac = [0x02, 0, 0, 0, 0, 0x77];
        let p = probe(mac, 300, &[(0, b""), (1, &[2, 4, 11, 22])]);
        let mut beacon = p.clone();
        beacon[0] = 0x80;
        let t = 1_669_111_600;
        rows.extend([
            row(t, 127, &[rt(2412, -50), beacon].concat()),                        // not_probe_request
            row(t, 1, &p),                                                         // unsupported_linktype
            Row { dlt: -1, packet: None, ..row(t, 0, &[]) },                       // no_packet
            Row { error: 1, ..row(t, 127, &[rt(2412, -50), p.clone()].concat()) }, // kismet_error
            Row { signal: -70, freq_khz: 2_437_000.0, ts_usec: 123_456, ..row(t, 105, &p) }, // record (row's radio values)
            row(t, 105, &p),                                                       // no_signal (signal 0 = none)
            Row { ts_sec: None, ..row(t, 127, &[rt(2412, -50), p.clone()].concat()) }, // bad: no time
            Row { datasource: "9999", ..row(t, 127, &[rt(2412, -50), p.clone()].concat()) }, // bad: unknown datasource
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = kismet_db(dir.path(), "brno.kismet", &[(POS1, "pos1", "wlan0mon")], &rows);

        let (opened_as, mut src) = open_path(&path, "brno.kismet", &OpenOptions::default()).unwrap();
        assert_eq!((opened_as, src.format()), (Format::Kismet, "kismet"));
        let (out, rep) = collect(src.as_mut());
        let mut pcap_src = CaptureSource::open(&pcap[..], "brno.pcap", Some("pos1".into())).unwrap();
        let (want, _) = collect(&mut pcap_src);
        assert_eq!(out.len(), 201);
        assert_eq!(out[..200], want[..]);
        assert_eq!(
            out[200],
            Obs {
                ts: t * 1000 + 123,
                sensor: "pos1".into(),
                mac,
                rssi: -70,
                freq: Some(2437),
                seq: Some(300),
                ie: Some("v1;ids=0,1;ssid=wild;rates=02040b16".into())
            }
        );
        let skipped: BTreeMap<&str, u64> =
            [("not_probe_request", 1), ("unsupported_linktype", 1), ("no_packet", 1), ("kismet_error", 1), ("no_signal", 1)]
                .into_iter()
                .collect();
        assert_eq!(rep.skipped, skipped);
        assert_eq!(rep.bad, 2);
        assert_eq!(rep.bad_samples.iter().map(|b| b.line).collect::<Vec<_>>(), vec![207, 208]);
        assert!(rep.bad_samples[1].reason.contains("datasource \"9999\" is not in the datasources table"), "{rep:?}");
        assert_eq!(accounted(&rep), rows.len() as u64);
        assert_eq!(rep.bytes, std::fs::metadata(&path).unwrap().len());

        // --sensor names every row's sensor: the unknown datasource is no longer bad.
        let (out, rep) = collect(&mut open_k(&path, Some("door")).unwrap());
        assert_eq!((out.len(), rep.bad), (202, 1));
        assert!(out.iter().all(|o| o.sensor == "door"));
    }

    #[test]
    fn the_sensor_comes_from_the_datasource_or_is_refused_up_front() {
        let p = probe([2, 0, 0, 0, 0, 1], 1, &[(0, b"")]);
        let frame = [rt(2462, -60), p].concat();
        let rows = [row(1_700_000_000, 127, &frame), Row { datasource: "b", ..row(1_700_000_001, 127, &frame) }];
        let dir = tempfile::tempdir().unwrap();
        // A blank name falls back to the interface.
        let path = kismet_db(dir.path(), "two.kismet", &[(POS1, "door", "wlan0"), ("b", " ", "wlan1")], &rows);
        let (out, rep) = collect(&mut open_k(&path, None).unwrap());
        assert_eq!(out.iter().map(|o| o.sensor.as_str()).collect::<Vec<_>>(), vec!["door", "wlan1"]);
        assert_eq!(accounted(&rep), 2);
        // Neither name nor interface: refused before anything is read.
        let path = kismet_db(dir.path(), "noname.kismet", &[(POS1, "door", "wlan0"), ("b", "", "")], &rows);
        let err = err_text(open_k(&path, None));
        assert!(err.starts_with("log.kismet: Kismet datasource b has no name or interface") && err.contains("--sensor ID"), "{err}");
        assert!(open_k(&path, Some("s1")).is_ok());
        // No datasources at all.
        let path = kismet_db(dir.path(), "nosources.kismet", &[], &rows);
        let err = err_text(open_k(&path, None));
        assert!(err.contains("lists no datasources") && err.contains("--sensor ID"), "{err}");
        let err = err_text(open_path(&path, "log.kismet", &OpenOptions::default()));
        assert!(err.contains("lists no datasources"), "{err}");
        assert!(open_path(&path, "log.kismet", &OpenOptions { sensor: Some("s1".into()) }).is_ok());
    }

    #[test]
    fn optional_columns_may_be_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("min.kismet");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE packets (ts_sec INT, dlt INT, packet BLOB);").unwrap();
        let frame = [rt(2412, -44), probe([2, 0, 0, 0, 0, 2], 9, &[])].concat();
        conn.execute("INSERT INTO packets VALUES (1700000000, 127, ?1)", [&frame]).unwrap();
        drop(conn);
        let (out, rep) = collect(&mut open_k(&path, Some("s")).unwrap());
        assert_eq!((out.len(), accounted(&rep)), (1, 1));
        assert_eq!((out[0].ts, out[0].rssi, out[0].freq, out[0].ie.as_deref()), (1_700_000_000_000, -44, Some(2412), Some("v1;ids=")));
        let err = err_text(open_k(&path, None));
        assert!(err.contains("no datasource column") && err.contains("--sensor ID"), "{err}");
        // A required column missing is not this format.
        let path = dir.path().join("nopacket.kismet");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE packets (ts_sec INT, dlt INT);").unwrap();
        let e = open_k(&path, Some("s")).err();
        assert!(matches!(&e, Some(SourceError::NotThisFormat { why, .. }) if why.contains("no packet column")), "{e:?}");
    }

    #[test]
    fn detection_by_path() {
        let dir = tempfile::tempdir().unwrap();
        // An SQLite database that is not a Kismet log.
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE visits (id INT);").unwrap();
        let e = open_path(&other, "other.db", &OpenOptions::default()).err();
        assert!(
            matches!(&e, Some(SourceError::NotThisFormat { why, .. }) if why.contains("SQLite database without a packets table")),
            "{e:?}"
        );
        // ... nor is it read as a stream.
        let e = crate::open(std::fs::File::open(&other).unwrap(), "other.db", &OpenOptions::default()).err();
        assert!(matches!(&e, Some(SourceError::NotThisFormat { why, .. }) if why.contains("SQLite database")), "{e:?}");
        // Everything else goes to the stream detection.
        let (f, _) = open_path(Path::new(BRNO), "brno.pcap", &OpenOptions { sensor: Some("pos1".into()) }).unwrap();
        assert_eq!(f, Format::Pcap);
        let csv = dir.path().join("obs.csv");
        std::fs::write(&csv, "time,sensor,mac,rssi\n").unwrap();
        assert_eq!(open_path(&csv, "obs.csv", &OpenOptions::default()).unwrap().0, Format::Csv);
        let short = dir.path().join("short");
        std::fs::write(&short, "SQLite").unwrap();
        assert!(matches!(open_path(&short, "short", &OpenOptions::default()), Err(SourceError::NotThisFormat { .. })));
        // The SQLite magic followed by garbage.
        let broken = dir.path().join("broken.kismet");
        std::fs::write(&broken, [&SQLITE_MAGIC[..], &[0xff; 200]].concat()).unwrap();
        let e = open_path(&broken, "broken.kismet", &OpenOptions::default()).err();
        assert!(matches!(&e, Some(SourceError::NotThisFormat { .. })), "{e:?}");
        assert!(matches!(open_path(&dir.path().join("missing"), "m", &OpenOptions::default()), Err(SourceError::Io { .. })));
    }
}
