//! The data of survey-trained location: a sparse RSSI [`Fingerprint`] (only the access points
//! or sensors that heard something), its [`Label`] (building, floor, zone, position) and a
//! [`Survey`], a set of labelled samples over named access points and zones.
//!
//! A fingerprint stores raw RSSI in dBm; turning it into features is [`crate::repr`]'s job.
//! Nothing here knows where the samples came from (a phone-side scan file or sensors hearing a
//! surveyor's phone).

use crate::LocateError;
use serde::{Deserialize, Serialize};
use std::io::BufRead;

/// The format tag of a survey file written by footfall (`footfall survey import`).
pub const SURVEY_FORMAT: &str = "footfall-survey";
pub const SURVEY_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SurveyFile {
    format: String,
    version: u32,
    #[serde(flatten)]
    survey: Survey,
}

/// What was heard at one place and time: `(access point index, RSSI dBm)`, sorted by index,
/// each index at most once. Access points not listed were not heard.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint(pub Vec<(u16, f32)>);

impl Fingerprint {
    /// Build from unsorted pairs; a repeated index keeps its strongest reading.
    pub fn from_pairs(mut pairs: Vec<(u16, f32)>) -> Self {
        pairs.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        pairs.dedup_by_key(|p| p.0);
        Fingerprint(pairs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// Where a sample was taken. Sites without buildings or floors use 0 for both.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub building: u16,
    pub floor: i16,
    /// Index into [`Survey::zones`], when the sample names a zone.
    pub zone: Option<u32>,
    /// Position in metres (site coordinates, or Web-Mercator metres for UJIIndoorLoc).
    pub pos: Option<(f64, f64)>,
}

/// One labelled fingerprint, with who took it (for per-device calibration and honest splits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub fp: Fingerprint,
    pub label: Label,
    /// The phone (UJIIndoorLoc PHONEID; 0 for a site survey's surveyor).
    #[serde(default)]
    pub device: u32,
    /// The person or survey run (UJIIndoorLoc USERID).
    #[serde(default)]
    pub user: u32,
    /// Time of the sample (seconds or milliseconds, as the source gives it; only ordered).
    #[serde(default)]
    pub time: i64,
}

/// Labelled samples over named access points (or sensors) and zones.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Survey {
    pub aps: Vec<String>,
    pub zones: Vec<String>,
    pub samples: Vec<Sample>,
}

impl Survey {
    /// Read a labelled survey: footfall's JSON survey file (first character `{`) or the
    /// UJIIndoorLoc wide CSV. `file` names the input in errors.
    pub fn read(mut input: impl BufRead, file: &str) -> Result<Survey, LocateError> {
        let first = input.fill_buf().map_err(|source| LocateError::Io { file: file.to_string(), source })?;
        let json = first.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !json {
            return crate::uji::read(input, file);
        }
        let mut text = String::new();
        input.read_to_string(&mut text).map_err(|source| LocateError::Io { file: file.to_string(), source })?;
        let bad = |line: usize, reason: String| LocateError::Line { file: file.to_string(), line, reason };
        let f: SurveyFile = serde_json::from_str(&text).map_err(|e| bad(e.line(), format!("not a footfall survey file: {e}")))?;
        if f.format != SURVEY_FORMAT || f.version != SURVEY_VERSION {
            return Err(bad(
                1,
                format!("expected format {SURVEY_FORMAT:?} version {SURVEY_VERSION}, found {:?} version {}", f.format, f.version),
            ));
        }
        let s = f.survey;
        for (i, x) in s.samples.iter().enumerate() {
            let ok_ap = x.fp.0.iter().all(|&(a, r)| (a as usize) < s.aps.len() && r.is_finite());
            let ok_zone = x.label.zone.is_none_or(|z| (z as usize) < s.zones.len());
            if !ok_ap || !ok_zone {
                return Err(bad(1, format!("samples[{i}] names an access point or zone the file does not list")));
            }
        }
        Ok(s)
    }

    /// This survey as footfall's JSON survey file.
    pub fn to_json(&self) -> String {
        let f = SurveyFile { format: SURVEY_FORMAT.into(), version: SURVEY_VERSION, survey: self.clone() };
        serde_json::to_string(&f).unwrap_or_default()
    }

    /// The index of a zone name, added if new.
    pub fn zone_index(&mut self, name: &str) -> u32 {
        match self.zones.iter().position(|z| z == name) {
            Some(i) => i as u32,
            None => {
                self.zones.push(name.to_string());
                (self.zones.len() - 1) as u32
            }
        }
    }

    /// Re-express `other`'s samples over this survey's access points and zones (access points
    /// this survey does not know are dropped, since no model trained on it could use them;
    /// new zones are added). Used to test a model on a file with its own column order.
    pub fn align(&mut self, other: &Survey) -> Vec<Sample> {
        let ap_map: Vec<Option<u16>> = other.aps.iter().map(|a| self.aps.iter().position(|b| b == a).map(|i| i as u16)).collect();
        let zone_map: Vec<u32> = other.zones.iter().map(|z| self.zone_index(z)).collect();
        other
            .samples
            .iter()
            .map(|s| {
                let pairs = s.fp.0.iter().filter_map(|&(a, r)| ap_map.get(a as usize).copied().flatten().map(|n| (n, r))).collect();
                let mut s2 = s.clone();
                s2.fp = Fingerprint::from_pairs(pairs);
                s2.label.zone = s.label.zone.map(|z| zone_map[z as usize]);
                s2
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_and_keeps_the_strongest_repeat() {
        let f = Fingerprint::from_pairs(vec![(3, -70.0), (1, -80.0), (3, -60.0)]);
        assert_eq!(f.0, vec![(1, -80.0), (3, -60.0)]);
    }

    #[test]
    fn json_survey_round_trips_and_csv_is_detected() {
        let label = Label { building: 0, floor: 1, zone: Some(0), pos: Some((1.5, 2.0)) };
        let s = Survey {
            aps: vec!["s1".into()],
            zones: vec!["z".into()],
            samples: vec![Sample { fp: Fingerprint(vec![(0, -61.5)]), label, device: 0, user: 0, time: 9 }],
        };
        assert_eq!(Survey::read(s.to_json().as_bytes(), "f.json").unwrap(), s);
        let broken = s.to_json().replace("\"zone\":0", "\"zone\":3");
        assert!(Survey::read(broken.as_bytes(), "f.json").unwrap_err().to_string().contains("zone"));
        let csv = "WAP001,LONGITUDE,LATITUDE,FLOOR,BUILDINGID\n-50,1,2,0,0\n";
        assert_eq!(Survey::read(csv.as_bytes(), "u.csv").unwrap().samples.len(), 1);
    }

    #[test]
    fn align_maps_columns_by_name_and_drops_unknown() {
        let mut a = Survey { aps: vec!["x".into(), "y".into()], zones: vec!["z0".into()], samples: vec![] };
        let label = Label { building: 0, floor: 0, zone: Some(0), pos: None };
        let b = Survey {
            aps: vec!["y".into(), "q".into()],
            zones: vec!["z1".into()],
            samples: vec![Sample { fp: Fingerprint(vec![(0, -50.0), (1, -40.0)]), label, device: 0, user: 0, time: 0 }],
        };
        let s = a.align(&b);
        assert_eq!(s[0].fp.0, vec![(1, -50.0)]);
        assert_eq!(s[0].label.zone, Some(1));
        assert_eq!(a.zones, vec!["z0".to_string(), "z1".to_string()]);
    }
}
