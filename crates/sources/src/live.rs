//! Live capture through libpcap (feature `live`): a monitor-mode interface as a [`Source`].
//!
//! This module owns talking to libpcap (the `pcap` crate): opening an interface (or, for
//! tests and replays, a file that libpcap reads itself, through the very same loop), and
//! turning each packet into (time, link type, bytes) for [`capture::emit_frame`], the
//! per-frame step every 802.11 source shares. It must not parse frames itself. The
//! interface must deliver 802.11 frames with a radio header (radiotap 127, PPI 192) or
//! plain 802.11 (105): anything else is refused when opening, before anything is emitted.
//! Reading ends at the end of a file, on an error, or when the stop flag is set (checked at
//! least every read timeout, 250 ms); on a read timeout `progress` is called (with the same
//! byte count) so a caller can flush batches while the air is quiet.

use crate::capture::{self, LINKTYPE_IEEE802_11, LINKTYPE_PPI, LINKTYPE_RADIOTAP, RadioHint};
use crate::{Emit, Progress, Source, SourceError, SourceReport};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Read timeout of a live interface, in milliseconds.
const TIMEOUT_MS: i32 = 250;

/// Frames from libpcap, one sensor's.
pub struct LiveSource {
    cap: pcap::Capture<dyn pcap::Activated>,
    what: String,
    sensor: String,
    linktype: u16,
    stop: Option<Arc<AtomicBool>>,
    fingerprint: String,
}

fn check_linktype(what: &str, linktype: i32) -> Result<u16, SourceError> {
    match u16::try_from(linktype) {
        Ok(l @ (LINKTYPE_RADIOTAP | LINKTYPE_PPI | LINKTYPE_IEEE802_11)) => Ok(l),
        _ => Err(SourceError::Config {
            what: what.to_string(),
            why: format!(
                "link type {linktype} is not 802.11 (radiotap 127, PPI 192 or 802.11 105): put the interface in monitor mode, e.g. `iw dev wlan0 interface add wlan0mon type monitor && ip link set wlan0mon up`"
            ),
        }),
    }
}

impl LiveSource {
    /// Capture on a (monitor-mode) interface, e.g. `wlan0mon`, as the sensor `sensor`.
    pub fn open_interface(iface: &str, sensor: &str) -> Result<LiveSource, SourceError> {
        let what = format!("interface {iface}");
        let err = |e: pcap::Error| SourceError::Config { what: what.clone(), why: format!("{e} (capturing needs root or CAP_NET_RAW)") };
        let cap =
            pcap::Capture::from_device(iface).map_err(err)?.snaplen(4096).timeout(TIMEOUT_MS).immediate_mode(true).open().map_err(err)?;
        Self::new(cap.into(), what, sensor)
    }

    /// Read a capture file with libpcap: the same loop as an interface, for tests and replays.
    pub fn open_file(path: &Path, sensor: &str) -> Result<LiveSource, SourceError> {
        let what = path.display().to_string();
        let cap = pcap::Capture::from_file(path).map_err(|e| SourceError::NotThisFormat {
            what: what.clone(),
            format: "pcap (libpcap)",
            why: e.to_string(),
        })?;
        Self::new(cap.into(), what, sensor)
    }

    fn new(cap: pcap::Capture<dyn pcap::Activated>, what: String, sensor: &str) -> Result<LiveSource, SourceError> {
        let sensor = sensor.trim();
        if sensor.is_empty() {
            return Err(SourceError::Config { what, why: "live capture needs the sensor's id: pass --sensor ID".into() });
        }
        let linktype = check_linktype(&what, cap.get_datalink().0)?;
        Ok(LiveSource { cap, what, sensor: sensor.to_string(), linktype, stop: None, fingerprint: String::with_capacity(512) })
    }

    /// Stop reading when `flag` is set.
    pub fn with_stop(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }
}

