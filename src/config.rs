//! The optional configuration file (TOML): pipeline thresholds and where the key lives.
//! Every field has a default, so no file is needed; unknown fields are an error, so a typo
//! is not silently ignored. The sections mirror `footfall_transforms::config`.

use anyhow::Context;
use footfall_transforms::PipelineConfig;
use footfall_transforms::config::{ExcludeConfig, LinkConfig, LocateConfig, OccupancyConfig, SessionizeConfig};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Path of the deployment key file; default: the database path + `.key`.
    pub key_file: Option<PathBuf>,
    pub locate: LocateConfig,
    pub sessionize: SessionizeConfig,
    pub exclude: ExcludeConfig,
    /// Linking randomized MACs into device estimates (`occupancy`, `accuracy`).
    pub link: LinkConfig,
    /// Counting people present (`occupancy`, `accuracy`).
    pub occupancy: OccupancyConfig,
    /// Devices named by the operator, as MACs.
    pub devices: DeviceListsConfig,
}

/// `[devices]`: MACs never counted (`deny`: fixed computers, printers) and MACs never
/// excluded as present most of the day (`allow`). Hashed under the run's key when loaded;
/// the file itself is the operator's.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceListsConfig {
    pub deny: Vec<String>,
    pub allow: Vec<String>,
}

impl Config {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else { return Ok(Config::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))
    }

    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig { locate: self.locate.clone(), sessionize: self.sessionize.clone(), exclude: self.exclude.clone() }
    }

    /// The key file for a database: the flag, else `key_file`, else the store's default
    /// (`<db>.key`). `ingest` and `serve` both take the key from here.
    pub fn key_path(&self, db: &Path, flag: Option<&Path>) -> PathBuf {
        match flag.or(self.key_file.as_deref()) {
            Some(p) => p.to_path_buf(),
            None => footfall_store::keyfile::default_path(db),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_config_and_typos() {
        let c: Config = toml::from_str("[locate]\nvisitor_rssi = -70\n").unwrap();
        assert_eq!(c.pipeline().locate.visitor_rssi, -70);
        assert_eq!(c.pipeline().locate.pass_rssi, LocateConfig::default().pass_rssi);
        assert!(toml::from_str::<Config>("[locate]\nvisitor_rsi = -70\n").is_err());
        assert_eq!(c.key_path(Path::new("a/m.db"), None), PathBuf::from("a/m.db.key"));
    }
}
