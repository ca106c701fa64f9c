//! The fast path for Meraki Scanning API v3 posts (WiFi and Bluetooth), the bulk of a busy
//! receiver's traffic: typed deserialization that borrows strings from the body instead of
//! building a `serde_json::Value` tree, and one MAC canonicalization per AP per post.
//!
//! It must give exactly what [`crate::meraki::parse_post`] gives for the posts it accepts
//! (a test runs both on the same posts); for anything else (v2, MQTT, a field of an
//! unexpected type) [`V3Post::parse`] answers `None` and the caller takes the general path.
//! It owns no format knowledge beyond v3's shape.

use crate::SourceReport;
use crate::meraki::{PostInfo, PostKind, report_and_emit, time_text};
use footfall_core::time::Millis;
use footfall_core::{MacAddr, RadioKind};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;

/// A number, or a string holding one (Meraki sends both, e.g. `"nearestApRssi": "-74"`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Num(Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num(Some(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Num, E> {
                Ok(Num(v.trim().parse().ok()))
            }
            fn visit_unit<E>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_none<E>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
        }
        d.deserialize_any(V)
    }
}

type Text<'a> = Option<Cow<'a, str>>;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    version: Option<Num>,
    #[serde(default, borrow)]
    secret: Text<'a>,
    #[serde(default, borrow, rename = "type")]
    kind: Text<'a>,
    #[serde(borrow)]
    data: Data<'a>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    observations: Vec<Obs<'a>>,
}

#[derive(Deserialize)]
struct Obs<'a> {
    #[serde(default, borrow, rename = "clientMac")]
    client: Text<'a>,
    #[serde(default, borrow, rename = "latestRecord")]
    latest: Option<Latest<'a>>,
    #[serde(default, borrow)]
    locations: Option<Vec<Loc<'a>>>,
}

#[derive(Deserialize)]
struct Latest<'a> {
    #[serde(default, borrow)]
    time: Text<'a>,
    #[serde(default, borrow, rename = "nearestApMac")]
    ap: Text<'a>,
    #[serde(default, rename = "nearestApRssi")]
    rssi: Option<Num>,
}

#[derive(Deserialize)]
struct Loc<'a> {
    #[serde(default, borrow)]
    time: Text<'a>,
    #[serde(default, borrow, rename = "rssiRecords")]
    records: Option<Vec<RssiRecord<'a>>>,
}

#[derive(Deserialize)]
struct RssiRecord<'a> {
    #[serde(default, borrow, rename = "apMac")]
    ap: Text<'a>,
    #[serde(default)]
    rssi: Option<Num>,
}

/// A v3 post read by the fast path.
pub struct V3Post<'a> {
    env: Envelope<'a>,
    radio: RadioKind,
}

