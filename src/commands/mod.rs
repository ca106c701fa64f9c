//! One module per command; `run` dispatches. Shared loading of analysed data lives in
//! `analysis`.

mod analysis;
#[cfg(feature = "live")]
mod capture;
mod demo;
mod eval;
mod export;
mod ingest;
mod locate;
mod report;
mod sensor;
mod serve;
mod simulate;
mod survey;

use crate::cli::{Cli, Command, ExportWhat, LocateCommand, SurveyCommand};

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
        Command::Serve(a) => serve::run(a),
        Command::Sensor(a) => sensor::run(a),
        Command::Survey(c) => match c {
            SurveyCommand::Import(a) => survey::import(a),
        },
        Command::Locate(c) => match c {
            LocateCommand::Train(a) => locate::train(a),
            LocateCommand::Eval(a) => locate::eval(a),
        },
        #[cfg(feature = "live")]
        Command::Capture(a) => capture::run(a),
    }
}

/// Wall-clock now in UTC milliseconds: the one place the binary reads the clock (for
/// bookkeeping such as "ingested at"; analysis runs on event time only).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
