//! `footfall locate train`, `eval` and `remove`: the survey-trained fingerprint model from
//! labelled files (written to a file, or stored with the site in the database), its accuracy
//! on another labelled file (the UJIIndoorLoc benchmark among them) with few-shot zone
//! accuracy, and which model a pipeline over the database uses ([`site_model`]).

use crate::cli::{LocateEvalArgs, LocateRemoveArgs, LocateTrainArgs, ModelArgs, ReprArg, SearchArg};
use crate::output::{Table, num, step_progress};
use anyhow::Context;
use footfall_core::Site;
use footfall_locate::metrics::{self, Summary};
use footfall_locate::{Model, ModelConfig, Representation, Search, Survey};
use footfall_store::Store;
use footfall_store::locate_model::StoredModel;
use footfall_transforms::locate::SiteModel;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

pub fn model_config(a: &ModelArgs) -> ModelConfig {
    let floor_dbm = a.floor_dbm;
    let repr = match a.repr {
        ReprArg::Powed => Representation::Powed { floor_dbm, beta: std::f32::consts::E },
        ReprArg::Exponential => Representation::Exponential { floor_dbm, alpha: 24.0 },
        ReprArg::Positive => Representation::Positive { floor_dbm },
    };
    let search = match a.search {
        SearchArg::Fast => Search::default(),
        SearchArg::Exact => Search::EXHAUSTIVE,
    };
    ModelConfig { repr, k: a.k as usize, search }
}

/// Read a labelled file (footfall survey JSON or UJIIndoorLoc CSV).
pub fn read_survey(path: &Path) -> anyhow::Result<Survey> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Survey::read(std::io::BufReader::with_capacity(1 << 16, f), &path.display().to_string())?)
}

pub fn read_model(path: &Path) -> anyhow::Result<Model> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading model {}", path.display()))?;
    Ok(Model::from_json(&text, &path.display().to_string())?)
}

/// Write `text` to `path` atomically (a temporary file beside it, then a rename).
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

pub fn train(a: LocateTrainArgs) -> anyhow::Result<()> {
    let survey = read_survey(&a.survey)?;
    // The database first: its checks (a site, sensors the model knows) can fail.
    let store = a.db.as_deref().map(open_existing).transpose()?;
    let model = Model::train(model_config(&a.model), &survey).with_context(|| format!("training on {}", a.survey.display()))?;
    let json = model.to_json();
    eprintln!(
        "trained on {} fingerprints ({} access points or sensors, {} zones) from {}",
        model.len(),
        model.aps().len(),
        model.zones().len(),
        a.survey.display(),
    );
    if let Some(store) = &store {
        let site = store.require_site()?;
        let sm = SiteModel::new(&site, model.clone()).map_err(|e| anyhow::anyhow!("not stored in {}: {e}", store.path().display()))?;
        let source = a.survey.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        store.put_locate_model(&StoredModel { json: json.clone(), source, samples: model.len() as u64, trained_ms: super::now_ms() })?;
        eprintln!(
            "model stored in {} with the site ({} of {} sensors known): ingest and serve on it place zones with it",
            store.path().display(),
            sm.known_sensors(),
            site.sensors.len()
        );
    }
    if let Some(out) = &a.out {
        write_atomic(out, &json)?;
        eprintln!("model written to {}", out.display());
    }
    Ok(())
}

/// Open a database that must already exist (never create one by mistake).
fn open_existing(db: &Path) -> anyhow::Result<Store> {
    anyhow::ensure!(db.exists(), "database {} does not exist yet: ingest once with --site SITE.json first", db.display());
    Ok(Store::open(db)?)
}

pub fn remove(a: LocateRemoveArgs) -> anyhow::Result<()> {
    let store = open_existing(&a.db)?;
    if store.remove_locate_model()? {
        eprintln!(
            "removed the location model stored in {}: zones follow the strongest sensor from the next ingest (a running serve: its next batch)",
            a.db.display()
        );
    } else {
        eprintln!("{} has no stored location model", a.db.display());
    }
    Ok(())
}

/// The site's location model for a pipeline over `site`: the file given (`--locate-model`)
/// if any, else the one stored in the database, else none (the strongest-sensor rule). Says
/// on stderr which one it uses.
pub fn site_model(store: &Store, site: &Site, file: Option<&Path>) -> anyhow::Result<Option<Arc<SiteModel>>> {
    let (sm, from) = match file {
        Some(p) => {
            let model = read_model(p)?;
            let sm = SiteModel::new(site, model).map_err(|e| anyhow::anyhow!("location model {}: {e}", p.display()))?;
            (sm, format!("the survey-trained model {}", p.display()))
        }
        None => match store.locate_model()? {
            Some(stored) => {
                let name = format!("the location model stored in {}", store.path().display());
                let sm = SiteModel::from_json(site, &stored.json, &name).map_err(|e| {
                    anyhow::anyhow!(
                        "{e}; train it again for this site (footfall locate train --db) or remove it (footfall locate remove --db)"
                    )
                })?;
                (sm, format!("{name} (trained on {} fingerprints from {})", stored.samples, stored.source))
            }
            None => return Ok(None),
        },
    };
    eprintln!("zones from {from} ({} of {} sensors known)", sm.known_sensors(), site.sensors.len());
    Ok(Some(Arc::new(sm)))
}

#[derive(Serialize)]
struct FewShot {
    shots: usize,
    seeds: u64,
    train: usize,
    test: usize,
    zone_hit: f64,
    zone_hit_min: f64,
    zone_hit_max: f64,
}