fn text<'b>(t: &'b Text<'_>) -> Option<&'b str> {
    t.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn time(t: &Text<'_>) -> Option<Millis> {
    time_text(text(t)?)
}

impl<'a> V3Post<'a> {
    /// The post, if it is a v3 WiFi or Bluetooth post this path reads; `None` otherwise
    /// (including bodies that are not JSON: the general path reports those).
    pub fn parse(body: &'a [u8]) -> Option<V3Post<'a>> {
        let env: Envelope<'a> = serde_json::from_slice(body).ok()?;
        let version = match env.version {
            Some(Num(Some(v))) => v.to_string(),
            _ => return None,
        };
        if !version.starts_with('3') {
            return None;
        }
        let radio = match text(&env.kind) {
            Some("WiFi") => RadioKind::Wifi,
            Some("Bluetooth") => RadioKind::Ble,
            _ => return None,
        };
        Some(V3Post { env, radio })
    }

    /// The post's `secret` (absent = empty).
    pub fn secret(&self) -> &str {
        self.env.secret.as_deref().unwrap_or("")
    }

    /// Emit its observations, counting skipped records in `report` at `position`, exactly
    /// as `parse_post` does.
    pub fn emit(&self, position: u64, emit: &mut crate::Emit<'_>, report: &mut SourceReport) -> PostInfo {
        // One canonicalization per distinct AP spelling in the post.
        let mut aps: HashMap<String, Option<String>> = HashMap::new();
        let mut ap_of = |t: &Text<'_>| -> Option<String> {
            let raw = text(t)?;
            if let Some(c) = aps.get(raw) {
                return c.clone();
            }
            let c = footfall_core::mac::canonical_infrastructure(raw);
            aps.insert(raw.to_string(), c.clone());
            c
        };
        for o in &self.env.data.observations {
            let client = text(&o.client).and_then(|m| MacAddr::parse(m).ok());
            if let Some(l) = &o.latest {
                let rec = (ap_of(&l.ap), time(&l.time), l.rssi.and_then(|n| n.0));
                report_and_emit(client, rec, false, self.radio, position, emit, report);
            }
            for loc in o.locations.iter().flatten() {
                let ts = time(&loc.time);
                for r in loc.records.iter().flatten() {
                    report_and_emit(client, (ap_of(&r.ap), ts, r.rssi.and_then(|n| n.0)), false, self.radio, position, emit, report);
                }
            }
        }
        PostInfo {
            kind: if self.radio == RadioKind::Ble { PostKind::V3Ble } else { PostKind::V3Wifi },
            secret: self.env.secret.as_deref().map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meraki::parse_post;

    /// What a path emits: (ts, sensor, rssi, kind, MAC as a number) per observation, plus the
    /// report's counts and reasons.
    type Out = (Vec<(Millis, String, i16, RadioKind, u64)>, u64, u64, Vec<String>);

    fn mac_digest(m: &MacAddr) -> u64 {
        // MacAddr is deliberately unprintable; its octets as a number tell two apart.
        let o = m.octets();
        u64::from_le_bytes([o[0], o[1], o[2], o[3], o[4], o[5], 0, 0])
    }

    fn general(body: &[u8]) -> Out {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        let (mut got, mut report) = (Vec::new(), SourceReport::default());
        parse_post(&v, 1, &mut |r| got.push((r.ts, r.sensor.to_string(), r.rssi, r.kind, mac_digest(&r.mac))), &mut report).unwrap();
        (got, report.records, report.bad, report.bad_samples.iter().map(|b| b.reason.clone()).collect())
    }

    fn fast(body: &[u8]) -> Out {
        let post = V3Post::parse(body).expect("a v3 post");
        let (mut got, mut report) = (Vec::new(), SourceReport::default());
        post.emit(1, &mut |r| got.push((r.ts, r.sensor.to_string(), r.rssi, r.kind, mac_digest(&r.mac))), &mut report);
        (got, report.records, report.bad, report.bad_samples.iter().map(|b| b.reason.clone()).collect())
    }

    #[test]
    fn same_observations_as_the_general_path() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/meraki");
        let mut bodies: Vec<Vec<u8>> = vec![std::fs::read(dir.join("v3_wifi_ciscodevnet_locationscanningv3format.json")).unwrap()];
        let real = std::fs::read_to_string(dir.join("v3_real_posts_2021.jsonl")).unwrap();
        bodies.extend(real.lines().filter(|l| !l.trim().is_empty()).map(|l| l.as_bytes().to_vec()));
        // Edge cases: strings for numbers, missing and malformed fields, escapes, BLE.
        bodies.push(
            br#"{"version":"3.0","secret":"s","type":"Bluetooth","data":{"networkId":"n","observations":[
            {"clientMac":"00:26:ab:b8:a9:a5","latestRecord":{"time":"2026-03-02T10:00:00","nearestApMac":"E0:55:3D:C0:76:F4","nearestApRssi":" -70 "},
             "locations":[{"time":"2026-03-02T10:00:01Z","rssiRecords":[{"apMac":"e0:55:3d:c0:76:f4","rssi":"x"},{"apMac":"nope","rssi":-60},{"apMac":"e0:55:3d:c0:76:f4","rssi":-61.6}]}]},
            {"clientMac":"zz","latestRecord":{"time":"2026-03-02T10:00:00Z","nearestApMac":"e0:55:3d:c0:76:f4","nearestApRssi":-50}},
            {"clientMac":"00:26:ab:b8:a9:a6","latestRecord":null,"locations":null},
            {"clientMac":"00:26:ab:b8:a9:a7","latestRecord":{"time":"","nearestApMac":"e0:55:3d:c0:76:f4","nearestApRssi":-50}},
            {"clientMac":"00:26:ab:b8:a9:a8","latestRecord":{"time":"2026-03-02T10:00:00Z","nearestApMac":"e0:55:3d:c0:76:f4"}}]}}"#
                .to_vec(),
        );
        let mut emitted = 0;
        for b in &bodies {
            let want = general(b);
            assert_eq!(fast(b), want);
            emitted += want.0.len();
        }
        assert!(emitted > 100, "{emitted}");
        // Not v3: left to the general path.
        for other in [
            &br#"{"version":"2.0","secret":"s","type":"DevicesSeen","data":{"apMac":"00:18:0a:13:dd:b0","observations":[]}}"#[..],
            br#"{"mrMac":"00:18:0a:13:dd:b0","clientMac":"00:26:ab:b8:a9:a5","timestamp":"2021-11-23 15:29:32.116","rssi":"-74"}"#,
            br#"{"version":"3.0","type":"WiFi","data":{"observations":[{"clientMac":5}]}}"#,
            b"{nope",
        ] {
            assert!(V3Post::parse(other).is_none());
        }
    }
}
