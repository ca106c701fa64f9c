//! Every command teaches through `--help`, and usage errors exit non-zero with a reason.

use super::footfall;

#[test]
fn every_command_has_help_with_substance() {
    for cmd in ["demo", "simulate", "ingest", "report", "export", "eval", "locate", "survey"] {
        let out = footfall(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd} --help");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{cmd}: {text}");
        assert!(text.len() > 200, "{cmd} help is too thin: {text}");
    }
    let top = String::from_utf8_lossy(&footfall(&["--help"]).stdout).to_string();
    assert!(top.contains("footfall demo") || top.contains("demo"), "{top}");
}

#[test]
fn report_on_missing_database_says_how_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let out = footfall(&["report", "--db", db.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist") && err.contains("footfall ingest"), "{err}");
    assert!(!db.exists(), "report must not create a database");
}
