//! Request bodies → pseudonymous batches: the server's source boundary.
//!
//! A sensor agent's batch ([`observations`]) is pseudonymous already (the agent ran the
//! same filter and keyed hash on the sensor): only its sensor id is resolved here.
//!
//! A Meraki post is parsed with `footfall_sources::meraki::parse_post`, a sensor body with
//! `footfall_sources::jsonl::JsonlSource`; every raw observation goes through the shared
//! [`Intake`] (sensor lookup, incl. AP MAC → sensor, plausibility filter, keyed
//! pseudonymization) inside the source's callback, so a raw MAC never leaves this module's
//! stack frames. What comes out is a [`Batch`] of [`Observation`]s ready for the journal,
//! or why the body was refused. This module knows no HTTP status codes and does no I/O.

use crate::journal::AgentMark;
use footfall_core::{Observation, RawObservation};
use footfall_sources::jsonl::JsonlSource;
use footfall_sources::meraki::{PostError, parse_post};
use footfall_sources::meraki_fast::V3Post;
use footfall_sources::{Source, SourceError, SourceReport};
use footfall_transforms::filter::DropCounts;
use footfall_transforms::intake::Intake;
use footfall_transforms::wire::SensorBatch;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// What one body contributed.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Sensor ids; each observation's `sensor` indexes this list (see `journal::Record`).
    pub sensors: Vec<String>,
    pub obs: Vec<Observation>,
    /// Dropped at intake, by reason.
    pub drops: DropCounts,
    /// Records the source could not read (with the first positions and reasons).
    pub report: SourceReport,
    /// Sensor names the site does not know (a few).
    pub unknown_sensors: BTreeSet<String>,
}

/// Why a body was refused as a whole. Nothing of it is kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The body is not JSON at all.
    NotJson(String),
    /// The post's `secret` does not match the configured one.
    WrongSecret,
    /// JSON, but not what this endpoint takes.
    NotThisFormat(String),
}

/// Read a sensor agent's batch ([`SensorBatch`]): its observations are pseudonymous
/// already; the sensor id must be one of the site's, and the agent's key rotation must be
/// `key_epoch_days`, the server's. The batch is journalled under that one sensor id, with
/// the agent's drops; the mark identifies it for deduplication.
pub(crate) fn observations(body: &[u8], site_sensors: &[String], key_epoch_days: Option<u32>) -> Result<(AgentMark, Batch), Refused> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Refused::NotJson(e.to_string()))?;
    let b: SensorBatch = serde_json::from_value(value).map_err(|e| Refused::NotThisFormat(format!("not a sensor agent batch: {e}")))?;
    if b.agent.trim().is_empty() || b.agent.len() > 200 {
        return Err(Refused::NotThisFormat("the batch's agent id must be 1 to 200 characters".into()));
    }
    if b.batch == 0 {
        return Err(Refused::NotThisFormat("batch sequence numbers start at 1".into()));
    }
    if b.key_epoch_days != key_epoch_days {
        let days = |d: Option<u32>| d.map_or_else(|| "no key rotation".to_string(), |d| format!("key_epoch_days = {d}"));
        let flag = key_epoch_days.map_or_else(|| "without --key-epoch-days".to_string(), |d| format!("with --key-epoch-days {d}"));
        return Err(Refused::NotThisFormat(format!(
            "the agent pseudonymized with {}, this server with {}: its pseudonyms would not match the server's or its opt-outs. \
             Restart the agent {flag}, after removing its spool (batches already spooled carry the other pseudonyms)",
            days(b.key_epoch_days),
            days(key_epoch_days)
        )));
    }
    if !site_sensors.contains(&b.sensor) {
        return Err(Refused::NotThisFormat(format!(
            "sensor {:?} is not in the site; add it to the site file or start the agent with the right --sensor",
            b.sensor
        )));
    }
    let batch = Batch {
        sensors: vec![b.sensor],
        obs: b.observations.into_iter().map(|o| o.with_sensor(0)).collect(),
        drops: b.dropped,
        report: SourceReport { bytes: body.len() as u64, ..SourceReport::default() },
        unknown_sensors: BTreeSet::new(),
    };
    Ok((AgentMark { agent: b.agent, batch: b.batch }, batch))
}

