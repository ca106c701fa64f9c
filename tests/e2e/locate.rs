//! `footfall locate`: train, save, load and evaluate on the UJIIndoorLoc excerpts; clear
//! errors for bad input.

use super::{fixture, footfall, ok, s};

fn uji(name: &str) -> std::path::PathBuf {
    fixture(&format!("ujiindoorloc/{name}"))
}

fn value(out: &str, metric: &str) -> f64 {
    let line = out.lines().find(|l| l.starts_with(metric)).unwrap_or_else(|| panic!("no {metric} in {out}"));
    let v = line[metric.len()..].trim().trim_end_matches(" m").trim_end_matches('%');
    v.parse().unwrap_or_else(|_| panic!("{line}"))
}

#[test]
fn eval_on_the_excerpt_prints_every_metric_and_few_shot() {
    let out = ok(&[
        "locate",
        "eval",
        "--train",
        s(&uji("training-excerpt.csv")),
        "--test",
        s(&uji("validation-excerpt.csv")),
        "--few-shot",
        "1,3",
        "--quiet",
    ]);
    assert_eq!(value(&out, "test fingerprints"), 30.0, "{out}");
    assert_eq!(value(&out, "building hit"), 100.0, "{out}");
    // Two floors of one building, 121 training scans: most floors right, errors of metres, not km.
    assert!(value(&out, "floor hit") >= 80.0, "{out}");
    let mean = value(&out, "mean error");
    assert!(mean > 0.0 && mean < 20.0, "{out}");
    assert!(value(&out, "EvAAL score (mean, +4 m/floor, +50 m/building)") >= mean, "{out}");
    assert!(out.contains("few-shot zone accuracy") && out.lines().any(|l| l.starts_with("3 ")), "{out}");
}

#[test]
fn a_saved_model_gives_the_same_figures_as_training_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    ok(&["locate", "train", "--survey", s(&uji("training-excerpt.csv")), "--out", s(&model)]);
    let test = uji("validation-excerpt.csv");
    let saved = ok(&["locate", "eval", "--model-file", s(&model), "--test", s(&test), "--json", "--quiet"]);
    let fresh = ok(&["locate", "eval", "--train", s(&uji("training-excerpt.csv")), "--test", s(&test), "--json", "--quiet"]);
    let a: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let b: serde_json::Value = serde_json::from_str(&fresh).unwrap();
    assert_eq!(a["summary"], b["summary"]);
    assert!(a["summary"]["mean_m"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_input_names_file_line_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(uji("validation-excerpt.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[3] = lines[3].replacen("100", "abc", 1);
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = footfall(&["locate", "eval", "--train", s(&uji("training-excerpt.csv")), "--test", s(&bad), "--quiet"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv, line 4") && err.contains("expected a number"), "{err}");
    let out = footfall(&["locate", "train", "--survey", s(&dir.path().join("missing.csv")), "--out", s(&dir.path().join("m.json"))]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.csv"));
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"format\": \"something else\"}").unwrap();
    let out = footfall(&["locate", "eval", "--model-file", s(&junk), "--test", s(&bad)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("junk.json"), "{err}");
}
