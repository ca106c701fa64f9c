//! Cisco Meraki Scanning API payloads: v2.0 `DevicesSeen` (WiFi), v2.1
//! `BluetoothDevicesSeen`, v3 `WiFi` / `Bluetooth`, and the MR MQTT telemetry message.
//!
//! This module owns turning those JSON posts into [`RawObservation`]s, tolerantly: numbers
//! may arrive as strings, epochs in seconds or milliseconds (also as floats), times without
//! `Z` (taken as UTC). What becomes an observation:
//! - v2.x: each entry of `data.observations`, heard by `data.apMac`;
//! - v3: each observation's `latestRecord` (heard by `nearestApMac`) and each
//!   `locations[].rssiRecords[]` entry (heard by its `apMac`, at the location's `time`);
//! - MQTT: the message itself (heard by `mrMac`).
//!
//! The sensor name emitted is the AP's MAC in lowercase colon form; the site maps it to a
//! sensor through the sensor's `mac` field. RSSI: v2.0 WiFi reports dB above the noise floor,
//! converted to dBm as `rssi + NOISE_FLOOR_DBM` (-95 dBm, Meraki's nominal floor); every other
//! version reports dBm. Client fields that identify people beyond the MAC (`ipv4`, `ipv6`,
//! `ssid`, `name`, `os`, `manufacturer`) are never read. Verifying the shared secret is the
//! receiver's job: [`parse_post`] returns it.

use crate::{Emit, Progress, Source, SourceError, SourceReport};
use footfall_core::time::{Millis, parse_rfc3339};
use footfall_core::{MacAddr, RadioKind, RawObservation};
use serde_json::Value;
use std::io::Read;

/// Nominal noise floor used to turn v2.0 WiFi "dB above noise" into dBm.
pub const NOISE_FLOOR_DBM: i16 = -95;

/// What a post is, by its `version` and `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    V2Wifi,
    V2Ble,
    V3Wifi,
    V3Ble,
    Mqtt,
}

/// A parsed post's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostInfo {
    pub kind: PostKind,
    pub secret: Option<String>,
}

/// Why a post (as a whole) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("not a Meraki Scanning API post: {0}")]
    NotAPost(String),
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<&str> {
    v.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// A time from an epoch (seconds, or milliseconds above 10^11) or an RFC 3339-ish string
/// (`Z` optional, `T` or space).
fn time_of(epoch: Option<&Value>, when: Option<&Value>) -> Option<Millis> {
    if let Some(e) = epoch.and_then(num).filter(|e| e.is_finite() && *e > 0.0) {
        return Some(if e >= 1e11 { e as Millis } else { (e * 1000.0) as Millis });
    }
    time_text(when.and_then(text)?)
}

/// A trimmed, non-empty time string: RFC 3339, `Z` optional. Shared with the v3 fast path.
pub(crate) fn time_text(s: &str) -> Option<Millis> {
    parse_rfc3339(s.as_bytes()).ok().or_else(|| parse_rfc3339(format!("{s}Z").as_bytes()).ok())
}

fn ap_name(v: Option<&Value>) -> Option<String> {
    footfall_core::mac::canonical_infrastructure(v.and_then(text)?)
}

/// One candidate observation before emission.
struct Rec<'a> {
    client: Option<&'a Value>,
    ap: Option<String>,
    ts: Option<Millis>,
    rssi: Option<f64>,
    v2_wifi: bool,
}

