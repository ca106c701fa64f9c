//! Capture files (pcap, pcapng) of 802.11 frames as a [`Source`].
//!
//! This module owns turning each frame of a capture into one observation or one counted
//! reason: the container ([`crate::pcap`]) gives frames, the link type picks the radio
//! header ([`crate::radiotap`]: radiotap 127, PPI 192; plain 802.11 105 has none), and
//! [`crate::dot11`] accepts probe requests. An observation is `(time, sensor, addr2, first
//! dBm signal, channel frequency, sequence number, element fingerprint)`. Every frame is
//! accounted for: `records + bad + sum(skipped) == frames`, where `skipped` counts frames by
//! reason (`not_management`, `not_probe_request`, `malformed_80211`, `truncated`, `bad_fcs`,
//! `no_signal`, `malformed_radiotap`, `malformed_ppi`, `unsupported_linktype`,
//! `no_timestamp`) and `bad` counts damaged records (see [`crate::pcap`]). The per-frame step
//! is [`decode_frame`]; [`crate::kismet`] runs the frames of Kismet logs through it too.
//!
//! The sensor is the one given to the source; without one, a pcapng interface's `if_name`
//! names it, and with neither the source refuses to open ([`SourceError::Config`]) before
//! anything is emitted. It must not filter plausibility: an RSSI of +15 dBm is emitted as
//! read, and the pipeline's filter drops and counts it. It must not verify the FCS itself
//! (only the receiver's bad-FCS flag counts): published captures often re-randomize MACs
//! without recomputing it.

use crate::dot11::{self, ProbeRequest};
use crate::pcap::{CaptureReader, Container, Record};
use crate::radiotap::{self, Radio};
use crate::{Emit, Progress, Source, SourceError, SourceReport};
use footfall_core::{MacAddr, RadioKind, RawObservation};
use std::io::Read;

pub const LINKTYPE_IEEE802_11: u16 = 105;
pub const LINKTYPE_RADIOTAP: u16 = 127;
pub const LINKTYPE_PPI: u16 = 192;

/// Reads a pcap or pcapng capture of 802.11 frames.
pub struct CaptureSource<R> {
    reader: CaptureReader<R>,
    sensor: Option<String>,
    fingerprint: String,
}

impl<R: Read> CaptureSource<R> {
    /// Read the capture's header (and, for pcapng, the interface descriptions before the
    /// first frame) and check that every frame will have a sensor.
    pub fn open(input: R, what: impl Into<String>, sensor: Option<String>) -> Result<Self, SourceError> {
        let what = what.into();
        let mut reader = CaptureReader::new(input, what.clone())?;
        reader.prime()?;
        let sensor = sensor.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if sensor.is_none() {
            let why = match reader.container() {
                Container::Pcap => Some(
                    "a pcap file does not say which sensor captured it: pass --sensor ID (the sensor's id in the site file)".to_string(),
                ),
                Container::Pcapng => reader.interfaces().iter().position(|i| i.name.is_none()).map(|i| {
                    format!(
                        "pcapng interface {i} has no name (if_name) to use as the sensor id: pass --sensor ID (the sensor's id in the site file)"
                    )
                }),
            };
            if let Some(why) = why {
                return Err(SourceError::Config { what, why });
            }
        }
        Ok(CaptureSource { reader, sensor, fingerprint: String::with_capacity(512) })
    }
}

/// A frame that passed every check but the signal one.
struct Decoded<'a> {
    probe: ProbeRequest<'a>,
    radio: Radio,
    /// The whole frame was captured (not cut by the snap length), so its elements are too.
    complete: bool,
}

