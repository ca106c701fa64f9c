//! The optional configuration file (TOML): pipeline thresholds and where the key lives.
//! Every field has a default, so no file is needed; unknown fields are an error, so a typo
//! is not silently ignored. The sections mirror `footfall_transforms::config`.

use anyhow::Context;
use footfall_query::audience::{AudienceConfig, MIN_AUDIENCE_K};
use footfall_query::segments::SegmentConfig;
use footfall_transforms::PipelineConfig;
use footfall_transforms::attribute::AttributeConfig;
use footfall_transforms::config::{ExcludeConfig, LinkConfig, LocateConfig, OccupancyConfig, RetentionConfig, SessionizeConfig};
use footfall_transforms::geofence::GeofenceConfig;
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
    pub privacy: PrivacyConfig,
    /// How long visits and walk-bys are kept (`[retention]`), applied at every ingest and
    /// hourly by `serve`.
    pub retention: RetentionConfig,
    /// Live alert rules of `footfall serve` (`[[alerts]]`).
    pub alerts: Vec<footfall_server::AlertRule>,
    pub alerts_webhook: Option<WebhookConfig>,
    /// Linking randomized MACs into device estimates (`occupancy`, `accuracy`).
    pub link: LinkConfig,
    /// Counting people present (`occupancy`, `accuracy`).
    pub occupancy: OccupancyConfig,
    /// Devices named by the operator, as MACs.
    pub devices: DeviceListsConfig,
    /// Geofencing app location pings (`[pings]`).
    pub pings: GeofenceConfig,
    /// Attributing point-of-sale transactions to visits (`[pos]`).
    pub pos: AttributeConfig,
    /// Segment definitions (`[segments]`).
    pub segments: SegmentConfig,
    /// Audience exports (`[audience]`).
    pub audience: AudienceConfig,
}

/// `[privacy]`: thresholds of what is published.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Report and API figures from fewer than `k` devices (but more than none) are suppressed.
    /// Configurable upward only: values below the default are refused.
    pub k: u64,
    /// Differential-privacy noise on published counts (the report, segment sizes and the
    /// API's figures): epsilon per published count (two-sided geometric noise,
    /// `footfall_query::noise`), [`DEFAULT_EPSILON`] unless set.
    pub epsilon: f64,
    /// `false` publishes exact counts (still k-thresholded): for an operator's own checks
    /// against another system, never for wide distribution. On by default.
    pub noise: bool,
    /// Key rotation: MAC pseudonyms change every this many UTC days (a new key per epoch,
    /// derived from the master key). Off when absent. `footfall sensor` agents must be given
    /// the same value (`--key-epoch-days`).
    pub key_epoch_days: Option<u32>,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig { k: footfall_query::privacy::DEFAULT_K, epsilon: DEFAULT_EPSILON, noise: true, key_epoch_days: None }
    }
}

/// Epsilon per published count when `[privacy] epsilon` is not set: noise with a standard
/// deviation of 1.4 people, small against a store's daily counts; each count is then
/// 1-differentially private, and a person's counts in one release add up (docs/privacy.md).
pub const DEFAULT_EPSILON: f64 = 1.0;

impl PrivacyConfig {
    /// Epsilon per published count, or `None` when `noise = false`.
    pub fn epsilon(&self) -> Option<f64> {
        self.noise.then_some(self.epsilon)
    }
}

