//! `footfall capture` (feature `live`): listen on a monitor-mode interface (or replay a file
//! through libpcap, the same code path) and print what is heard as JSON lines of
//! pseudonymous observations on stdout. MACs are keyed-hashed before anything is printed;
//! the key file must exist (it is never created here). For storing and analysing, run
//! `footfall sensor` against `footfall serve` instead.

use crate::cli::CaptureArgs;
use footfall_sources::Source;
use footfall_sources::live::LiveSource;
use footfall_transforms::Pseudonymizer;
use footfall_transforms::filter::{self, DropCounts};
use footfall_transforms::wire::WireObservation;
use serde::Serialize;
use std::io::Write;

#[derive(Serialize)]
struct Line<'a> {
    sensor: &'a str,
    #[serde(flatten)]
    obs: WireObservation,
}

pub fn run(a: CaptureArgs) -> anyhow::Result<()> {
    let key = footfall_store::keyfile::load(&a.key)?;
    let mut source = match (&a.iface, &a.replay) {
        (Some(iface), _) => LiveSource::open_interface(iface, &a.sensor)?,
        (None, Some(path)) => LiveSource::open_file(path, &a.sensor)?,
        (None, None) => anyhow::bail!("give --iface IFACE or --replay FILE"),
    };
    let mut pseudo = Pseudonymizer::new(key);
    let mut drops = DropCounts::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed: Option<std::io::Error> = None;
    let sensor = a.sensor.trim().to_string();
    let live = a.iface.is_some();
    let report = source.run(
        &mut |raw| {
            if failed.is_some() {
                return;
            }
            if let Err(r) = filter::check(&raw) {
                drops.add(r, 1);
                return;
            }
            let line = Line { sensor: &sensor, obs: WireObservation::from_observation(&pseudo.apply(&raw, 0)) };
            let written = serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from).and_then(|()| out.write_all(b"\n"));
            // Live lines are flushed as they come, so a pipe sees them at once.
            let written = written.and_then(|()| if live { out.flush() } else { Ok(()) });
            if let Err(e) = written {
                failed = Some(e);
            }
        },
        &mut |_| {},
    )?;
    out.flush()?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    eprintln!(
        "footfall capture: {} probe requests, {} frames skipped, {} dropped",
        report.records,
        report.skipped.values().sum::<u64>(),
        drops.total()
    );
    Ok(())
}