/// Decode one captured frame; `Err` is the skip reason.
fn decode(linktype: u16, fcs_len: Option<u8>, data: &[u8], orig_len: u32) -> Result<Decoded<'_>, &'static str> {
    let (radio, frame, fcs) = match linktype {
        LINKTYPE_RADIOTAP => {
            let (r, n) = radiotap::parse_radiotap(data).map_err(|_| "malformed_radiotap")?;
            (r, &data[n..], if r.fcs_at_end { 4 } else { 0 })
        }
        LINKTYPE_PPI => {
            let (r, n, dlt) = radiotap::parse_ppi(data).map_err(|_| "malformed_ppi")?;
            if dlt != LINKTYPE_IEEE802_11 as u32 {
                return Err("unsupported_linktype");
            }
            (r, &data[n..], if r.fcs_at_end { 4 } else { 0 })
        }
        LINKTYPE_IEEE802_11 => (Radio::default(), data, fcs_len.unwrap_or(0) as usize),
        _ => return Err("unsupported_linktype"),
    };
    if radio.bad_fcs {
        return Err("bad_fcs");
    }
    // Bytes the capture cut off the end of the frame (snap length); the FCS goes first.
    let missing = (orig_len as usize).saturating_sub(data.len());
    let trim = fcs.saturating_sub(missing);
    if frame.len() < trim {
        return Err("truncated");
    }
    let probe = dot11::parse_probe_request(&frame[..frame.len() - trim])?;
    Ok(Decoded { probe, radio, complete: missing <= fcs })
}

/// Radio values known from outside the frame (a Kismet row's `signal` and `frequency`
/// columns). They are used only where the frame's own radio header has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RadioHint {
    pub signal_dbm: Option<i16>,
    pub freq_mhz: Option<u16>,
}

/// What one frame gives an observation: everything but its time and sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameFields {
    /// addr2, the sending station.
    pub mac: MacAddr,
    pub rssi: i16,
    pub freq: Option<u16>,
    pub seq: u16,
    /// The element fingerprint was written into the caller's buffer (the frame was complete
    /// and its elements parsed).
    pub fingerprint: bool,
}

/// One raw 802.11 frame in, one observation out or one counted skip: what every frame
/// source (capture files, Kismet logs, live capture) does with each frame it reads.
pub struct FrameIn<'a> {
    pub ts: i64,
    pub sensor: &'a str,
    pub linktype: u16,
    pub fcs_len: Option<u8>,
    pub data: &'a [u8],
    pub orig_len: u32,
    pub hint: RadioHint,
}

/// Decode `frame` and emit it, or count why it was skipped, in `report`.
pub fn emit_frame(frame: FrameIn<'_>, fingerprint: &mut String, emit: &mut Emit<'_>, report: &mut SourceReport) {
    match decode_frame(frame.linktype, frame.fcs_len, frame.data, frame.orig_len, frame.hint, fingerprint) {
        Ok(f) => {
            emit(RawObservation {
                ts: frame.ts,
                sensor: frame.sensor,
                mac: f.mac,
                rssi: f.rssi,
                freq: f.freq,
                seq: Some(f.seq),
                ie: f.fingerprint.then_some(fingerprint.as_str()),
                kind: RadioKind::Wifi,
            });
            report.records += 1;
        }
        Err(reason) => report.skip(reason),
    }
}

/// Turn one captured frame with its link-layer header (`linktype`: radiotap 127, PPI 192,
/// plain 802.11 105) into an observation's fields, or the [`SourceReport::skipped`] reason
/// it is not one. `fcs_len` is the FCS the container says ends every frame (plain 802.11
/// only; radiotap and PPI say it themselves), `orig_len` the frame's length on the air.
/// The signal and frequency come from the radio header, else from `hint`; without a
/// signal the frame is `no_signal`. The fingerprint goes into `fingerprint`. Every source
/// of raw 802.11 frames (capture files, Kismet logs) goes through here.
pub fn decode_frame(
    linktype: u16,
    fcs_len: Option<u8>,
    data: &[u8],
    orig_len: u32,
    hint: RadioHint,
    fingerprint: &mut String,
) -> Result<FrameFields, &'static str> {
    let d = decode(linktype, fcs_len, data, orig_len)?;
    let Some(rssi) = d.radio.signal_dbm.map(i16::from).or(hint.signal_dbm) else {
        return Err("no_signal");
    };
    let fingerprint = d.complete && dot11::fingerprint(d.probe.elements, fingerprint);
    Ok(FrameFields { mac: d.probe.source, rssi, freq: d.radio.freq_mhz.or(hint.freq_mhz), seq: d.probe.seq, fingerprint })
}

