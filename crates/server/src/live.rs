//! Live state: occupancy now, alert rules, and their delivery (events and a webhook).
//!
//! Owns the current [`Occupancy`] (replaced by the ingester after every applied batch, from
//! the pipeline's open visits), the alert rules and their memory (an occupancy alert fires
//! when a store goes above its limit and again only after it has fallen back; a sensor-silent
//! alert fires once per silence), and the webhook thread. Silence is measured on the
//! injected [`Clock`] from the last time a sensor's observations were applied. Counts below
//! k are published as null. It must not compute period figures (the query crate does) or
//! see raw MACs.

use footfall_core::clock::Clock;
use footfall_core::time::format_rfc3339;
use footfall_core::{Millis, Site};
use footfall_query::Threshold;
use footfall_transforms::exclude::Excluded;
use footfall_transforms::sessionize::Presence;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

/// A device counts as present while its last inside fix is at most this old (event time).
pub const PRESENT_WINDOW_MS: Millis = 180_000;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ZoneOccupancy {
    pub zone: String,
    pub people: Option<u64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StoreOccupancy {
    pub store: String,
    /// People inside now; null when fewer than k (but not zero).
    pub people: Option<u64>,
    pub zones: Vec<ZoneOccupancy>,
}

/// Who is inside each store and zone, as of `at` (event time of the last applied
/// observation, which trails arrival by the reorder lateness).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Occupancy {
    pub at: Option<String>,
    pub k: u64,
    pub stores: Vec<StoreOccupancy>,
}

impl Occupancy {
    fn empty(site: &Site, t: Threshold) -> Self {
        Occupancy::count(site, t, None, &[], &Excluded::default())
    }

    fn count(site: &Site, t: Threshold, at: Option<Millis>, presence: &[Presence], excluded: &Excluded) -> Self {
        let mut stores: Vec<(u64, Vec<u64>)> = site.stores.iter().map(|s| (0, vec![0; s.zones.len()])).collect();
        for p in presence.iter().filter(|p| !excluded.contains(&p.device)) {
            if let Some((n, zones)) = stores.get_mut(p.store as usize) {
                *n += 1;
                if let Some(z) = p.zone.and_then(|z| zones.get_mut(z as usize)) {
                    *z += 1;
                }
            }
        }
        Occupancy {
            at: at.map(format_rfc3339),
            k: t.k(),
            stores: site
                .stores
                .iter()
                .zip(stores)
                .map(|(s, (n, zones))| StoreOccupancy {
                    store: s.id.clone(),
                    people: t.count(n),
                    zones: s.zones.iter().zip(zones).map(|(z, n)| ZoneOccupancy { zone: z.id.clone(), people: t.count(n) }).collect(),
                })
                .collect(),
        }
    }

    /// Only the stores in `keep`.
    pub fn only(&self, keep: impl Fn(&str) -> bool) -> Occupancy {
        Occupancy { at: self.at.clone(), k: self.k, stores: self.stores.iter().filter(|s| keep(&s.store)).cloned().collect() }
    }
}