/// Parse one post, emitting its observations; skipped records are counted in `report`
/// with `position` (a line number) and the reason.
pub fn parse_post(post: &Value, position: u64, emit: &mut Emit<'_>, report: &mut SourceReport) -> Result<PostInfo, PostError> {
    let obj = post.as_object().ok_or_else(|| PostError::NotAPost("not a JSON object".into()))?;
    let secret = obj.get("secret").and_then(Value::as_str).map(str::to_string);
    let version =
        obj.get("version").and_then(|v| v.as_str().map(str::to_string).or_else(|| num(v).map(|n| n.to_string()))).unwrap_or_default();
    let typ = obj.get("type").and_then(Value::as_str).unwrap_or_default();
    let mut recs: Vec<Rec<'_>> = Vec::new();
    let kind = if obj.contains_key("mrMac") && obj.contains_key("clientMac") {
        recs.push(Rec {
            client: obj.get("clientMac"),
            ap: ap_name(obj.get("mrMac")),
            ts: time_of(None, obj.get("timestamp")),
            rssi: obj.get("rssi").and_then(num),
            v2_wifi: false,
        });
        if obj.get("radio").and_then(Value::as_str) == Some("ble") { PostKind::V3Ble } else { PostKind::Mqtt }
    } else {
        let data = obj.get("data").and_then(Value::as_object).ok_or_else(|| PostError::NotAPost("no \"data\" object".into()))?;
        let observations = data
            .get("observations")
            .and_then(Value::as_array)
            .ok_or_else(|| PostError::NotAPost("no \"data.observations\" list".into()))?;
        let kind = match (version.as_str(), typ) {
            (v, "DevicesSeen") if v.starts_with('2') => PostKind::V2Wifi,
            (v, "BluetoothDevicesSeen") if v.starts_with('2') => PostKind::V2Ble,
            (v, "WiFi") if v.starts_with('3') => PostKind::V3Wifi,
            (v, "Bluetooth") if v.starts_with('3') => PostKind::V3Ble,
            (v, t) => return Err(PostError::NotAPost(format!("unsupported version {v:?} and type {t:?}"))),
        };
        match kind {
            PostKind::V2Wifi | PostKind::V2Ble => {
                let ap = ap_name(data.get("apMac"));
                for o in observations {
                    recs.push(Rec {
                        client: o.get("clientMac"),
                        ap: ap.clone(),
                        ts: time_of(o.get("seenEpoch"), o.get("seenTime")),
                        rssi: o.get("rssi").and_then(num),
                        v2_wifi: kind == PostKind::V2Wifi,
                    });
                }
            }
            _ => {
                for o in observations {
                    let client = o.get("clientMac");
                    if let Some(latest) = o.get("latestRecord").filter(|l| l.is_object()) {
                        recs.push(Rec {
                            client,
                            ap: ap_name(latest.get("nearestApMac")),
                            ts: time_of(None, latest.get("time")),
                            rssi: latest.get("nearestApRssi").and_then(num),
                            v2_wifi: false,
                        });
                    }
                    for loc in o.get("locations").and_then(Value::as_array).into_iter().flatten() {
                        let ts = time_of(None, loc.get("time"));
                        for r in loc.get("rssiRecords").and_then(Value::as_array).into_iter().flatten() {
                            recs.push(Rec { client, ap: ap_name(r.get("apMac")), ts, rssi: r.get("rssi").and_then(num), v2_wifi: false });
                        }
                    }
                }
            }
        }
        kind
    };
    let radio = if matches!(kind, PostKind::V2Ble | PostKind::V3Ble) { RadioKind::Ble } else { RadioKind::Wifi };
    for r in recs {
        let client = r.client.and_then(text).and_then(|m| MacAddr::parse(m).ok());
        report_and_emit(client, (r.ap, r.ts, r.rssi), r.v2_wifi, radio, position, emit, report);
    }
    Ok(PostInfo { kind, secret })
}

/// Check one record's fields (client MAC, AP, time, RSSI, in that order) and emit it, or
/// count it as bad with the first missing field's reason. Shared with the v3 fast path.
pub(crate) fn report_and_emit(
    client: Option<MacAddr>,
    (ap, ts, rssi): (Option<String>, Option<Millis>, Option<f64>),
    v2_wifi: bool,
    radio: RadioKind,
    position: u64,
    emit: &mut Emit<'_>,
    report: &mut SourceReport,
) {
    let Some(mac) = client else {
        report.bad_record(position, "clientMac: missing or not a MAC address");
        return;
    };
    let Some(ap) = ap else {
        report.bad_record(position, "AP MAC (apMac / nearestApMac / mrMac): missing or not a MAC address");
        return;
    };
    let Some(ts) = ts else {
        report.bad_record(position, "time: missing or unreadable (seenEpoch / seenTime / time)");
        return;
    };
    let Some(rssi) = rssi.filter(|x| x.is_finite()) else {
        report.bad_record(position, "rssi: missing or not a number");
        return;
    };
    let dbm = if v2_wifi { rssi + NOISE_FLOOR_DBM as f64 } else { rssi };
    report.records += 1;
    emit(RawObservation {
        ts,
        sensor: &ap,
        mac,
        rssi: dbm.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16,
        freq: None,
        seq: None,
        ie: None,
        kind: radio,
    });
}

