//! One module per command; `run` dispatches. Shared loading of analysed data lives in
//! `analysis`.

mod accuracy;
mod analysis;
mod audience;
mod calibrate;
#[cfg(feature = "live")]
mod capture;
mod demo;
mod eval;
mod export;
mod feeds;
mod ingest;
mod locate;
mod occupancy;
mod privacy;
mod report;
mod segments;
mod sensor;
mod serve;
mod simulate;
mod survey;
mod token;

use crate::cli::{AccuracyWhat, Cli, Command, ExportWhat, LocateCommand, SurveyCommand};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Report(a) => report::run(a),
        Command::Export(a) => match a.what {
            ExportWhat::Visits(v) => export::visits(v),
            ExportWhat::Segment(v) => audience::run(v),
            ExportWhat::Audit(v) => export::audit(v),
        },
        Command::Eval(a) => eval::run(a),
        Command::Segments(a) => segments::run(a),
        Command::Occupancy(a) => occupancy::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Accuracy(AccuracyWhat::Headcount(a)) => accuracy::headcount(a),
        Command::Accuracy(AccuracyWhat::Linking(a)) => accuracy::linking(a),
        Command::Serve(a) => serve::run(a),
        Command::Sensor(a) => sensor::run(a),
        Command::Token(a) => token::run(a),
        Command::Optout(a) => privacy::run(a, true),
        Command::Forget(a) => privacy::run(a, false),
        Command::Openapi => crate::output::print(&(footfall_server::openapi_json() + "\n")),
        Command::Survey(c) => match c {
            SurveyCommand::Import(a) => survey::import(a),
        },
        Command::Locate(c) => match c {
            LocateCommand::Train(a) => locate::train(a),
            LocateCommand::Eval(a) => locate::eval(a),
            LocateCommand::Remove(a) => locate::remove(a),
        },
        #[cfg(feature = "live")]
        Command::Capture(a) => capture::run(a),
    }
}

/// Wall-clock now in UTC milliseconds: the one place the binary reads the clock (for
/// bookkeeping such as "ingested at", and retention; analysis runs on event time only).
/// `FOOTFALL_NOW` (RFC 3339) fixes it, to replay history as of a date (and for tests).
pub fn now_ms() -> i64 {
    if let Ok(v) = std::env::var("FOOTFALL_NOW") {
        match footfall_core::time::parse_rfc3339(v.trim().as_bytes()) {
            Ok(ms) => return ms,
            Err(_) => eprintln!("warning: FOOTFALL_NOW is not an RFC 3339 time (like 2026-03-10T00:00:00Z); using the system clock"),
        }
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// [`now_ms`] as a `Clock`, for the server.
pub struct BinClock;

impl footfall_core::clock::Clock for BinClock {
    fn now_ms(&self) -> footfall_core::Millis {
        now_ms()
    }
}