/// Whether two secrets are equal, in time independent of where they differ (and of their
/// lengths): both are hashed and the digests compared in constant time.
pub(crate) fn secret_eq(given: &str, expected: &str) -> bool {
    // blake3::Hash implements PartialEq in constant time.
    blake3::hash(given.as_bytes()) == blake3::hash(expected.as_bytes())
}

/// Runs raw observations through the intake and gathers the batch.
struct Collector<'a> {
    intake: &'a mut Intake,
    site_sensors: &'a [String],
    /// Site sensor index → index in `batch.sensors`.
    local: Vec<Option<u16>>,
    batch: Batch,
}

impl<'a> Collector<'a> {
    fn new(intake: &'a mut Intake, site_sensors: &'a [String]) -> Self {
        // Start from a clean slate: the intake is shared and its counters are per request.
        intake.drops = DropCounts::default();
        intake.unknown_sensors.clear();
        Self { intake, site_sensors, local: vec![None; site_sensors.len()], batch: Batch::default() }
    }

    fn accept(&mut self, raw: &RawObservation<'_>) {
        let Some(mut o) = self.intake.accept(raw) else { return };
        let site_index = o.sensor as usize;
        let local = match self.local.get(site_index).copied().flatten() {
            Some(l) => l,
            None => {
                let l = self.batch.sensors.len() as u16;
                self.batch.sensors.push(self.site_sensors.get(site_index).cloned().unwrap_or_default());
                if let Some(slot) = self.local.get_mut(site_index) {
                    *slot = Some(l);
                }
                l
            }
        };
        o.sensor = local;
        self.batch.obs.push(o);
    }

    fn finish(self, report: SourceReport) -> Batch {
        let mut batch = self.batch;
        batch.drops = std::mem::take(&mut self.intake.drops);
        batch.unknown_sensors = std::mem::take(&mut self.intake.unknown_sensors);
        batch.report = report;
        batch
    }
}

/// A Meraki Scanning API post. `secret` is the configured one: the post's `secret` must
/// equal it; a post without one counts as the empty secret.
pub(crate) fn meraki(body: &[u8], secret: &str, intake: &Mutex<Intake>, site_sensors: &[String]) -> Result<Batch, Refused> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut report = SourceReport { bytes: body.len() as u64, ..SourceReport::default() };
    // v3 posts (the bulk of the traffic) take the typed fast path; the rest the general one.
    if let Some(post) = V3Post::parse(body) {
        if !secret_eq(post.secret(), secret) {
            return Err(Refused::WrongSecret);
        }
        let mut intake = intake.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = Collector::new(&mut intake, site_sensors);
        post.emit(1, &mut |raw| c.accept(&raw), &mut report);
        return Ok(c.finish(report));
    }
    let post: Value = serde_json::from_slice(body).map_err(|e| Refused::NotJson(e.to_string()))?;
    // Authenticate before reading anything else of the post.
    let given = post.get("secret").and_then(Value::as_str).unwrap_or("");
    if !secret_eq(given, secret) {
        return Err(Refused::WrongSecret);
    }
    let mut intake = intake.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Collector::new(&mut intake, site_sensors);
    parse_post(&post, 1, &mut |raw| c.accept(&raw), &mut report).map_err(|e: PostError| Refused::NotThisFormat(e.to_string()))?;
    Ok(c.finish(report))
}