/// Whether the start of an input looks like Meraki JSON rather than the sensor JSON lines.
pub fn looks_like(head: &[u8]) -> bool {
    let s = String::from_utf8_lossy(head);
    s.trim_start_matches('\u{feff}').trim_start().starts_with('{')
        && ["\"observations\"", "\"mrMac\"", "\"DevicesSeen\"", "\"BluetoothDevicesSeen\"", "\"apMac\"", "\"networkId\""]
            .iter()
            .any(|k| s.contains(k))
}

/// A file of Meraki posts: one JSON document, or one post per line.
pub struct MerakiSource<R> {
    input: R,
    what: String,
}

impl<R: Read> MerakiSource<R> {
    pub fn new(input: R, what: impl Into<String>) -> Self {
        Self { input, what: what.into() }
    }
}

impl<R: Read> Source for MerakiSource<R> {
    fn format(&self) -> &'static str {
        "meraki"
    }

    fn run(&mut self, emit: &mut Emit<'_>, progress: &mut Progress<'_>) -> Result<SourceReport, SourceError> {
        let mut bytes = Vec::new();
        self.input.read_to_end(&mut bytes).map_err(|source| SourceError::Io { what: self.what.clone(), offset: 0, source })?;
        let mut report = SourceReport { bytes: bytes.len() as u64, ..SourceReport::default() };
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
        let mut posts = 0u64;
        loop {
            let start = stream.byte_offset();
            let line = 1 + body[..start].iter().filter(|&&b| b == b'\n').count() as u64 + leading_newlines(&body[start..]);
            match stream.next() {
                None => break,
                Some(Ok(v)) => match parse_post(&v, line, emit, &mut report) {
                    Ok(_) => posts += 1,
                    Err(e) if posts == 0 => {
                        return Err(SourceError::NotThisFormat {
                            what: self.what.clone(),
                            format: "meraki",
                            why: format!("line {line}: {e}"),
                        });
                    }
                    Err(e) => report.bad_record(line, e.to_string()),
                },
                Some(Err(e)) if posts == 0 => {
                    return Err(SourceError::NotThisFormat {
                        what: self.what.clone(),
                        format: "meraki",
                        why: format!("line {}: {e}", e.line()),
                    });
                }
                Some(Err(e)) => {
                    // A broken document: report it and stop (the rest cannot be framed reliably).
                    report.bad_record(line, format!("not valid JSON: {e}"));
                    break;
                }
            }
        }
        progress(report.bytes);
        Ok(report)
    }
}

