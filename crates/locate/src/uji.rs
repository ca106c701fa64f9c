//! The UJIIndoorLoc wide-CSV layout (UCI, Torres-Sospedra et al. 2014): one row per phone-side
//! scan, a column per access point (`WAP001`...`WAP520`, RSSI in dBm, `100` = not heard), then
//! `LONGITUDE`, `LATITUDE` (Web-Mercator metres), `FLOOR`, `BUILDINGID`, `SPACEID`,
//! `RELATIVEPOSITION`, `USERID`, `PHONEID`, `TIMESTAMP`.
//!
//! Columns are found by name, so any number of `WAP` columns works. The zone of a row is
//! `b{BUILDINGID}/f{FLOOR}/s{SPACEID}`; `SPACEID` 0 (the validation file's) means no zone.
//! Readings outside -120..0 dBm other than 100 are refused with their line. This module only
//! parses: it does not transform or model anything.

use crate::LocateError;
use crate::fingerprint::{Fingerprint, Label, Sample, Survey};
use std::io::BufRead;

/// The value that means "not heard".
pub const NOT_HEARD: i32 = 100;

const REQUIRED: [&str; 4] = ["LONGITUDE", "LATITUDE", "FLOOR", "BUILDINGID"];

/// Does this header line look like the UJIIndoorLoc layout?
pub fn is_uji_header(line: &str) -> bool {
    let cols: Vec<&str> = line.trim_start_matches('\u{feff}').trim().split(',').map(|c| c.trim().trim_matches('"')).collect();
    cols.iter().any(|c| c.starts_with("WAP")) && REQUIRED.iter().all(|r| cols.contains(r))
}