/// An alert rule (`[[alerts]]` in the configuration file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertRule {
    /// More than `above` people inside `store`.
    Occupancy { store: String, above: u64 },
    /// No observation from `sensor` applied for `minutes`.
    SensorSilent { sensor: String, minutes: u64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Alert {
    /// `occupancy` or `sensor_silent`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
    pub message: String,
    /// Wall-clock time the alert fired.
    pub at: String,
}

#[derive(Default)]
struct AlertMemory {
    /// Stores currently above their limit (alerted).
    above: HashSet<String>,
    /// Sensors currently silent (alerted).
    silent: HashSet<String>,
    /// Wall-clock time observations of each sensor were last applied.
    heard: HashMap<String, Millis>,
}

pub(crate) struct Live {
    site: Site,
    threshold: Threshold,
    rules: Vec<AlertRule>,
    clock: Arc<dyn Clock>,
    /// When the server started: a sensor never heard is silent from then.
    started: Millis,
    occupancy: watch::Sender<Arc<Occupancy>>,
    alerts: broadcast::Sender<Alert>,
    memory: Mutex<AlertMemory>,
    webhook: Option<Mutex<std_mpsc::Sender<Alert>>>,
}

impl Live {
    pub fn new(site: Site, threshold: Threshold, rules: Vec<AlertRule>, webhook: Option<String>, clock: Arc<dyn Clock>) -> Arc<Live> {
        let (occupancy, _) = watch::channel(Arc::new(Occupancy::empty(&site, threshold)));
        let (alerts, _) = broadcast::channel(256);
        let webhook = webhook.map(|url| Mutex::new(spawn_webhook(url)));
        let started = clock.now_ms();
        Arc::new(Live { site, threshold, rules, clock, started, occupancy, alerts, memory: Mutex::default(), webhook })
    }

    pub fn occupancy(&self) -> Arc<Occupancy> {
        self.occupancy.borrow().clone()
    }

    pub fn watch_occupancy(&self) -> watch::Receiver<Arc<Occupancy>> {
        self.occupancy.subscribe()
    }

    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Alert> {
        self.alerts.subscribe()
    }

    /// Sensors whose observations were just applied.
    pub fn heard<'a>(&self, sensors: impl IntoIterator<Item = &'a str>) {
        let now = self.clock.now_ms();
        let mut m = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        for s in sensors {
            m.heard.insert(s.to_string(), now);
            m.silent.remove(s);
        }
    }

    /// Publish who is present now and fire the occupancy rules.
    pub fn publish(&self, at: Millis, presence: &[Presence], excluded: &Excluded) {
        let mut fired = Vec::new();
        {
            let mut m = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            for rule in &self.rules {
                let AlertRule::Occupancy { store, above } = rule else { continue };
                // Rules compare the exact count: the operator set the limit, not a reader.
                let n = presence.iter().filter(|p| !excluded.contains(&p.device) && self.site.stores[p.store as usize].id == *store).count()
                    as u64;
                if n > *above {
                    if m.above.insert(store.clone()) {
                        fired.push(Alert {
                            kind: "occupancy".into(),
                            store: Some(store.clone()),
                            sensor: None,
                            message: format!("store {store} is above its occupancy limit of {above}"),
                            at: format_rfc3339(self.clock.now_ms()),
                        });
                    }
                } else {
                    m.above.remove(store);
                }
            }
        }
        self.occupancy.send_replace(Arc::new(Occupancy::count(&self.site, self.threshold, Some(at), presence, excluded)));
        for a in fired {
            self.fire(a);
        }
    }

    /// Fire the sensor-silent rules whose silence has lasted long enough.
    pub fn check_silence(&self) {
        let now = self.clock.now_ms();
        let mut fired = Vec::new();
        {
            let mut m = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            for rule in &self.rules {
                let AlertRule::SensorSilent { sensor, minutes } = rule else { continue };
                let last = m.heard.get(sensor).copied().unwrap_or(self.started);
                if now - last >= *minutes as Millis * 60_000 && m.silent.insert(sensor.clone()) {
                    let store = self.site.sensors.iter().find(|s| s.id == *sensor).map(|s| s.store.clone());
                    fired.push(Alert {
                        kind: "sensor_silent".into(),
                        store,
                        sensor: Some(sensor.clone()),
                        message: format!("sensor {sensor} has sent nothing for {minutes} minutes"),
                        at: format_rfc3339(now),
                    });
                }
            }
        }
        for a in fired {
            self.fire(a);
        }
    }

    fn fire(&self, a: Alert) {
        tracing::warn!(kind = a.kind.as_str(), "alert: {}", a.message);
        if let Some(w) = &self.webhook {
            let _ = w.lock().unwrap_or_else(|e| e.into_inner()).send(a.clone());
        }
        let _ = self.alerts.send(a);
    }
}