fn leading_newlines(b: &[u8]) -> u64 {
    b.iter().take_while(|c| c.is_ascii_whitespace()).filter(|&&c| c == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = Vec<(i64, String, i16, RadioKind)>;

    fn run(text: &str) -> Result<(Got, SourceReport), SourceError> {
        let mut out = Vec::new();
        let rep = MerakiSource::new(text.as_bytes(), "post.json")
            .run(&mut |o| out.push((o.ts, o.sensor.to_string(), o.rssi, o.kind)), &mut |_| {})?;
        Ok((out, rep))
    }

    #[test]
    fn v2_wifi_converts_snr_and_tolerates_odd_fields() {
        let post = r#"{"version":"2.0","secret":"s","type":"DevicesSeen","data":{"apMac":"00:18:0A:13:DD:B0","observations":[
            {"clientMac":"00:26:ab:b8:a9:a5","seenEpoch":1473678752,"seenTime":"2016-09-12T11:12:32Z","rssi":22,"ipv4":"/192.168.0.15"},
            {"clientMac":"00:26:ab:b8:a9:a6","seenEpoch":1795358155859.073,"rssi":"30"},
            {"clientMac":"00:26:ab:b8:a9:a7","seenTime":"2026-11-22T14:35:55.859073","rssi":40},
            {"clientMac":"nope","seenEpoch":1473678752,"rssi":22},
            {"clientMac":"00:26:ab:b8:a9:a8","rssi":22}]}}"#;
        let (out, rep) = run(post).unwrap();
        assert_eq!(out[0], (1_473_678_752_000, "00:18:0a:13:dd:b0".into(), -73, RadioKind::Wifi));
        assert_eq!(out[1].0, 1_795_358_155_859);
        assert_eq!(out[1].2, -65);
        assert_eq!(out[2].0, parse_rfc3339(b"2026-11-22T14:35:55.859Z").unwrap());
        assert_eq!((rep.records, rep.bad), (3, 2));
        assert!(rep.bad_samples[0].reason.starts_with("clientMac"));
        assert!(rep.bad_samples[1].reason.starts_with("time"));
    }

    #[test]
    fn v3_emits_latest_and_rssi_records_with_string_numbers() {
        let post = r#"{"version":"3.0","secret":"demo","type":"WiFi","data":{"networkId":"L_1","observations":[
            {"clientMac":"30:23:03:57:b1:0d","latestRecord":{"nearestApMac":"e0:55:3d:c0:76:f4","nearestApRssi":"-74","time":"2020-03-09T17:54:42Z"},
             "locations":[{"time":"2020-03-09T17:54:06Z","rssiRecords":[{"apMac":"e0:55:3d:c0:76:f4","rssi":-75},{"apMac":"e0:55:3d:c0:5e:2e","rssi":"-78"}]}]}]}}"#;
        let mut info = None;
        let mut n = 0;
        let mut rep = SourceReport::default();
        let v: Value = serde_json::from_str(post).unwrap();
        info.replace(parse_post(&v, 1, &mut |_| n += 1, &mut rep).unwrap());
        assert_eq!(info.unwrap(), PostInfo { kind: PostKind::V3Wifi, secret: Some("demo".into()) });
        assert_eq!((n, rep.records), (3, 3));
        let (out, _) = run(post).unwrap();
        assert_eq!(out.iter().map(|o| o.2).collect::<Vec<_>>(), vec![-74, -75, -78]);
    }

    #[test]
    fn ble_and_mqtt_and_lines() {
        let lines = concat!(
            r#"{"version":"2.1","type":"BluetoothDevicesSeen","secret":"","data":{"apMac":"e0:cb:bc:8d:4b:06","observations":[{"clientMac":"c0:ee:fb:ab:90:98","rssi":-77,"seenEpoch":1581241007}]}}"#,
            "\n",
            r#"{"mrMac":"A8:46:9D:27:56:63","clientType":"visible","clientMac":"E6:59:DD:E4:B3:F1","timestamp":"2021-11-23 15:29:32.116","rssi":"-74","radio":"wifi"}"#,
            "\n"
        );
        let (out, rep) = run(lines).unwrap();
        assert_eq!(rep.records, 2);
        assert_eq!(out[0].3, RadioKind::Ble);
        assert_eq!(out[0].2, -77);
        assert_eq!(out[1], (parse_rfc3339(b"2021-11-23T15:29:32.116Z").unwrap(), "a8:46:9d:27:56:63".into(), -74, RadioKind::Wifi));
    }

    #[test]
    fn not_meraki_and_broken_json() {
        assert!(matches!(run(r#"{"ts":1,"sensor":"a","mac":"aa:bb:cc:dd:ee:ff","rssi":-50}"#), Err(SourceError::NotThisFormat { .. })));
        assert!(matches!(run("{\"data\": [1,"), Err(SourceError::NotThisFormat { .. })));
        let two = "{\"version\":\"3.0\",\"type\":\"WiFi\",\"data\":{\"observations\":[]}}\n{broken\n";
        let (_, rep) = run(two).unwrap();
        assert_eq!(rep.bad, 1);
        assert_eq!(rep.bad_samples[0].line, 2);
        assert!(looks_like(b"{\"data\": {\"apMac\": \"x\""));
        assert!(!looks_like(b"{\"ts\":1,\"mac\":\"x\"}"));
    }
}