impl<R: Read> Source for CaptureSource<R> {
    fn format(&self) -> &'static str {
        self.reader.container().name()
    }

    fn run(&mut self, emit: &mut Emit<'_>, progress: &mut Progress<'_>) -> Result<SourceReport, SourceError> {
        let mut report = SourceReport::default();
        let Self { reader, sensor, fingerprint } = self;
        let mut frames = 0u64;
        while let Some(record) = reader.next_record()? {
            frames += 1;
            match record {
                Record::Bad(why) => report.bad_record(frames, why),
                Record::Skip(reason) => report.skip(reason),
                Record::Frame { ts, interface, data, orig_len } => {
                    let Some(sensor) = sensor.as_deref().or(interface.name.as_deref()) else {
                        report.bad_record(frames, "its pcapng interface has no name (if_name) and no --sensor was given");
                        continue;
                    };
                    let frame = FrameIn {
                        ts,
                        sensor,
                        linktype: interface.linktype,
                        fcs_len: interface.fcs_len,
                        data,
                        orig_len,
                        hint: RadioHint::default(),
                    };
                    emit_frame(frame, fingerprint, emit, &mut report);
                }
            }
            if frames.is_multiple_of(4096) {
                progress(reader.offset());
            }
        }
        debug_assert_eq!(frames, report.records + report.bad + report.skipped.values().sum::<u64>());
        report.bytes = reader.offset();
        progress(report.bytes);
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dot11::tests::probe;
    use crate::pcap::tests::{NgWriter, classic};
    use footfall_core::time::parse_rfc3339;
    use std::collections::{BTreeMap, BTreeSet};

    const LE_MICRO: [u8; 4] = [0xd4, 0xc3, 0xb2, 0xa1];
    const BRNO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/brno-excerpt.pcap");
    const BACCICHET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/baccichet-excerpt.pcap");

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

    fn run_source(bytes: &[u8], sensor: Option<&str>) -> Result<(Vec<Obs>, SourceReport), SourceError> {
        let mut src = CaptureSource::open(bytes, "t", sensor.map(String::from))?;
        let mut out = Vec::new();
        let rep = src.run(
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
            &mut |_| {},
        )?;
        assert_eq!(rep.records, out.len() as u64);
        Ok((out, rep))
    }

    fn accounted(rep: &SourceReport) -> u64 {
        rep.records + rep.bad + rep.skipped.values().sum::<u64>()
    }

    /// A radiotap header with flags, channel and dBm signal.
    fn rt(flags: u8, freq: u16, signal: i8) -> Vec<u8> {
        let mut h = vec![0, 0, 15, 0, 0x2a, 0, 0, 0, flags, 0];
        h.extend_from_slice(&freq.to_le_bytes());
        h.extend_from_slice(&[0xa0, 0x00, signal as u8]);
        h
    }

    fn with(mut header: Vec<u8>, frame: &[u8]) -> Vec<u8> {
        header.extend_from_slice(frame);
        header
    }

    fn read_file(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn every_frame_is_accounted_for() {
        let mac = [0xda, 0xa1, 0x19, 0, 0, 1];
        let p = probe(mac, 100, &[(0, b""), (1, &[2, 4, 11, 22])]);
        let mut beacon = p.clone();
        beacon[0] = 0x80;
        let mut data = p.clone();
        data[0] = 0x08;
        let fcs_frame = with(rt(0x10, 2437, -60), &[&p[..], &[1, 2, 3, 4]].concat());
        let records: Vec<(u32, u32, Vec<u8>)> = vec![
            (1, 0, with(rt(0, 2412, -50), &p)),             // ok
            (2, 0, fcs_frame),                              // ok, FCS trimmed
            (3, 0, with(rt(0x50, 2412, -50), &p)),          // bad FCS
            (4, 0, with(rt(0, 2412, -50), &beacon)),        // not a probe request
            (5, 0, with(rt(0, 2412, -50), &data)),          // not management
            (6, 0, with(rt(0, 2412, -50), &p[..20])),       // truncated
            (7, 0, vec![0, 0, 200, 0, 0, 0, 0, 0]),         // malformed radiotap
            (8, 0, with(rt(0, 2412, 15), &p)),              // implausible, still emitted
            (9, 0, with(vec![0, 0, 8, 0, 0, 0, 0, 0], &p)), // no signal
        ];
        let recs: Vec<(u32, u32, &[u8])> = records.iter().map(|(s, f, d)| (*s, *f, &d[..])).collect();
        let mut bytes = classic(LE_MICRO, false, 127, &recs);
        bytes.extend_from_slice(&[1, 2, 3]); // a cut record header at the end
        let (out, rep) = run_source(&bytes, Some("door")).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(rep.bad, 1);
        let want: BTreeMap<&str, u64> = [
            ("bad_fcs", 1),
            ("not_probe_request", 1),
            ("not_management", 1),
            ("truncated", 1),
            ("malformed_radiotap", 1),
            ("no_signal", 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(rep.skipped, want);
        assert_eq!(accounted(&rep), 10);
        assert_eq!(
            out[0],
            Obs {
                ts: 1000,
                sensor: "door".into(),
                mac,
                rssi: -50,
                freq: Some(2412),
                seq: Some(100),
                ie: Some("v1;ids=0,1;ssid=wild;rates=02040b16".into())
            }
        );
        // The FCS was trimmed: the same elements, the same fingerprint.
        assert_eq!((out[1].rssi, out[1].freq, out[1].ie.as_deref()), (-60, Some(2437), out[0].ie.as_deref()));
        assert_eq!(out[2].rssi, 15);
        assert_eq!(rep.bytes, bytes.len() as u64);
    }

    #[test]
    fn snap_length_cuts_drop_the_fingerprint_not_the_frame() {
        let p = probe([2, 0, 0, 0, 0, 9], 5, &[(0, b""), (1, &[2, 4, 11, 22]), (50, &[12, 18, 24, 36])]);
        let full = with(rt(0x10, 2412, -70), &[&p[..], &[9, 9, 9, 9]].concat());
        let mut bytes = classic(LE_MICRO, false, 127, &[]);
        for cut in [0usize, 2, 4, 7] {
            let data = &full[..full.len() - cut];
            for v in [1u32, 0, data.len() as u32, full.len() as u32] {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            bytes.extend_from_slice(data);
        }
        let (out, rep) = run_source(&bytes, Some("s")).unwrap();
        assert_eq!(rep.records, 4);
        let ies: Vec<bool> = out.iter().map(|o| o.ie.is_some()).collect();
        // Missing only (part of) the FCS still leaves all elements; missing more does not.
        assert_eq!(ies, vec![true, true, true, false]);
        assert_eq!(out[1].ie, out[0].ie);
    }

    #[test]
    fn plain_80211_and_ppi_link_types() {
        let p = probe([2, 0, 0, 0, 0, 7], 1, &[(0, b"")]);
        let (out, rep) = run_source(&classic(LE_MICRO, false, 105, &[(1, 0, &p)]), Some("s")).unwrap();
        assert!(out.is_empty());
        assert_eq!(rep.skipped.get("no_signal"), Some(&1));
        // PPI with an 802.11-common field (FCS present, 2462 MHz, -66 dBm).
        let mut ppi = vec![0, 0, 32, 0];
        ppi.extend_from_slice(&105u32.to_le_bytes());
        ppi.extend_from_slice(&[2, 0, 20, 0]);
        let mut common = vec![0u8; 8];
        common.extend_from_slice(&1u16.to_le_bytes());
        common.extend_from_slice(&[2, 0]);
        common.extend_from_slice(&2462u16.to_le_bytes());
        common.extend_from_slice(&[0xa0, 0, 0, 0, (-66i8) as u8, 0]);
        ppi.extend_from_slice(&common);
        let framed = with(ppi, &[&p[..], &[0, 0, 0, 0]].concat());
        let (out, rep) = run_source(&classic(LE_MICRO, false, 192, &[(1, 0, &framed)]), Some("s")).unwrap();
        assert_eq!(rep.records, 1, "{rep:?}");
        assert_eq!((out[0].rssi, out[0].freq, out[0].ie.as_deref()), (-66, Some(2462), Some("v1;ids=0;ssid=wild")));
        // Ethernet is not ours.
        let (_, rep) = run_source(&classic(LE_MICRO, false, 1, &[(1, 0, &p)]), Some("s")).unwrap();
        assert_eq!(rep.skipped.get("unsupported_linktype"), Some(&1));
    }

    #[test]
    fn the_ssid_is_in_nothing_emitted() {
        let ssid = b"HomeNetwork-42";
        let p = probe([0x02, 0x11, 0x22, 0x33, 0x44, 0x55], 9, &[(0, ssid), (1, &[2, 4]), (221, &[0, 0x50, 0xf2, 4, b'H', b'o'])]);
        let bytes = classic(LE_MICRO, false, 127, &[(1, 0, &with(rt(0, 2412, -40), &p))]);
        let (out, rep) = run_source(&bytes, Some("s")).unwrap();
        assert_eq!(rep.records, 1);
        let everything = format!("{out:?} {rep:?}");
        let hex: String = ssid.iter().map(|b| format!("{b:02x}")).collect();
        for needle in ["HomeNetwork", "Network-42", &hex, &hex.to_uppercase()] {
            assert!(!everything.contains(needle), "{needle} in {everything}");
        }
        assert_eq!(out[0].ie.as_deref(), Some("v1;ids=0,1,221;ssid=named;rates=0204;vendor=0050f2.04"));
    }

    #[test]
    fn pcapng_built_in_code_both_byte_orders_nanoseconds() {
        let p = probe([2, 0, 0, 0, 0, 3], 42, &[(0, b""), (1, &[2, 4])]);
        let frame = with(rt(0, 5180, -55), &p);
        for big in [false, true] {
            let mut w = NgWriter::new(big);
            w.interface(127, Some("entrance"), Some(9));
            w.interface(127, Some("cashier"), Some(9));
            w.epb(0, 1_669_111_450_707_757_999, &frame);
            w.spb(&frame);
            w.epb(1, 1_669_111_451_000_000_001, &frame);
            let (out, rep) = run_source(&w.out, None).unwrap();
            assert_eq!(rep.skipped.get("no_timestamp"), Some(&1));
            assert_eq!(accounted(&rep), 3);
            type Row<'a> = (i64, &'a str, i16, Option<u16>, Option<u16>);
            let got: Vec<Row<'_>> = out.iter().map(|o| (o.ts, o.sensor.as_str(), o.rssi, o.freq, o.seq)).collect();
            assert_eq!(
                got,
                vec![(1_669_111_450_707, "entrance", -55, Some(5180), Some(42)), (1_669_111_451_000, "cashier", -55, Some(5180), Some(42))],
                "big endian: {big}"
            );
            // A sensor given overrides the interface names.
            let (out, _) = run_source(&w.out, Some("s9")).unwrap();
            assert!(out.iter().all(|o| o.sensor == "s9"));
            let mut src = CaptureSource::open(&w.out[..], "t", None).unwrap();
            assert_eq!(src.format(), "pcapng");
            assert!(src.run(&mut |_| {}, &mut |_| {}).is_ok());
        }
    }

    #[test]
    fn without_a_sensor_a_capture_is_refused_up_front() {
        let bytes = classic(LE_MICRO, false, 127, &[]);
        let err = CaptureSource::open(&bytes[..], "cap.pcap", None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("cap.pcap: a pcap file does not say which sensor") && err.contains("--sensor ID"), "{err}");
        assert!(CaptureSource::open(&bytes[..], "cap.pcap", Some("  ".into())).is_err());
        let mut w = NgWriter::new(false);
        w.interface(127, Some("a"), None);
        w.interface(127, None, None);
        let err = CaptureSource::open(&w.out[..], "cap.pcapng", None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("pcapng interface 1 has no name"), "{err}");
        assert!(CaptureSource::open(&w.out[..], "cap.pcapng", Some("s".into())).is_ok());
        // An unnamed interface described only after frames: those frames are bad.
        let mut w = NgWriter::new(false);
        w.interface(127, Some("a"), None);
        w.epb(0, 0, &with(rt(0, 2412, -50), &probe([2, 0, 0, 0, 0, 1], 1, &[])));
        w.interface(127, None, None);
        w.epb(1, 0, &with(rt(0, 2412, -50), &probe([2, 0, 0, 0, 0, 1], 2, &[])));
        let (out, rep) = run_source(&w.out, None).unwrap();
        assert_eq!((out.len(), rep.bad), (1, 1));
        assert_eq!(rep.bad_samples[0].line, 2);
    }

    /// The first 200 frames of the Brno ESP32 capture. Expected values come from the
    /// dataset's own decoding (`pos1_2022-11-22.csv`, rows idx 0-199; its times are UTC+1).
    #[test]
    fn brno_excerpt_matches_the_published_decoding() {
        let bytes = read_file(BRNO);
        let (out, rep) = run_source(&bytes, Some("pos1")).unwrap();
        assert_eq!((rep.records, rep.bad, accounted(&rep)), (200, 0, 200), "{rep:?}");
        let first = &out[0];
        assert_eq!(first.ts, parse_rfc3339(b"2022-11-22T10:04:10.707757Z").unwrap());
        assert_eq!(first.mac, [0x98, 0xf6, 0x21, 0x04, 0x45, 0x4a]);
        assert_eq!((first.rssi, first.seq, first.freq), (-88, Some(1597), Some(2417)));
        assert_eq!((out[1].rssi, out[1].seq), (-89, Some(1598)));
        assert_eq!((out[2].rssi, out[2].seq), (-84, Some(3686)));
        let last = &out[199];
        assert_eq!(last.ts, parse_rfc3339(b"2022-11-22T10:05:47.246641Z").unwrap());
        assert_eq!((last.rssi, last.seq), (-54, Some(172)));
        assert_eq!(out.iter().map(|o| o.rssi as i64).sum::<i64>(), -14121);
        assert_eq!(out.iter().map(|o| o.rssi).min(), Some(-96));
        assert_eq!(out.iter().map(|o| o.rssi).max(), Some(-38));
        assert!(out.iter().all(|o| o.freq == Some(2417) && o.sensor == "pos1"));
        assert_eq!(out.iter().map(|o| o.mac).collect::<BTreeSet<_>>().len(), 35);
        assert_eq!(out.iter().filter(|o| o.mac[0] & 0x02 != 0).count(), 119);
        // Element ids in order, as the dataset lists them (dot11elt).
        let ids = |o: &Obs| -> String {
            let ie = o.ie.as_deref().unwrap_or_default();
            let list = ie.split(';').find_map(|p| p.strip_prefix("ids=")).unwrap_or_default();
            list.split(',').map(|i| i.split('.').next().unwrap_or_default()).collect::<Vec<_>>().join(", ")
        };
        assert_eq!(ids(&out[0]), "0, 1, 50, 3, 45, 191, 221, 255, 127, 221, 221");
        assert_eq!(ids(&out[2]), "0, 1, 50, 3, 45, 127, 191, 221");
        // 128 of the 200 name an SSID (anonymized as SSID_<digits> in this dataset).
        assert_eq!(out.iter().filter(|o| o.ie.as_deref().is_some_and(|ie| ie.contains(";ssid=named"))).count(), 128);
        assert!(out.iter().all(|o| !o.ie.as_deref().unwrap_or_default().contains("535349445f")), "SSID_ bytes in hex");
    }

    /// The Baccichet S21 Ultra capture (139 frames): radiotap with an FCS on every frame and
    /// one frame at +15 dBm. Expected values come from decoding the file's bytes by hand.
    #[test]
    fn baccichet_excerpt_keeps_the_implausible_frame() {
        let bytes = read_file(BACCICHET);
        let (out, rep) = run_source(&bytes, Some("sniffer")).unwrap();
        assert_eq!((rep.records, rep.bad, accounted(&rep)), (139, 0, 139), "{rep:?}");
        assert_eq!((out[0].ts, out[0].rssi, out[0].freq, out[0].seq), (1_684_589_398_574, -36, Some(2412), Some(138)));
        assert_eq!((out[137].ts, out[137].rssi, out[137].freq, out[137].seq), (1_684_590_580_855, 15, Some(2437), Some(1030)));
        assert_eq!(out.iter().filter(|o| o.rssi > 0).count(), 1);
        assert_eq!(out.iter().map(|o| o.rssi as i64).sum::<i64>(), -4704);
        let by_freq = out.iter().fold(BTreeMap::new(), |mut m, o| {
            *m.entry(o.freq).or_insert(0) += 1;
            m
        });
        assert_eq!(by_freq, [(Some(2412), 44), (Some(2437), 49), (Some(2462), 46)].into_iter().collect());
        assert_eq!(out.iter().map(|o| o.mac).collect::<BTreeSet<_>>().len(), 28);
        // The FCS was trimmed before the elements were read: every frame has a fingerprint,
        // and all are wildcard probes.
        assert!(out.iter().all(|o| o.ie.as_deref().is_some_and(|ie| ie.contains(";ssid=wild"))));
    }
}
