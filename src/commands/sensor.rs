//! `footfall sensor`: the sensor agent (`footfall-agent`) as a process: arguments, the key
//! (loaded, never created), the source (a replayed file, or a live interface with the `live`
//! feature), the HTTP transport, and logging to stderr. It never prints the token or a MAC.

use crate::cli::SensorArgs;
use anyhow::Context;
use footfall_agent::send::{Http, ThreadSleep};
use footfall_agent::{Agent, AgentConfig};
use footfall_sources::Source;
use std::time::Duration;

pub fn run(a: SensorArgs) -> anyhow::Result<()> {
    if a.retry_min_ms == 0 || a.retry_max_ms < a.retry_min_ms {
        anyhow::bail!("--retry-min-ms must be above 0 and at most --retry-max-ms");
    }
    let key = footfall_store::keyfile::load(&a.key)?;
    let transport = Http::new(&a.server, &a.token, Duration::from_secs(30)).map_err(anyhow::Error::msg)?;
    let _ = tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).try_init();
    let agent = Agent::open(AgentConfig {
        spool: a.spool.clone(),
        sensor: a.sensor.clone(),
        key,
        key_epoch_days: a.key_epoch_days,
        batch_size: a.batch_size,
        batch_age: Duration::from_millis(a.batch_ms),
        backoff_min: Duration::from_millis(a.retry_min_ms),
        backoff_max: Duration::from_millis(a.retry_max_ms),
    })?;
    let mut source: Option<Box<dyn Source>> = None;
    if let Some(path) = &a.replay {
        let opts = footfall_sources::OpenOptions { sensor: Some(a.sensor.clone()) };
        source = Some(footfall_sources::open_path(path, &path.display().to_string(), &opts)?.1);
    }
    #[cfg(feature = "live")]
    if let Some(iface) = &a.iface {
        let live = footfall_sources::live::LiveSource::open_interface(iface, &a.sensor)?.with_stop(agent.stop_flag());
        source = Some(Box::new(live));
    }
    let input: Option<&mut dyn Source> = match source.as_mut() {
        Some(b) => Some(&mut **b),
        None => None,
    };
    let summary = agent.run(input, transport, ThreadSleep).with_context(|| format!("sensor agent (spool {})", a.spool.display()))?;
    eprintln!(
        "footfall sensor: {} observations in {} batches spooled, {} dropped; {} batches sent ({} duplicates); {} waiting",
        summary.captured,
        summary.spooled,
        summary.dropped.total(),
        summary.sent,
        summary.duplicates,
        summary.waiting
    );
    Ok(())
}