/// `[alerts_webhook]`: where alerts are POSTed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
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
        let c: Config = toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        if c.privacy.k < footfall_query::privacy::MIN_K {
            anyhow::bail!(
                "config {}: [privacy] k = {} is below the minimum of {}: the threshold can only be raised",
                path.display(),
                c.privacy.k,
                footfall_query::privacy::MIN_K
            );
        }
        if c.audience.k < MIN_AUDIENCE_K {
            anyhow::bail!(
                "config {}: [audience] k = {} is below the minimum of {MIN_AUDIENCE_K}: audiences are groups, never people, and the minimum can only be raised",
                path.display(),
                c.audience.k
            );
        }
        if let Err(err) = footfall_query::noise::Noise::new(c.privacy.epsilon, &[0; 32]) {
            anyhow::bail!("config {}: [privacy] {err}", path.display());
        }
        if c.privacy.key_epoch_days == Some(0) {
            anyhow::bail!("config {}: [privacy] key_epoch_days must be at least 1 (leave it out to keep one key)", path.display());
        }
        if let Some(w) = &c.alerts_webhook
            && !(w.url.starts_with("http://") || w.url.starts_with("https://"))
        {
            anyhow::bail!("config {}: [alerts_webhook] url must start with http:// or https://, got {:?}", path.display(), w.url);
        }
        Ok(c)
    }

    pub fn threshold(&self) -> footfall_query::Threshold {
        footfall_query::Threshold::new(self.privacy.k)
    }

    /// The noise of published counts when `[privacy] epsilon` is set, keyed by the database's
    /// deployment key (so nobody without it can predict or subtract the noise).
    pub fn noise(&self, db: &Path, key: Option<&Path>) -> anyhow::Result<Option<footfall_query::noise::Noise>> {
        let Some(epsilon) = self.privacy.epsilon() else { return Ok(None) };
        let path = self.key_path(db, key);
        let key = footfall_store::keyfile::load(&path)
            .with_context(|| {
                format!(
                    "the counts' noise (on by default) is keyed by the deployment key {}: name the key with --key or key_file in the config, or set [privacy] noise = false for exact counts",
                    path.display()
                )
            })?;
        Ok(Some(footfall_query::noise::Noise::new(epsilon, &key)?))
    }

    /// The pseudonymizer of this deployment: the key, rotated per `[privacy] key_epoch_days`.
    pub fn pseudonymizer(&self, key: [u8; 32]) -> footfall_transforms::Pseudonymizer {
        footfall_transforms::Pseudonymizer::with_rotation(key, self.privacy.key_epoch_days)
    }

    pub fn pipeline(&self) -> PipelineConfig {
        PipelineConfig {
            link: self.link.clone(),
            locate: self.locate.clone(),
            sessionize: self.sessionize.clone(),
            exclude: self.exclude.clone(),
        }
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
        let c: Config = toml::from_str(
            "[privacy]\nk = 9\n[[alerts]]\nkind = \"occupancy\"\nstore = \"s1\"\nabove = 40\n[[alerts]]\nkind = \"sensor_silent\"\nsensor = \"a\"\nminutes = 10\n",
        )
        .unwrap();
        assert_eq!((c.threshold().k(), c.alerts.len()), (9, 2));
        assert!(toml::from_str::<Config>("[[alerts]]\nkind = \"occupancy\"\nstore = \"s1\"\n").is_err(), "a rule without its limit");
        let dir = tempfile::tempdir().unwrap();
        let low = dir.path().join("low.toml");
        std::fs::write(&low, "[privacy]\nk = 2\n").unwrap();
        let e = Config::load(Some(&low)).unwrap_err().to_string();
        assert!(e.contains("only be raised"), "{e}");
        let eps = dir.path().join("eps.toml");
        std::fs::write(&eps, "[privacy]\nepsilon = 0\n").unwrap();
        assert!(format!("{:#}", Config::load(Some(&eps)).unwrap_err()).contains("epsilon 0 is outside"));
        std::fs::write(&eps, "[privacy]\nepsilon = 0.5\n").unwrap();
        assert_eq!(Config::load(Some(&eps)).unwrap().privacy.epsilon(), Some(0.5));
        assert_eq!(Config::default().privacy.epsilon(), Some(DEFAULT_EPSILON), "noise is on by default");
        std::fs::write(&eps, "[privacy]\nnoise = false\n").unwrap();
        assert_eq!(Config::load(Some(&eps)).unwrap().privacy.epsilon(), None);
        let c: Config = toml::from_str("[retention]\npasses_days = 30\n").unwrap();
        assert_eq!((c.retention.visits_days, c.retention.passes_days), (365, 30));
        assert!(toml::from_str::<Config>("[retention]\nvisit_days = 30\n").is_err());
    }
}
