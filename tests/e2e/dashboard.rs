//! The dashboard in a real browser: `footfall serve` on a simulated mall caught mid-afternoon
//! (so people are inside), headless Chromium (Debian's `chromium`) loads the mall and store
//! pages with an operator token, and the rendered DOM must carry the API's numbers: the
//! floor plan's stores and their walk-ins, the hourly traffic bars, the live occupancy, the
//! capture-rate and conversion funnel (walk-bys → walk-ins → buyers, from the POS feed), and
//! the segment panel (five sizes, export buttons enabled only at the audience k).
//! Screenshots at desktop and phone widths go to `target/screenshots/`.
//!
//! Without Chromium the test says so and passes, unless `FOOTFALL_REQUIRE_CHROMIUM=1`
//! (set by `scripts/test`, which installs it), where its absence is a failure.

use super::serve::Server;
use super::{ok, s, simulate_with};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Every start tag containing all of `needles`, as its attributes plus the text after it.
fn tags(dom: &str, needles: &[&str]) -> Vec<(BTreeMap<String, String>, String)> {
    let mut out = Vec::new();
    let mut rest = dom;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        let whole = format!("<{tag}");
        if needles.iter().all(|n| whole.contains(n)) {
            let mut attrs = BTreeMap::new();
            for part in tag.split("\" ").map(|p| p.trim()) {
                if let Some((k, v)) = part.split_once("=\"") {
                    let k = k.rsplit(' ').next().unwrap_or(k);
                    attrs.insert(k.to_string(), v.trim_end_matches('"').to_string());
                }
            }
            let text = rest[end + 1..].split('<').next().unwrap_or("").to_string();
            out.push((attrs, text));
        }
        rest = &rest[end..];
    }
    out
}

/// The API's number as the page writes it: the value, or `suppressed` for null.
fn shown(v: &Value) -> String {
    match v {
        Value::Null => "suppressed".into(),
        Value::Number(n) => {
            let f = n.as_f64().unwrap();
            if f.fract() == 0.0 { format!("{}", f as i64) } else { format!("{f}") }
        }
        other => other.to_string(),
    }
}

fn screenshots_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is target/tmp: screenshots go beside it.
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("screenshots")
}