impl Source for LiveSource {
    fn format(&self) -> &'static str {
        "live"
    }

    fn run(&mut self, emit: &mut Emit<'_>, progress: &mut Progress<'_>) -> Result<SourceReport, SourceError> {
        let mut report = SourceReport::default();
        let Self { cap, what, sensor, linktype, stop, fingerprint } = self;
        let mut frames = 0u64;
        loop {
            if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                break;
            }
            match cap.next_packet() {
                Ok(p) => {
                    frames += 1;
                    report.bytes += 16 + p.data.len() as u64;
                    // time_t and suseconds_t are 32 or 64 bits depending on the platform (a 32-bit Pi).
                    #[allow(clippy::useless_conversion)]
                    let ts = i64::from(p.header.ts.tv_sec) * 1000 + i64::from(p.header.ts.tv_usec) / 1000;
                    let frame = capture::FrameIn {
                        ts,
                        sensor,
                        linktype: *linktype,
                        fcs_len: None,
                        data: p.data,
                        orig_len: p.header.len,
                        hint: RadioHint::default(),
                    };
                    capture::emit_frame(frame, fingerprint, emit, &mut report);
                    if frames.is_multiple_of(4096) {
                        progress(report.bytes);
                    }
                }
                Err(pcap::Error::TimeoutExpired) => progress(report.bytes),
                Err(pcap::Error::NoMorePackets) => break,
                Err(e) => {
                    return Err(SourceError::Io { what: what.clone(), offset: report.bytes, source: std::io::Error::other(e.to_string()) });
                }
            }
        }
        progress(report.bytes);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureSource;

    const BRNO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/brno-excerpt.pcap");
    const BACCICHET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/baccichet-excerpt.pcap");

    type Row = (i64, String, [u8; 6], i16, Option<u16>, Option<u16>, Option<String>);

    fn collect(src: &mut dyn Source) -> (Vec<Row>, SourceReport) {
        let mut out = Vec::new();
        let rep = src
            .run(
                &mut |o| out.push((o.ts, o.sensor.to_string(), o.mac.octets(), o.rssi, o.freq, o.seq, o.ie.map(String::from))),
                &mut |_| {},
            )
            .unwrap();
        (out, rep)
    }

    /// libpcap's reading of the fixtures, through the live loop, gives exactly what the
    /// built-in capture reader gives: the same decoder, the same observations.
    #[test]
    fn a_replayed_capture_through_libpcap_matches_the_file_reader() {
        for (path, n) in [(BRNO, 200), (BACCICHET, 139)] {
            let mut live = LiveSource::open_file(Path::new(path), "s").unwrap();
            let (got, rep) = collect(&mut live);
            let mut file = CaptureSource::open(std::fs::File::open(path).unwrap(), "f", Some("s".into())).unwrap();
            let (want, want_rep) = collect(&mut file);
            assert_eq!(got.len(), n, "{path}");
            assert_eq!(got, want, "{path}");
            assert_eq!((rep.records, &rep.skipped), (want_rep.records, &want_rep.skipped));
        }
    }

    #[test]
    fn the_stop_flag_and_bad_inputs() {
        let stop = Arc::new(AtomicBool::new(true));
        let mut live = LiveSource::open_file(Path::new(BRNO), "s").unwrap().with_stop(stop);
        assert_eq!(collect(&mut live).0.len(), 0);
        assert!(matches!(LiveSource::open_file(Path::new(BRNO), " "), Err(SourceError::Config { .. })));
        let dir = tempfile::tempdir().unwrap();
        let not = dir.path().join("x.pcap");
        std::fs::write(&not, b"time,sensor,mac,rssi\n").unwrap();
        assert!(matches!(LiveSource::open_file(&not, "s"), Err(SourceError::NotThisFormat { .. })));
        // An Ethernet capture is not 802.11.
        let mut eth = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        eth.extend_from_slice(&[0; 8]);
        eth.extend_from_slice(&65535u32.to_le_bytes());
        eth.extend_from_slice(&1u32.to_le_bytes());
        std::fs::write(&not, &eth).unwrap();
        let err = LiveSource::open_file(&not, "s").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("monitor mode"), "{err}");
    }
}