/// A body of sensor JSON lines. Bad lines are counted (the first with their numbers); a
/// body whose first line is not a sensor object is refused; an empty body is an empty batch.
pub(crate) fn jsonl(body: &[u8], intake: &Mutex<Intake>, site_sensors: &[String]) -> Result<Batch, Refused> {
    if body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body).trim_ascii().is_empty() {
        return Ok(Batch::default());
    }
    let mut intake = intake.lock().unwrap_or_else(|e| e.into_inner());
    let mut c = Collector::new(&mut intake, site_sensors);
    let report = JsonlSource::new(body, "request body").run(&mut |raw| c.accept(&raw), &mut |_| {}).map_err(|e| match e {
        SourceError::NotThisFormat { why, .. } => Refused::NotThisFormat(why),
        // Reading a byte slice cannot fail otherwise; whatever it is, it is about the body.
        other => Refused::NotThisFormat(other.to_string()),
    })?;
    Ok(c.finish(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::Site;
    use footfall_transforms::Pseudonymizer;
    use footfall_transforms::filter::DropReason;

    fn setup() -> (Mutex<Intake>, Vec<String>) {
        let site = Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s1","name":"S","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]]}],
            "sensors":[{"id":"a","x":1,"y":1,"store":"s1"},{"id":"b","x":2,"y":2,"store":"s1","mac":"00:18:0A:13:DD:B0"}]}"#,
        )
        .unwrap();
        let ids = site.sensors.iter().map(|s| s.id.clone()).collect();
        (Mutex::new(Intake::new(&site, Pseudonymizer::new([9; 32]))), ids)
    }

    #[test]
    fn meraki_secret_then_format_then_observations() {
        let (intake, ids) = setup();
        let post = br#"{"version":"2.0","secret":"s3","type":"DevicesSeen","data":{"apMac":"00:18:0a:13:dd:b0","observations":[
            {"clientMac":"00:26:ab:b8:a9:a5","seenEpoch":1473678752,"rssi":22},
            {"clientMac":"01:00:5e:00:00:01","seenEpoch":1473678752,"rssi":22},
            {"clientMac":"00:26:ab:b8:a9:a6","rssi":22}]}}"#;
        let b = meraki(post, "s3", &intake, &ids).unwrap();
        assert_eq!((b.obs.len(), b.sensors.clone()), (1, vec!["b".to_string()]));
        assert_eq!((b.obs[0].sensor, b.obs[0].rssi), (0, -73));
        assert_eq!(b.drops.0.get(&DropReason::GroupAddress), Some(&1));
        assert_eq!(b.report.bad, 1);
        assert_eq!(meraki(post, "s4", &intake, &ids).unwrap_err(), Refused::WrongSecret);
        assert_eq!(meraki(post, "", &intake, &ids).unwrap_err(), Refused::WrongSecret);
        assert!(matches!(meraki(b"{nope", "s3", &intake, &ids), Err(Refused::NotJson(_))));
        assert!(matches!(meraki(br#"{"secret":"s3","hello":1}"#, "s3", &intake, &ids), Err(Refused::NotThisFormat(_))));
        // No secret in the post is the empty secret.
        let mqtt = br#"{"mrMac":"00:18:0a:13:dd:b0","clientMac":"00:26:ab:b8:a9:a5","timestamp":"2021-11-23 15:29:32.116","rssi":"-74"}"#;
        assert_eq!(meraki(mqtt, "", &intake, &ids).unwrap().obs.len(), 1);
        assert_eq!(meraki(mqtt, "s3", &intake, &ids).unwrap_err(), Refused::WrongSecret);
    }

    #[test]
    fn jsonl_counts_bad_lines_and_unknown_sensors_per_body() {
        let (intake, ids) = setup();
        let body = b"{\"ts\":1,\"sensor\":\"b\",\"mac\":\"00:16:3e:00:00:01\",\"rssi\":-50}\n\
            {\"ts\":2,\"sensor\":\"zz\",\"mac\":\"00:16:3e:00:00:01\",\"rssi\":-50}\nnot json\n\
            {\"ts\":3,\"sensor\":\"a\",\"mac\":\"00:16:3e:00:00:02\",\"rssi\":-50}\n";
        let b = jsonl(body, &intake, &ids).unwrap();
        assert_eq!(b.sensors, vec!["b".to_string(), "a".to_string()]);
        assert_eq!(b.obs.iter().map(|o| o.sensor).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(b.report.bad_samples.iter().map(|s| s.line).collect::<Vec<_>>(), vec![3]);
        assert_eq!(b.unknown_sensors.iter().collect::<Vec<_>>(), vec!["zz"]);
        let again = jsonl(body, &intake, &ids).unwrap();
        assert_eq!(again.drops, b.drops, "counters are per request");
        assert!(jsonl(b"  \n", &intake, &ids).unwrap().obs.is_empty());
        assert!(matches!(jsonl(b"{\"version\":3}\n", &intake, &ids), Err(Refused::NotThisFormat(_))));
    }

    #[test]
    fn agent_batches_name_a_site_sensor() {
        let (_, ids) = setup();
        let body = br#"{"agent":"a-1","batch":3,"sensor":"b","observations":[{"ts":1,"device":"00000000000000ab","rssi":-70,"randomized":false,"seq":4}],"dropped":{"group_address":1}}"#;
        let (mark, b) = observations(body, &ids, None).unwrap();
        assert_eq!(mark, AgentMark { agent: "a-1".into(), batch: 3 });
        assert_eq!((b.sensors, b.obs.len(), b.obs[0].sensor, b.obs[0].seq), (vec!["b".to_string()], 1, 0, Some(4)));
        assert_eq!(b.drops.0.get(&DropReason::GroupAddress), Some(&1));
        let unknown = br#"{"agent":"a-1","batch":3,"sensor":"zz","observations":[]}"#;
        assert!(matches!(observations(unknown, &ids, None), Err(Refused::NotThisFormat(w)) if w.contains("\"zz\" is not in the site")));
        assert!(matches!(observations(b"{", &ids, None), Err(Refused::NotJson(_))));
        // The agent's key rotation must be the server's, either way.
        let rotated = br#"{"agent":"a-1","batch":4,"sensor":"b","observations":[],"key_epoch_days":1}"#;
        assert!(observations(rotated, &ids, Some(1)).is_ok());
        let why = |r| match r {
            Err(Refused::NotThisFormat(w)) => w,
            other => panic!("{:?}", other.map(|(m, _)| m)),
        };
        let w = why(observations(rotated, &ids, None));
        assert!(w.contains("key_epoch_days = 1, this server with no key rotation") && w.contains("without --key-epoch-days"), "{w}");
        let w = why(observations(body, &ids, Some(7)));
        assert!(w.contains("with no key rotation, this server with key_epoch_days = 7") && w.contains("with --key-epoch-days 7"), "{w}");
        assert!(why(observations(rotated, &ids, Some(30))).contains("removing its spool"));
        assert!(matches!(
            observations(br#"{"agent":"a","batch":0,"sensor":"b","observations":[]}"#, &ids, None),
            Err(Refused::NotThisFormat(_))
        ));
        assert!(matches!(
            observations(br#"{"agent":"","batch":1,"sensor":"b","observations":[]}"#, &ids, None),
            Err(Refused::NotThisFormat(_))
        ));
        // A raw MAC where a pseudonym belongs is refused.
        let raw =
            r#"{"agent":"a","batch":1,"sensor":"b","observations":[{"ts":1,"device":"00:16:3e:00:00:01","rssi":-70,"randomized":false}]}"#;
        assert!(matches!(observations(raw.as_bytes(), &ids, None), Err(Refused::NotThisFormat(_))));
        let raw = raw.replace("00:16:3e:00:00:01", "00163e000001");
        assert!(matches!(observations(raw.as_bytes(), &ids, None), Err(Refused::NotThisFormat(_))));
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("", "abc"));
        assert!(secret_eq("", ""));
    }
}