#[test]
fn dashboard_renders_the_floor_plan_traffic_and_live_occupancy() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("FOOTFALL_REQUIRE_CHROMIUM").is_err(),
            "FOOTFALL_REQUIRE_CHROMIUM is set but {CHROMIUM} is missing (apt-get install chromium)"
        );
        eprintln!("skipping the browser test: {CHROMIUM} is not installed (scripts/test installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A larger app feed than the default, so the busiest store has a segment of at least
    // 20 advertising IDs (exportable) beside ones that are not.
    simulate_with(dir.path(), 2, 4, 300, &["--app-share", "0.6"]);
    // Keep everything heard before 14:00 local on the second day (UTC+1): shoppers are
    // inside when the data stops, so the live occupancy is not empty.
    let csv = std::fs::read_to_string(dir.path().join("observations.csv")).unwrap();
    let cut: String = csv.lines().filter(|l| l.starts_with("time") || l < &"2026-03-03T13:00").map(|l| format!("{l}\n")).collect();
    let part = dir.path().join("part.csv");
    std::fs::write(&part, cut).unwrap();
    let db = dir.path().join("m.db");
    let feed = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    ok(&["ingest", "--quiet", "--site", s(&dir.path().join("site.json")), "--db", s(&db), s(&part), &feed("pos.csv"), &feed("pings.csv")]);
    let token = ok(&["token", "create", "--db", s(&db), "--role", "operator"]).trim().to_string();
    let server = Server::start(&["--db", s(&db), "--listen", "127.0.0.1:0"], &[]);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let api = |path: &str| -> Value {
        let (status, body) = server.request_with("GET", path, &auth, b"");
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let base = format!("http://{}/", server.addr);

    // The mall page: the floor plan has every store with its walk-ins, and live occupancy.
    let mall = chromium(&["--dump-dom"], &format!("{base}#/mall?token={token}"));
    assert!(mall.contains("data-ready=\"1\""), "the mall page never became ready:\n{mall}");
    assert_eq!(tags(&mall, &["<svg", "data-testid=\"floorplan\""]).len(), 1, "one floor plan");
    let polys = tags(&mall, &["<polygon", "class=\"store-poly\"", "data-store="]);
    let occupancy = api("/api/v1/occupancy");
    let stores: Vec<String> = occupancy["stores"].as_array().unwrap().iter().map(|s| s["store"].as_str().unwrap().to_string()).collect();
    assert_eq!(stores.len(), 4);
    assert!(occupancy["at"].as_str().is_some_and(|t| t.starts_with("2026-03-03T12:5")), "{occupancy}");
    let mut someone_inside = false;
    for st in &stores {
        let summary = api(&format!("/api/v1/stores/{st}/summary"));
        let poly = polys.iter().find(|(a, _)| a.get("data-store") == Some(st)).unwrap_or_else(|| panic!("no polygon for {st}"));
        assert_eq!(poly.0.get("data-walk-ins"), Some(&shown(&summary["current"]["walk_ins"])), "{st}: {summary}");
        let people = occupancy["stores"].as_array().unwrap().iter().find(|s| s["store"] == st.as_str()).unwrap()["people"].clone();
        someone_inside |= people.as_u64().is_some_and(|n| n > 0);
        let shown_occ = tags(&mall, &["data-testid=\"occupancy\"", &format!("data-store=\"{st}\"")]);
        assert!(!shown_occ.is_empty(), "no live occupancy for {st}");
        for (a, _) in &shown_occ {
            assert_eq!(a.get("data-value"), Some(&shown(&people)), "{st}");
        }
    }
    assert!(someone_inside, "the cut should leave people inside: {occupancy}");

    // A store page: the hourly traffic chart has the API's bars; occupancy of the store.
    let busiest = stores
        .iter()
        .max_by_key(|st| api(&format!("/api/v1/stores/{st}/summary")).pointer("/current/walk_ins").and_then(Value::as_u64).unwrap_or(0))
        .unwrap()
        .clone();
    let page = chromium(&["--dump-dom"], &format!("{base}#/store/{busiest}?token={token}"));
    assert!(page.contains("data-ready=\"1\""), "the store page never became ready");
    let hourly = api(&format!("/api/v1/stores/{busiest}/hourly"));
    let bars = tags(&page, &["<rect", "data-series=\"walk_ins\"", "data-hour="]);
    let hours = hourly["hours"].as_array().unwrap();
    assert!(hours.len() >= 8, "{hourly}");
    let mut non_null = 0;
    for h in hours {
        let hour = h["hour"].as_u64().unwrap().to_string();
        let bar = bars.iter().find(|(a, _)| a.get("data-hour") == Some(&hour)).unwrap_or_else(|| panic!("no walk-in bar for {hour}:00"));
        let (want, got) = (&h["walk_ins"], bar.0.get("data-value").unwrap());
        match want.as_f64() {
            Some(w) => {
                non_null += 1;
                let got: f64 = got.parse().unwrap_or_else(|_| panic!("bar {hour}: {got}"));
                assert!((got - w).abs() < 0.01, "hour {hour}: page {got}, API {w}");
            }
            None => assert_eq!(got, "suppressed", "hour {hour}"),
        }
    }
    assert!(non_null >= 3, "{hourly}");
    let card = tags(&page, &["data-testid=\"card-walk_ins\""]);
    let summary = api(&format!("/api/v1/stores/{busiest}/summary"));
    assert_eq!(card[0].0.get("data-value"), Some(&shown(&summary["current"]["walk_ins"])));

    // The funnel: walk-bys → walk-ins → buyers, with capture rate and conversion, as the API
    // computes them (funnel, summary and sales endpoints).
    let funnel = api(&format!("/api/v1/stores/{busiest}/funnel"));
    let sales = api(&format!("/api/v1/stores/{busiest}/sales"));
    assert_eq!(sales["total"]["visits"], funnel["walk_ins"], "sales and traffic count the same visits");
    let step = |name: &str| {
        let t = tags(&page, &["data-step=\"", &format!("data-step=\"{name}\"")]);
        assert_eq!(t.len(), 1, "funnel step {name}");
        t[0].0.get("data-value").cloned().unwrap()
    };
    assert_eq!(step("walk_bys"), shown(&funnel["walk_bys"]));
    assert_eq!(step("walk_ins"), shown(&funnel["walk_ins"]));
    let buyers = &sales["total"]["attributed"];
    assert!(buyers.as_u64().is_some_and(|n| n > 0), "the busiest store has attributed sales: {sales}");
    assert_eq!(step("buyers"), shown(buyers));
    let rate = |testid: &str| -> f64 {
        let t = tags(&page, &[&format!("data-testid=\"{testid}\"")]);
        t[0].0.get("data-value").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{testid}: {:?}", t[0]))
    };
    let conversion = sales["total"]["conversion"].as_f64().expect("conversion is published");
    assert!((rate("funnel-conversion") - conversion).abs() < 1e-9);
    assert!((conversion - buyers.as_f64().unwrap() / funnel["walk_ins"].as_f64().unwrap()).abs() < 1e-9);
    let capture = summary["current"]["capture_rate"].as_f64().expect("capture rate is published");
    assert!((rate("funnel-capture") - capture).abs() < 1e-9);

    // The segment panel: the five sizes as the API gives them, and an export button per
    // segment, enabled exactly when the ad-ID segment reaches the audience k, else disabled
    // with its reason shown.
    let segs = api(&format!("/api/v1/stores/{busiest}/segments"));
    assert!(tags(&page, &["data-testid=\"segments\"", "data-available=\"1\""]).len() == 1, "the segment panel is not a placeholder");
    assert!(!page.contains("Not available yet"));
    let list = segs["segments"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    let (mut enabled, mut disabled) = (0, 0);
    for g in list {
        let name = g["segment"].as_str().unwrap();
        let cell = |testid: &str| {
            let t = tags(&page, &[&format!("data-testid=\"{testid}\""), &format!("data-segment=\"{name}\"")]);
            assert_eq!(t.len(), 1, "{testid} of {name}");
            t[0].0.get("data-value").cloned().unwrap()
        };
        assert_eq!(cell("seg-wifi"), shown(&g["wifi_devices"]), "{name}");
        assert_eq!(cell("seg-adids"), shown(&g["ad_ids"]), "{name}");
        let button = tags(&page, &["<button", "data-testid=\"export\"", &format!("data-segment=\"{name}\"")]);
        assert_eq!(button.len(), 1, "export button of {name}");
        let reason = tags(&page, &["data-testid=\"export-reason\"", &format!("data-segment=\"{name}\"")]);
        let exportable = g["exportable"].as_bool().unwrap();
        assert_eq!(exportable, g["ad_ids"].as_u64().is_some_and(|n| n >= segs["audience_k"].as_u64().unwrap()), "{g}");
        if exportable {
            enabled += 1;
            assert!(!button[0].0.contains_key("disabled") && reason.is_empty(), "{name}");
        } else {
            disabled += 1;
            assert!(button[0].0.contains_key("disabled"), "{name} is below the audience k: its button must be disabled");
            assert!(reason.len() == 1 && reason[0].1.contains("needs 20 ad IDs"), "{name}: {reason:?}");
        }
    }
    assert!(enabled >= 1 && disabled >= 1, "expected both exportable and non-exportable segments: {segs}");

    // Screenshots, desktop and phone.
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    for (name, size, route) in [
        ("mall-desktop", "1280,1000", "#/mall"),
        ("store-desktop", "1280,2600", &*format!("#/store/{busiest}")),
        ("store-phone", "390,4400", &*format!("#/store/{busiest}")),
        ("mall-phone", "390,1600", "#/mall"),
        ("optout-phone", "390,1200", "#/optout"),
    ] {
        let file = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&file);
        chromium(&[&format!("--window-size={size}"), &format!("--screenshot={}", file.display())], &format!("{base}{route}?token={token}"));
        let png = std::fs::read(&file).unwrap_or_else(|_| panic!("no screenshot {}", file.display()));
        assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{name}: {} bytes", png.len());
    }
    let (stopped, printed) = server.terminate();
    assert!(stopped, "{printed}");
    assert!(!printed.contains(&token), "the token was logged");
}
