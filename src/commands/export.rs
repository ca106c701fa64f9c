//! `footfall export visits`: one row per visit, CSV or JSON lines, to stdout or a file
//! written atomically (temporary file, then rename); `footfall export audit`: the audit log
//! of audience exports. Audience files themselves are `audience`.

use super::analysis;
use crate::cli::{ExportAuditArgs, ExportFormat, ExportVisitsArgs};
use crate::config::Config;
use anyhow::Context;
use footfall_core::time::format_rfc3339;
use serde::Serialize;
use std::io::Write;

#[derive(Serialize)]
struct VisitRow<'a> {
    /// Pseudonymous device id; empty for randomized-MAC devices, which are never followed.
    device: String,
    store: &'a str,
    start: String,
    end: String,
    dwell_s: i64,
    randomized: bool,
    zone_path: String,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

pub fn write_visits(a: &analysis::Analysis, format: ExportFormat, w: &mut dyn Write) -> anyhow::Result<usize> {
    if format == ExportFormat::Csv {
        writeln!(w, "device,store,start,end,dwell_s,randomized,zone_path")?;
    }
    let mut visits: Vec<_> = a.visits.iter().collect();
    visits.sort_by_key(|v| (v.start, v.store, v.device));
    for v in &visits {
        let store = &a.site.stores[v.store as usize];
        let row = VisitRow {
            device: if v.randomized { String::new() } else { v.device.to_string() },
            store: &store.id,
            start: format_rfc3339(v.start),
            end: format_rfc3339(v.end),
            dwell_s: v.dwell_ms() / 1000,
            randomized: v.randomized,
            zone_path: v.zones.iter().filter_map(|z| store.zones.get(z.zone as usize)).map(|z| z.id.as_str()).collect::<Vec<_>>().join(">"),
        };
        match format {
            ExportFormat::Csv => writeln!(
                w,
                "{},{},{},{},{},{},{}",
                row.device,
                csv_field(row.store),
                row.start,
                row.end,
                row.dwell_s,
                row.randomized,
                csv_field(&row.zone_path)
            )?,
            ExportFormat::Jsonl => writeln!(w, "{}", serde_json::to_string(&row)?)?,
        }
    }
    Ok(visits.len())
}

pub fn visits(a: ExportVisitsArgs) -> anyhow::Result<()> {
    let config = Config::load(a.db.config.as_deref())?;
    let analysis = analysis::load(&a.db.db, &config, a.include_excluded)?;
    match &a.out {
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            write_visits(&analysis, a.format, &mut w)?;
            w.flush()?;
        }
        Some(path) => {
            let tmp = path.with_extension("tmp-export");
            let result = (|| -> anyhow::Result<usize> {
                let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
                let n = write_visits(&analysis, a.format, &mut w)?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
                Ok(n)
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            eprintln!("wrote {} visits to {}", result?, path.display());
        }
    }
    Ok(())
}

/// `footfall export audit`: the audit log of audience exports, as CSV on stdout.
pub fn audit(a: ExportAuditArgs) -> anyhow::Result<()> {
    let store = analysis::open_existing(&a.db.db)?;
    let mut out = String::from("at,actor,store,segment,format,from,to,size,file_sha256\n");
    for e in store.export_audit()? {
        out += &format!(
            "{},{},{},{},{},{},{},{},{}\n",
            format_rfc3339(e.at_ms),
            csv_field(&e.actor),
            csv_field(&e.store),
            e.segment,
            e.format,
            format_rfc3339(e.from_ms),
            format_rfc3339(e.to_ms),
            e.size,
            e.file_sha256
        );
    }
    crate::output::print(&out)
}