#[derive(Serialize)]
struct EvalOut {
    train_samples: usize,
    test_samples: usize,
    summary: Summary,
    few_shot: Vec<FewShot>,
}

fn m(v: Option<f64>) -> String {
    v.map(|x| format!("{} m", num(x, 2))).unwrap_or_else(|| "-".into())
}

fn pct(v: f64) -> String {
    format!("{}%", num(v * 100.0, 2))
}

pub fn eval(a: LocateEvalArgs) -> anyhow::Result<()> {
    let cfg = model_config(&a.model);
    let (model, train) = match (&a.train, &a.model_file) {
        (Some(p), _) => {
            let s = read_survey(p)?;
            (Model::train(cfg, &s).with_context(|| format!("training on {}", p.display()))?, Some(s))
        }
        (None, Some(p)) => (read_model(p)?, None),
        (None, None) => anyhow::bail!("give --train FILE or --model-file FILE"),
    };
    let test_file = read_survey(&a.test)?;
    // Express the test samples over the model's access points and zones (by name).
    let mut names = Survey { aps: model.aps().to_vec(), zones: model.zones().to_vec(), samples: Vec::new() };
    let test = names.align(&test_file);
    let pb = step_progress(test.len() as u64, a.quiet);
    pb.set_message("locating");
    let summary = match a.calibrate {
        Some(w) => {
            anyhow::ensure!(w > 0.0 && w <= 1.0, "--calibrate: the weight must be in (0, 1], not {w}");
            metrics::evaluate_calibrated(&model, &test, w, |done| pb.set_position(done as u64))
        }
        None => metrics::evaluate(&model, &test, |done| pb.set_position(done as u64)),
    };
    pb.finish_and_clear();

    let mut few = Vec::new();
    if !a.few_shot.is_empty() {
        let Some(train) = &train else { anyhow::bail!("--few-shot needs --train (the scans to draw from)") };
        if train.samples.iter().all(|s| s.label.zone.is_none()) {
            anyhow::bail!("--few-shot: {} names no zones", a.train.as_deref().unwrap_or(Path::new("")).display());
        }
        let pb = step_progress((a.few_shot.len() as u64) * a.seeds, a.quiet);
        pb.set_message("few-shot runs");
        for &shots in &a.few_shot {
            anyhow::ensure!(shots > 0, "--few-shot sizes must be at least 1");
            let mut hits = Vec::new();
            let (mut ntrain, mut ntest) = (0, 0);
            for seed in 1..=a.seeds {
                let (tr, te) = metrics::few_shot_split(&train.samples, shots, seed);
                let m = Model::train_on(cfg, train.aps.clone(), train.zones.clone(), tr.iter().map(|&i| &train.samples[i]))?;
                let test: Vec<_> = te.iter().map(|&i| train.samples[i].clone()).collect();
                let s = metrics::evaluate(&m, &test, |_| {});
                hits.push(s.zone_hit.unwrap_or(0.0));
                (ntrain, ntest) = (tr.len(), te.len());
                pb.inc(1);
            }
            few.push(FewShot {
                shots,
                seeds: a.seeds,
                train: ntrain,
                test: ntest,
                zone_hit: hits.iter().sum::<f64>() / hits.len() as f64,
                zone_hit_min: hits.iter().copied().fold(f64::INFINITY, f64::min),
                zone_hit_max: hits.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            });
        }
        pb.finish_and_clear();
    }

    let out = EvalOut { train_samples: model.len(), test_samples: test.len(), summary, few_shot: few };
    if a.json {
        return crate::output::print(&(serde_json::to_string_pretty(&out)? + "\n"));
    }
    let s = &out.summary;
    let mut t = Table::new(["metric", "value"]);
    t.row(["training fingerprints".to_string(), out.train_samples.to_string()]);
    t.row(["test fingerprints".to_string(), s.n.to_string()]);
    t.row(["unplaced (nothing heard in common)".to_string(), s.unplaced.to_string()]);
    t.row(["building hit".to_string(), pct(s.building_hit)]);
    t.row(["floor hit".to_string(), pct(s.floor_hit)]);
    t.row([format!("zone accuracy ({} labelled)", s.zone_n), s.zone_hit.map(pct).unwrap_or_else(|| "- (test file names no zones)".into())]);
    t.row(["mean error".to_string(), m(s.mean_m)]);
    t.row(["median error".to_string(), m(s.median_m)]);
    t.row(["75th percentile error".to_string(), m(s.p75_m)]);
    t.row(["EvAAL score (mean, +4 m/floor, +50 m/building)".to_string(), m(s.evaal_mean_m)]);
    t.row(["EvAAL 75th percentile".to_string(), m(s.evaal_p75_m)]);
    let c = model.config();
    let search = if c.search == Search::EXHAUSTIVE { "exact".to_string() } else { format!("{:?}", c.search) };
    let calib = a.calibrate.map(|w| format!(", per-device calibration (weight {w})")).unwrap_or_default();
    let mut text = format!("model: {:?}, k = {}, search: {search}{calib}\n{}", c.repr, c.k, t.render());
    if !out.few_shot.is_empty() {
        let mut f = Table::new(["scans per zone", "train", "test (other users)", "zone accuracy", "min", "max"]);
        for r in &out.few_shot {
            f.row([
                r.shots.to_string(),
                r.train.to_string(),
                r.test.to_string(),
                pct(r.zone_hit),
                pct(r.zone_hit_min),
                pct(r.zone_hit_max),
            ]);
        }
        text.push_str(&format!("\nfew-shot zone accuracy (mean of {} draws):\n{}", out.few_shot[0].seeds, f.render()));
    }
    crate::output::print(&text)
}