/// Read a whole file in the UJIIndoorLoc layout. `file` names it in errors.
pub fn read(mut input: impl BufRead, file: &str) -> Result<Survey, LocateError> {
    let io = |source| LocateError::Io { file: file.to_string(), source };
    let bad = |line: usize, reason: String| LocateError::Line { file: file.to_string(), line, reason };
    let mut header = String::new();
    input.read_line(&mut header).map_err(io)?;
    let cols: Vec<String> =
        header.trim_start_matches('\u{feff}').trim().split(',').map(|c| c.trim().trim_matches('"').to_string()).collect();
    let find = |name: &str| cols.iter().position(|c| c == name);
    let wap: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].starts_with("WAP")).collect();
    if wap.is_empty() {
        return Err(bad(1, "expected a header with WAP001... columns (UJIIndoorLoc layout)".into()));
    }
    let mut need = Vec::new();
    for name in REQUIRED {
        match find(name) {
            Some(i) => need.push(i),
            None => {
                return Err(bad(
                    1,
                    format!("expected a {name} column (UJIIndoorLoc layout: WAP..., LONGITUDE, LATITUDE, FLOOR, BUILDINGID)"),
                ));
            }
        }
    }
    let (lon, lat, floor, building) = (need[0], need[1], need[2], need[3]);
    let (space, user, phone, ts) = (find("SPACEID"), find("USERID"), find("PHONEID"), find("TIMESTAMP"));
    let mut survey = Survey { aps: wap.iter().map(|&i| cols[i].clone()).collect(), zones: Vec::new(), samples: Vec::new() };
    let mut line = String::new();
    let mut no = 1;
    loop {
        line.clear();
        if input.read_line(&mut line).map_err(io)? == 0 {
            break;
        }
        no += 1;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let fields: Vec<&str> = text.split(',').collect();
        if fields.len() != cols.len() {
            return Err(bad(no, format!("expected {} fields like the header, found {}", cols.len(), fields.len())));
        }
        let num = |i: usize| -> Result<f64, LocateError> {
            fields[i].trim().parse::<f64>().map_err(|_| bad(no, format!("{}: expected a number, found {:?}", cols[i], fields[i])))
        };
        let int = |i: usize| -> Result<i64, LocateError> {
            let v = num(i)?;
            if v.fract() != 0.0 {
                return Err(bad(no, format!("{}: expected a whole number, found {:?}", cols[i], fields[i])));
            }
            Ok(v as i64)
        };
        let mut pairs = Vec::new();
        for (k, &i) in wap.iter().enumerate() {
            let v = int(i)?;
            if v == NOT_HEARD as i64 {
                continue;
            }
            if !(-120..=0).contains(&v) {
                return Err(bad(no, format!("{}: expected RSSI in -120..0 dBm or 100 (not heard), found {v}", cols[i])));
            }
            pairs.push((k as u16, v as f32));
        }
        let b = int(building)?;
        let f = int(floor)?;
        if !(0..=u16::MAX as i64).contains(&b) || !(i16::MIN as i64..=i16::MAX as i64).contains(&f) {
            return Err(bad(no, format!("BUILDINGID {b} or FLOOR {f} out of range")));
        }
        let zone = match space {
            Some(i) => match int(i)? {
                0 => None,
                s => Some(survey.zone_index(&format!("b{b}/f{f}/s{s}"))),
            },
            None => None,
        };
        let opt = |i: Option<usize>| -> Result<i64, LocateError> { i.map(int).transpose().map(|v| v.unwrap_or(0)) };
        survey.samples.push(Sample {
            fp: Fingerprint(pairs),
            label: Label { building: b as u16, floor: f as i16, zone, pos: Some((num(lon)?, num(lat)?)) },
            device: opt(phone)? as u32,
            user: opt(user)? as u32,
            time: opt(ts)?,
        });
    }
    Ok(survey)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "WAP001,WAP002,WAP003,LONGITUDE,LATITUDE,FLOOR,BUILDINGID,SPACEID,RELATIVEPOSITION,USERID,PHONEID,TIMESTAMP\n";

    #[test]
    fn reads_rows_with_not_heard_and_zones() {
        let text = format!("{HEAD}100,-70,-99,-7541.26,4864921.9,2,1,106,2,2,23,1371713733\n-50,100,100,-7500.0,4864900.0,0,0,0,0,0,0,5\n");
        let s = read(text.as_bytes(), "t.csv").unwrap();
        assert_eq!(s.aps, vec!["WAP001", "WAP002", "WAP003"]);
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.samples[0].fp.0, vec![(1, -70.0), (2, -99.0)]);
        assert_eq!(s.samples[0].label.zone, Some(0));
        assert_eq!(s.zones, vec!["b1/f2/s106"]);
        assert_eq!((s.samples[0].device, s.samples[0].user, s.samples[0].time), (23, 2, 1371713733));
        assert_eq!(s.samples[1].label.zone, None);
        assert_eq!(s.samples[1].label.pos, Some((-7500.0, 4864900.0)));
        assert!(is_uji_header(HEAD));
    }

    #[test]
    fn bad_lines_name_file_line_and_expectation() {
        let text = format!("{HEAD}100,-70,-99,-7541.26,4864921.9,2,1,106,2,2,23,1\n100,x,-99,-7541.26,4864921.9,2,1,106,2,2,23,1\n");
        let e = read(text.as_bytes(), "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv, line 3") && e.contains("WAP002") && e.contains("expected a number"), "{e}");
        let text = format!("{HEAD}100,-70,-99,-7541.26\n");
        let e = read(text.as_bytes(), "t.csv").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("expected 12 fields"), "{e}");
        let text = format!("{HEAD}100,20,-99,-7541.26,4864921.9,2,1,106,2,2,23,1\n");
        let e = read(text.as_bytes(), "t.csv").unwrap_err().to_string();
        assert!(e.contains("RSSI"), "{e}");
        let e = read("time,zone\n".as_bytes(), "s.csv").unwrap_err().to_string();
        assert!(e.contains("s.csv, line 1") && e.contains("WAP001"), "{e}");
    }
}