/// Check rules against the site: unknown stores or sensors are configuration errors.
pub fn validate_rules(site: &Site, rules: &[AlertRule]) -> Result<(), String> {
    for r in rules {
        match r {
            AlertRule::Occupancy { store, .. } if site.store_index(store).is_none() => {
                return Err(format!("alert rule for unknown store {store:?}"));
            }
            AlertRule::SensorSilent { sensor, minutes } => {
                if !site.sensors.iter().any(|s| s.id == *sensor) {
                    return Err(format!("alert rule for unknown sensor {sensor:?}"));
                }
                if *minutes == 0 {
                    return Err(format!("alert rule for sensor {sensor:?}: minutes must be at least 1"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The webhook thread: POSTs each alert as JSON, with a short timeout; failures are logged.
fn spawn_webhook(url: String) -> std_mpsc::Sender<Alert> {
    let (tx, rx) = std_mpsc::channel::<Alert>();
    let spawned = std::thread::Builder::new().name("footfall-webhook".into()).spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        for alert in rx {
            let body = serde_json::to_string(&alert).unwrap_or_default();
            match agent.post(&url).header("content-type", "application/json").send(&body) {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!("the alert webhook answered {}", r.status()),
                Err(e) => tracing::warn!("the alert webhook failed: {e}"),
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the webhook thread: {e}");
    }
    tx
}

/// Per-store occupancy sums, for tests and metrics.
pub fn people_by_store(o: &Occupancy) -> BTreeMap<String, Option<u64>> {
    o.stores.iter().map(|s| (s.store.clone(), s.people)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use footfall_core::DeviceId;
    use footfall_core::clock::ManualClock;

    fn site() -> Site {
        Site::from_json(
            r#"{"venue":"T","timezone":"UTC","stores":[{"id":"s1","name":"S","category":"c","polygon":[[0,0],[10,0],[10,10],[0,10]],
            "zones":[{"id":"front","name":"F","polygon":[[0,0],[10,0],[10,5],[0,5]]}]}],
            "sensors":[{"id":"a","x":5,"y":2,"store":"s1"}]}"#,
        )
        .unwrap()
    }

    fn present(n: u64) -> Vec<Presence> {
        (0..n).map(|i| Presence { device: DeviceId(i), store: 0, zone: (i % 2 == 0).then_some(0) }).collect()
    }

    #[test]
    fn occupancy_alert_fires_on_crossing_only_and_counts_are_k_gated() {
        let clock = Arc::new(ManualClock::new(1_000));
        let rules = vec![AlertRule::Occupancy { store: "s1".into(), above: 6 }];
        let live = Live::new(site(), Threshold::new(5), rules, None, clock);
        let mut alerts = live.subscribe_alerts();
        live.publish(10, &present(3), &Excluded::default());
        assert_eq!(people_by_store(&live.occupancy())["s1"], None, "3 < k");
        live.publish(20, &present(7), &Excluded::default());
        let o = live.occupancy();
        assert_eq!((o.stores[0].people, o.stores[0].zones[0].people), (Some(7), None));
        assert_eq!(alerts.try_recv().unwrap().store.as_deref(), Some("s1"));
        live.publish(30, &present(8), &Excluded::default());
        assert!(alerts.try_recv().is_err(), "still above: no second alert");
        let mut staff = Excluded::default();
        staff.staff.extend((0..3).map(DeviceId));
        live.publish(40, &present(8), &staff);
        assert_eq!(people_by_store(&live.occupancy())["s1"], Some(5), "excluded devices are not people");
        live.publish(50, &present(9), &Excluded::default());
        assert_eq!(alerts.try_recv().unwrap().kind, "occupancy", "fell back, then rose again");
    }

    #[test]
    fn silent_sensor_alerts_once_per_silence_on_the_injected_clock() {
        let clock = Arc::new(ManualClock::new(0));
        let rules = vec![AlertRule::SensorSilent { sensor: "a".into(), minutes: 10 }];
        let live = Live::new(site(), Threshold::new(5), rules, None, clock.clone());
        let mut alerts = live.subscribe_alerts();
        clock.advance(9 * 60_000);
        live.check_silence();
        assert!(alerts.try_recv().is_err());
        clock.advance(60_000);
        live.check_silence();
        let a = alerts.try_recv().unwrap();
        assert_eq!((a.kind.as_str(), a.sensor.as_deref(), a.store.as_deref()), ("sensor_silent", Some("a"), Some("s1")));
        live.check_silence();
        assert!(alerts.try_recv().is_err(), "once per silence");
        live.heard(["a"]);
        clock.advance(10 * 60_000);
        live.check_silence();
        assert!(alerts.try_recv().is_ok(), "silent again after being heard");
        assert!(validate_rules(&site(), &[AlertRule::SensorSilent { sensor: "zz".into(), minutes: 1 }]).is_err());
    }
}
