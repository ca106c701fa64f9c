//! The dashboard in a real browser: `footfall serve` on a simulated mall caught mid-afternoon
//! (so people are inside), headless Chromium (Debian's `chromium`) loads the mall and store
//! pages with an operator token, and the rendered DOM must carry the API's numbers: the
//! floor plan's stores and their walk-ins, the hourly traffic bars, the live occupancy.
//! Screenshots at desktop and phone widths go to `target/screenshots/`.
//!
//! Without Chromium the test says so and passes, unless `FOOTFALL_REQUIRE_CHROMIUM=1`
//! (set by `scripts/test`, which installs it), where its absence is a failure.

use super::serve::Server;
use super::{ok, s, simulate};
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
    simulate(dir.path(), 2, 4, 300);
    // Keep everything heard before 14:00 local on the second day (UTC+1): shoppers are
    // inside when the data stops, so the live occupancy is not empty.
    let csv = std::fs::read_to_string(dir.path().join("observations.csv")).unwrap();
    let cut: String = csv.lines().filter(|l| l.starts_with("time") || l < &"2026-03-03T13:00").map(|l| format!("{l}\n")).collect();
    let part = dir.path().join("part.csv");
    std::fs::write(&part, cut).unwrap();
    let db = dir.path().join("m.db");
    ok(&["ingest", "--quiet", "--site", s(&dir.path().join("site.json")), "--db", s(&db), s(&part)]);
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

    // Screenshots, desktop and phone.
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    for (name, size, route) in [
        ("mall-desktop", "1280,1000", "#/mall"),
        ("store-desktop", "1280,2200", &*format!("#/store/{busiest}")),
        ("store-phone", "390,3200", &*format!("#/store/{busiest}")),
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
