//! One module per command; `run` dispatches. Shared loading of analysed data lives in
//! `analysis`.

mod accuracy;
mod analysis;
mod calibrate;
#[cfg(feature = "live")]
mod capture;
mod demo;
mod eval;
mod export;
mod ingest;
mod occupancy;
mod report;
mod sensor;
mod serve;
mod simulate;
mod token;

use crate::cli::{AccuracyWhat, Cli, Command, ExportWhat};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Ingest(a) => ingest::run(a),
        Command::Report(a) => report::run(a),
        Command::Export(a) => match a.what {
            ExportWhat::Visits(v) => export::visits(v),
        },
        Command::Eval(a) => eval::run(a),
        Command::Occupancy(a) => occupancy::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Accuracy(AccuracyWhat::Headcount(a)) => accuracy::headcount(a),
        Command::Accuracy(AccuracyWhat::Linking(a)) => accuracy::linking(a),
        Command::Serve(a) => serve::run(a),
        Command::Sensor(a) => sensor::run(a),
        Command::Token(a) => token::run(a),
        Command::Openapi => crate::output::print(&(footfall_server::openapi_json() + "\n")),
        #[cfg(feature = "live")]
        Command::Capture(a) => capture::run(a),
    }
}

/// Wall-clock now in UTC milliseconds: the one place the binary reads the clock (for
/// bookkeeping such as "ingested at"; analysis runs on event time only).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
