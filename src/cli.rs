//! Command-line definitions (clap derive). Help texts here are the user's first manual:
//! each command says what it does, what it reads and writes, and shows an example.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "footfall",
    version,
    about = "Privacy-first shopper analytics from WiFi/BLE sensor observations",
    long_about = "footfall turns the probe requests and adverts that phones send on their own, as heard by \
sensors in stores, into footfall figures: walk-bys, walk-ins, capture rate, dwell, zones, \
returning visitors. MAC addresses are keyed-hashed at ingest and never stored.\n\n\
Start with `footfall demo`, which simulates a small mall, ingests it and prints the report.",
    after_help = "A 5-minute tour:\n  footfall simulate --out sim/ --days 3\n  footfall ingest --site sim/site.json --db mall.db sim/observations.csv\n  footfall report --db mall.db\n  footfall eval --db mall.db --truth sim/truth.json"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Simulate a small mall, ingest it and print the report and the accuracy check
    #[command(long_about = "Simulates a small mall (stores along a corridor, shoppers, staff, fixed devices), \
ingests the simulated sensor observations into a fresh database, prints the footfall report \
and compares it with the simulator's ground truth. Everything runs in-process; nothing to install.")]
    Demo(DemoArgs),
    /// Write a simulated mall: site file, observations (CSV and JSON lines), POS, ground truth
    #[command(long_about = "Writes a simulated mall into a folder: site.json (stores, zones, sensors), \
observations.csv and observations.jsonl (what the sensors heard, with simulated MACs), pos.csv \
(sales), pings.csv (an app feed's location pings: advertising IDs, consent flags) and truth.json (what really happened, for `footfall eval`); with --pcap also \
observations.pcapng, the same frames as an 802.11 capture. The same seed always gives \
the same files.\n\nExample: footfall simulate --out sim/ --days 14 --stores 8")]
    Simulate(SimulateArgs),
    /// Ingest observation files (CSV, JSON lines, Meraki posts, pcap/pcapng captures) into a database
    #[command(long_about = "Reads observation files, pseudonymizes every MAC with the deployment key \
(created on first use beside the database, mode 0600), locates and sessionizes them into visits \
and walk-bys, and stores the result. The format of each file is detected from its content. \
Capture files (pcap, pcapng) yield their probe requests; give their sensor with --sensor unless \
pcapng interface names are the sensor ids. Bad lines are counted and reported with their line \
numbers; the rest of the file is still ingested. \
A file that is not a known format is an error before anything is written. Re-ingesting a file \
already ingested (same content) is skipped, so nothing is counted twice. Ingesting a stream in \
several files or runs, in time order, gives the same result as ingesting it at once; observations \
older than the allowed lateness (default 180 s) behind the newest already seen are dropped and \
counted as late, so ingest older files first.\n\n\
Business feeds go in the same way and are recognised by their columns: point-of-sale \
transactions (transaction_id,store,time,amount[,till,zone]) are stored and attributed to the \
visit at the cashier when reports ask; app location pings (time,adid,lat,lon,accuracy_m[,consent]) \
are geofenced to stores through the site's \"geo\" anchor and become app visits and walk-bys per \
advertising-ID pseudonym. Advertising IDs are hashed on arrival; pings without consent are \
dropped, and a feed without a consent column is refused unless --feed-has-consent says it holds \
only consented pings. See docs/formats.md.\n\n\
Examples:\n  footfall ingest --site sim/site.json --db mall.db sim/observations.csv\n  \
footfall ingest --db mall.db sim/pos.csv sim/pings.csv")]
    Ingest(IngestArgs),
    /// Print the footfall report: per store walk-bys, walk-ins, capture rate, dwell, zones
    Report(ReportArgs),
    /// Export data (visits) as CSV or JSON lines
    Export(ExportArgs),
    /// Compare what was ingested with a simulator's ground truth and print the error table
    Eval(EvalArgs),
    /// Sizes of a store's five audience segments (WiFi devices and advertising IDs)
    #[command(long_about = "Sorts the shoppers of a window into five segments per store and prints their \
sizes, each below k shown as <k:\n\
  outside-potential: walked by the store, never entered it in the window\n\
  just-looking: visited, no purchase attributed to them in the window\n\
  best-customers: a purchase attributed to their visit (POS transaction at the cashier)\n\
  lost-customers: visited before the last N days of the window (--lost-after-days, 30), not since\n\
  competitors-customers: visited a competitor store (the site's list, default same category), \
never this one\n\n\
Members are WiFi devices with a globally unique MAC and advertising IDs of the consented app feed, \
kept apart. Phones that randomize their MAC are counted in traffic but never put in a segment. \
Only advertising IDs can be exported (footfall export segment).\n\n\
Example: footfall segments --db mall.db --store s3")]
    Segments(SegmentsArgs),
    /// Estimated people present per sensor and time window, beside the naive distinct-MAC count
    #[command(long_about = "Counts people, not MACs. Phones that randomize their MAC change it every few \
minutes or on every scan, so counting distinct MACs overcounts people many times. footfall links \
randomized MACs into device estimates (information-element fingerprint classes, continuity in \
time, never across days), keeps phones heard at or above [occupancy] presence_rssi (-68 dBm), \
removes denied devices and devices present most of the day, and prints per sensor and window \
the estimated people present at some time in the window, the naive distinct-MAC count and the \
number excluded as fixed or staff. Works straight on capture files, one sensor per file (named \
after the file), without a site or a database: MACs are keyed-hashed in memory under a key made \
for this run and forgotten. See docs/accuracy.md for how close this comes to a headcount.\n\n\
Examples:\n  footfall occupancy --window 5m lab.pcap\n  \
footfall occupancy --window 5m --format csv --deny-file fixed-pcs.txt day1.pcap day2.pcap\n\n\
From an ingested database (ingest keeps, per sensor and minute, which pseudonymous MACs were \
heard, at what strongest signal and fingerprint; the same rules then run on those records), \
per store or, with --by sensor, per sensor:\n  footfall occupancy --db mall.db --window 5m --format csv")]
    Occupancy(OccupancyArgs),
    /// Fit per store and hour a factor from WiFi-estimated people to door-counter or camera counts
    #[command(long_about = "Not everyone carries a phone with WiFi on, so the WiFi estimate of \
`footfall occupancy` sees a share of the people present. Give counted people per interval from a \
door counter or a camera system (--counts: CSV `store,time,count`, optionally followed by \
aggregate count columns such as age bands or gender; aggregates only, see docs/formats.md) and \
the capture files (one store per file, named after the file, as `occupancy` names sensors). \
Count rows are summed per window. Per store and local hour of day (--tz) the factor is the \
ratio of sums counted / estimated over the matched windows, with a 95% bootstrap interval; an \
hour with fewer than --min-intervals windows uses the store-wide factor and says so. Prints \
the factors, the raw and calibrated error against the counts (in-sample), and with --windows \
every window's raw and calibrated figure with its interval.\n\n\
Or from an ingested database, per store of the site (--db; the site's time zone): there the WiFi \
estimate is the visitors present per window from the stored visits (shoppers only), the \
estimate reports are built on. With \
--save the factors are stored in the database (the counts never are) and `footfall report` \
shows walk-ins per store and hour raw and calibrated, with the factor's interval; --forget \
removes them.\n\n\
Examples:\n  footfall calibrate --counts door-counts.csv --tz Europe/Paris --windows store1.pcap\n  \
footfall calibrate --counts sim/counts.csv --db mall.db --save")]
    Calibrate(CalibrateArgs),
    /// Measure people counting and MAC linking against labelled captures (headcount, per-phone files)
    #[command(subcommand)]
    Accuracy(AccuracyWhat),
    /// Receive observations over HTTP (Meraki Scanning API, sensor JSON lines) into a database
    #[command(long_about = "Runs an HTTP server that receives observations as they happen: Cisco Meraki \
Scanning API posts (GET /meraki answers the validator; POST /meraki takes posts carrying the \
shared secret) and sensors' JSON lines (POST /api/v1/ingest/jsonl with `Authorization: Bearer \
TOKEN`). An endpoint is off until its secret or token is set. Every MAC is pseudonymized on \
arrival with the deployment key, as `ingest` does. Each accepted post is appended to a journal \
beside the database (DB.journal) and fsynced before it is answered 200, and the journal is \
applied to the database every couple of seconds, so a crash loses nothing that was \
acknowledged and counts nothing twice. GET /healthz and GET /readyz are for monitoring. \
Ctrl-C or SIGTERM stops it gracefully. `report` and `export` can read the database while it \
runs. Give secrets through the environment: command lines are visible to other users.\n\n\
Example:\n  export FOOTFALL_MERAKI_SECRET=s3cret FOOTFALL_SENSOR_TOKEN=t0ken\n  \
footfall serve --db mall.db --site site.json --listen 0.0.0.0:8080 --meraki-validator 0123abcd")]
    Serve(ServeArgs),
    /// Create, list and revoke API tokens (operator, retailer, sensor)
    #[command(long_about = "API tokens for `footfall serve`. A token is printed once, when created; the \
database keeps only its hash, so a lost token cannot be shown again: revoke it and create \
another. Roles: operator (reads the whole venue), retailer (reads only its --store stores; \
other stores' figures answer 403), sensor (posts observations, reads nothing). Tokens work \
at once, also on a running server.\n\n\
Examples:\n  footfall token create --db mall.db --role operator --label \"mall office\"\n  \
footfall token create --db mall.db --role retailer --store s3 --label \"Boutique A\"\n  \
footfall token list --db mall.db\n  footfall token revoke --db mall.db 3f9a0c12")]
    Token(TokenArgs),
    /// Opt a device out: erase everything recorded of it and drop it at every ingest from now on
    #[command(long_about = "For a shopper who asks not to be counted. The MAC address (WiFi or \
Bluetooth; aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or 12 hex digits) or the advertising ID (IDFA/GAID, \
a UUID) is hashed with the deployment key into the pseudonyms the pipeline uses (for a MAC, one per \
radio kind); only those hashes are stored, in the opt-out registry. Everything recorded under them \
(visits with zone stays, walk-bys, daily activity, and the open state of the saved pipeline) is \
erased at once, in one transaction, and every later ingest drops their observations. The id is \
never printed or stored. Give - to read it from standard input, keeping it out of the shell \
history. With `footfall serve` running on the database, use its POST /api/v1/optout instead: the \
server holds the pipeline state in memory.\n\nExample: footfall optout --db mall.db aa:bb:cc:dd:ee:ff")]
    Optout(SubjectArgs),
    /// Erase everything recorded of a device (MAC or advertising ID), without opting it out
    #[command(long_about = "A data subject's erasure request. Like `footfall optout`, but nothing is \
registered: the device's rows in every table (visits with zone stays, walk-bys, daily activity) \
and its open state in the saved pipeline state are deleted in one transaction, and the database \
is then checked, table by table and column by column, to hold the device's pseudonyms nowhere. \
Observations heard later are counted again (use optout to stop that).\n\n\
Example: footfall forget --db mall.db 6d92078a-8246-4ba4-ae5b-76104861e7dc")]
    Forget(SubjectArgs),
    /// Print the OpenAPI document of the HTTP API (the same as GET /api/v1/openapi.json)
    Openapi,
    /// Run on a sensor: capture, pseudonymize here, spool on disk, send batches to `footfall serve`
    #[command(long_about = "The sensor agent. Runs on the sensor (a Raspberry Pi, an OpenWrt box): reads \
probe requests from a capture file (--replay FILE, any format ingest reads; every frame counts as \
this --sensor) or, in builds with the `live` feature, from a monitor-mode interface (--iface \
wlan0mon). Every MAC is pseudonymized here, with the deployment key copied from the server \
(--key; never created here), so no raw MAC leaves the sensor. Batches of pseudonymous \
observations are written to a spool directory (fsynced, atomically) before they are sent, sent \
oldest first to POST /api/v1/ingest/observations with the sensor token, and deleted only \
after the server's 200. While the server is unreachable or answers 5xx, batches keep \
spooling and sending is retried with backoff (1 s doubling to 30 s); another 4xx (a wrong \
token, an unknown sensor) stops the agent with the server's reason. The server deduplicates \
resent batches, so a batch counts exactly once. A restarted agent continues the spool. With a \
replay the agent exits once everything is sent; --drain only sends what is spooled.\n\n\
Example:\n  export FOOTFALL_SENSOR_TOKEN=t0ken\n  \
footfall sensor --sensor s1-front --key mall.db.key --server http://10.0.0.2:8080 --iface wlan0mon")]
    Sensor(SensorArgs),
    /// Site survey: turn a surveyor's notes and what the sensors heard into labelled fingerprints
    #[command(subcommand)]
    Survey(SurveyCommand),
    /// Survey-trained location: train a fingerprint model, evaluate it (UJIIndoorLoc benchmark)
    #[command(subcommand)]
    Locate(LocateCommand),
    /// Capture probe requests on a monitor-mode interface and print them pseudonymized (JSON lines)
    #[cfg(feature = "live")]
    #[command(long_about = "Listens on a monitor-mode interface through libpcap (--iface wlan0mon), or \
replays a capture file through the same libpcap code path (--replay FILE), and prints every \
probe request as one JSON line of a pseudonymous observation on stdout: sensor, ts (UTC ms), \
device (keyed hash, 16 hex digits), rssi, randomized, kind, seq, freq, ie. The key file must \
exist (copy the server's). To store and analyse what a sensor hears, run `footfall sensor` \
against `footfall serve`.\n\nExample: footfall capture --iface wlan0mon --sensor s1-front --key mall.db.key")]
    Capture(CaptureArgs),
}

#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// The database file (SQLite; created on first ingest)
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Configuration file (TOML) with pipeline thresholds ([locate], [sessionize], [exclude]) and,
    /// for ingest and serve, key_file; see docs/formats.md
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Number of days to simulate (the default 14 days writes about 3.6 GB)
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=366))]
    pub days: u32,
    /// Number of stores along the corridor
    #[arg(long, default_value_t = 8)]
    pub stores: usize,
    /// Mean shoppers per weekday (Saturdays 1.5x, Sundays closed)
    #[arg(long, default_value_t = 400)]
    pub shoppers_per_day: u32,
    /// Share of shoppers whose phones randomize their MAC (0..1)
    #[arg(long, default_value_t = 0.0)]
    pub randomized_share: f64,
    /// Minutes between MAC changes of a randomizing phone (it also changes at midnight); a
    /// very long rotation (e.g. 1440) makes every randomized MAC one phone for its day, which
    /// measures what linking merges by mistake
    #[arg(long, value_name = "MINUTES", default_value_t = 15.0)]
    pub rotation_minutes: f64,
    /// Share of shoppers carrying a phone with WiFi on (0..1); the others are never heard but
    /// are in truth.json and counts.csv (a door counter sees everyone)
    #[arg(long, default_value_t = 1.0)]
    pub phone_share: f64,
    /// Share of shoppers with a phone whose app reports location pings to pings.csv (0..1)
    #[arg(long, default_value_t = 0.3)]
    pub app_share: f64,
    /// Share of app users who consented to sharing (0..1); the others' pings say consent=0
    /// and ingest must reject them
    #[arg(long, default_value_t = 0.9)]
    pub app_consent_share: f64,
    /// Mean seconds between an app's location pings (each gap drawn within ±50%)
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub ping_interval: f64,
    /// Random seed; the same seed and start date give the same files
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First simulated day [default: a Monday at least DAYS + 1 days before today, so the
    /// simulated history is recent: the retention periods count back from today]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub start: Option<chrono::NaiveDate>,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Output folder (created if missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Also write observations.pcapng: the same frames as a pcapng capture of radiotap probe
    /// requests, one interface per sensor named by its id (ingest needs no --sensor)
    #[arg(long)]
    pub pcap: bool,
    /// Also write a site survey to try survey-trained zones without hardware: survey-notes.csv
    /// (when the surveyor stood in which zone), survey-observations.csv (what the sensors heard
    /// of the surveyor's phone) and survey-surveyor.txt (its simulated MAC); then run
    /// `footfall survey import`, `footfall locate train` and `footfall ingest --locate-model`
    #[arg(long)]
    pub survey: bool,
    #[command(flatten)]
    pub sim: SimArgs,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the simulated files and database in this folder instead of a temporary one
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Days to simulate
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Stores in the mall
    #[arg(long, default_value_t = 6)]
    pub stores: usize,
    /// Mean shoppers per weekday
    #[arg(long, default_value_t = 300)]
    pub shoppers_per_day: u32,
    /// Random seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// After the report, serve the dashboard and API (the default on a terminal; Ctrl-C stops)
    #[arg(long, conflicts_with = "no_serve")]
    pub serve: bool,
    /// Do not serve the dashboard after the report (the default when output is not a terminal)
    #[arg(long)]
    pub no_serve: bool,
    /// Where the demo serves the dashboard
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
}

#[derive(Args, Debug)]
pub struct SubjectArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Deployment key file [default: the database path with `.key` appended]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The device's MAC address or advertising ID (IDFA/GAID); - reads it from standard input
    #[arg(value_name = "MAC|ADID")]
    pub id: String,
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Site description (JSON; see docs/formats.md). Needed on the first ingest; later ones
    /// reuse the stored site unless a new one is given
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,
    /// Deployment key file [default: the database path with `.key` appended]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Observation files; the format of each is detected from its content
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Never draw a progress bar
    #[arg(long)]
    pub quiet: bool,
    /// Sensor id for capture files (pcap/pcapng) that come from one sensor; pcapng interface
    /// names are used when absent
    #[arg(long, value_name = "ID")]
    pub sensor: Option<String>,
    /// A survey-trained model file (`footfall locate train --out`) to use instead of the one
    /// stored in the database (`footfall locate train --db`, used when this is absent): zones
    /// within stores come from the model, smoothed per device over the zone graph; stores and
    /// visits still follow the strongest sensor. Without either, zones follow the strongest
    /// sensor too
    #[arg(long, value_name = "FILE")]
    pub locate_model: Option<PathBuf>,
    /// App-ping feeds without a `consent` column are refused; with this flag the operator
    /// states that the feed holds only pings of shoppers who consented (e.g. the app vendor
    /// filters them), and it is used
    #[arg(long)]
    pub feed_has_consent: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Print JSON (every store, day and hour) instead of tables
    #[arg(long)]
    pub json: bool,
    /// Only this store (id)
    #[arg(long)]
    pub store: Option<String>,
    /// Deployment key file, which seeds the counts' noise [default: key_file of the config,
    /// else DB.key]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ExportWhat {
    /// One row per visit: pseudonymous device, store, start, end, dwell, zone path. Devices
    /// with randomized MACs are exported without an id (they are never followed)
    Visits(ExportVisitsArgs),
    /// A store's audience segment as an ad-platform file of advertising IDs (k-gated, audited)
    #[command(long_about = "Writes the advertising IDs of one store's segment in a format ad platforms \
take: meta (Meta Custom Audience, one `madid` column), google (Google Customer Match mobile device \
IDs, one `Mobile Device ID` column) or ttd (The Trade Desk / LiveRamp-style CSV: id,id_type,segment \
with id_type MAID). Only advertising IDs of the consented app feed are exportable; WiFi devices never \
leave. A segment with fewer IDs than the audience minimum ([audience] k, 20, never lower) is refused \
and nothing is written. Every export is appended to the audit log in the database (when, who, \
store, segment, format, window, size, SHA-256 of the file); `footfall export audit` prints it.\n\n\
Segments: outside-potential, just-looking, best-customers, lost-customers, competitors-customers \
(definitions: `footfall segments --help`).\n\n\
Example: footfall export segment --db mall.db --store s3 --segment best-customers --format meta --out s3-best.csv")]
    Segment(ExportSegmentArgs),
    /// The audit log of audience exports (CSV on stdout)
    Audit(ExportAuditArgs),
}

/// Ad-platform file formats of `export segment`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudienceFormat {
    Meta,
    Google,
    Ttd,
}

/// The window of segments: flags, else the configured days ending with the last day with data.
#[derive(Args, Debug, Clone, Default)]
pub struct SegmentWindowArgs {
    /// First local day of the window [default: [segments] window_days (90) before --to]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<chrono::NaiveDate>,
    /// Last local day of the window [default: the last day with data]
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<chrono::NaiveDate>,
    /// A customer not seen in the last N days of the window is lost [default: [segments]
    /// lost_after_days, 30]
    #[arg(long, value_name = "N")]
    pub lost_after_days: Option<u32>,
}

#[derive(Args, Debug)]
pub struct ExportSegmentArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Store id
    #[arg(long)]
    pub store: String,
    /// outside-potential, just-looking, best-customers, lost-customers or competitors-customers
    #[arg(long)]
    pub segment: String,
    #[arg(long, value_enum)]
    pub format: AudienceFormat,
    /// Output file (written atomically)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Key file [default: key_file of the config, else DB.key]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub window: SegmentWindowArgs,
}

#[derive(Args, Debug)]
pub struct ExportAuditArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Args, Debug)]
pub struct SegmentsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Store id [default: every store]
    #[arg(long)]
    pub store: Option<String>,
    /// Print JSON instead of tables
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub window: SegmentWindowArgs,
    /// Deployment key file, which seeds the sizes' noise [default: key_file of the config,
    /// else DB.key]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub what: ExportWhat,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(Args, Debug)]
pub struct ExportVisitsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// Write to this file (atomically) instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Include devices excluded as fixed or staff
    #[arg(long)]
    pub include_excluded: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// truth.json written by `footfall simulate`
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Key file, to meet the truth's MACs and advertising IDs as pseudonyms [default: key_file
    /// of the config, else DB.key]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub window: SegmentWindowArgs,
}

/// Output format of `occupancy`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Table,
    Csv,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct CountArgs {
    /// Window length: a number with s, m or h (5m, 300s, 1h)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration_ms)]
    pub window: i64,
    /// Configuration file (TOML): [occupancy] presence_rssi, fixed_share, fixed_min_span_s;
    /// [link] gap_s, scope; [devices] deny and allow lists of MACs; see docs/formats.md
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// MACs never counted as people (fixed computers...), one per line, # comments; added to
    /// the config's [devices] deny list
    #[arg(long, value_name = "FILE")]
    pub deny_file: Option<PathBuf>,
    /// MACs never excluded as present most of the day, one per line; added to [devices] allow
    #[arg(long, value_name = "FILE")]
    pub allow_file: Option<PathBuf>,
    /// Time zone of the local day (estimates of randomized phones end at local midnight)
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub tz: chrono_tz::Tz,
    /// Never draw a progress bar
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct OccupancyArgs {
    /// Capture files (pcap, pcapng) or any observation file ingest reads; each capture file is
    /// one sensor, named after the file
    #[arg(required_unless_present = "db", conflicts_with = "db", value_name = "CAPTURE")]
    pub inputs: Vec<PathBuf>,
    /// Count from an ingested database instead of capture files (per store, or per sensor with
    /// --by sensor; the site's time zone; the window a multiple of 1 minute)
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// With --db: one row per store or per sensor and window
    #[arg(long, value_enum, default_value_t = By::Store, requires = "db")]
    pub by: By,
    #[command(flatten)]
    pub count: CountArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Counted people per interval: CSV `store,time,count[,aggregate...]` (docs/formats.md)
    #[arg(long, value_name = "FILE", required_unless_present = "forget")]
    pub counts: Option<PathBuf>,
    /// Capture files (pcap, pcapng) or any observation file ingest reads; each file is one
    /// store, named after the file (the names used in the counts' `store` column)
    #[arg(required_unless_present = "db", conflicts_with = "db", value_name = "CAPTURE")]
    pub inputs: Vec<PathBuf>,
    /// Take the WiFi estimate per store from an ingested database instead (store ids of the
    /// site): visitors present per window, from the stored visits
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub count: CountArgs,
    /// An hour needs at least this many matched windows for a factor of its own; otherwise
    /// the store-wide factor is used
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub min_intervals: usize,
    /// Also print every matched window: raw, calibrated with its interval, counted
    #[arg(long)]
    pub windows: bool,
    /// Fit only on count windows before this time (RFC 3339) and also report the error on
    /// the windows from it on (out of sample)
    #[arg(long, value_name = "TIME")]
    pub fit_before: Option<String>,
    /// Output format (csv: the factors, or the windows with --windows)
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// With --db: store the fitted factors in the database (replacing earlier ones), so that
    /// `footfall report` shows calibrated figures beside the raw ones. Only the factors are
    /// stored, never the counts
    #[arg(long, requires = "db")]
    pub save: bool,
    /// With --db: remove the stored factors (reports show raw figures only) and exit
    #[arg(long, requires = "db", conflicts_with_all = ["save", "fit_before"])]
    pub forget: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Store,
    Sensor,
}

#[derive(Subcommand, Debug)]
pub enum AccuracyWhat {
    /// Per-window people estimate vs a headcount column (the Brno CSV layout): MAE, RMSE, r
    #[command(long_about = "Compares `footfall occupancy` on one capture with a headcount: a CSV (`;` or `,` \
separated) with a `datetime` column (local time, give its offset with --truth-offset) and an \
`occupancy` column, as in the Brno probe-request dataset. Per window the truth is the largest \
headcount in the window (people present at some time in it) and, as a second view, the \
time-weighted mean. Prints MAE, RMSE and Pearson r for the naive distinct-MAC count and for \
footfall; --sweep adds the sensitivity to presence_rssi, the link gap and fixed_share.\n\n\
Example: footfall accuracy headcount --truth pos1.csv --truth-offset +01:00 \
--deny-file fixed.txt pos1.pcap")]
    Headcount(HeadcountArgs),
    /// Pairwise linking precision/recall on per-device captures (one file per phone, overlaid)
    #[command(long_about = "Each file holds the frames of ONE phone (as in the Baccichet probing-patterns \
dataset). The files are overlaid as if all phones were in one room at once (each shifted to \
start at the same instant), linked as `occupancy` links them, and compared with the truth: \
pairwise precision and recall over pairs of MACs (same phone vs same estimate), and estimated \
vs true number of devices.\n\nExample: footfall accuracy linking --all-randomized baccichet/*.pcap")]
    Linking(LinkingArgs),
}

#[derive(Args, Debug)]
pub struct HeadcountArgs {
    /// The capture (one sensor)
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// The headcount CSV: `datetime` and `occupancy` columns
    #[arg(long, value_name = "FILE")]
    pub truth: PathBuf,
    /// UTC offset of the truth's local times, e.g. +01:00 (needed unless they carry one)
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true)]
    pub truth_offset: Option<String>,
    #[command(flatten)]
    pub count: CountArgs,
    /// Also print the sensitivity to presence_rssi, the link gap and fixed_share
    #[arg(long)]
    pub sweep: bool,
    /// Also print every window
    #[arg(long)]
    pub windows: bool,
}

#[derive(Args, Debug)]
pub struct LinkingArgs {
    /// Capture files, one phone each
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Treat every MAC as randomized and ignore the group bit (for data sets whose publisher
    /// re-randomized the address bytes, like Baccichet's)
    #[arg(long)]
    pub all_randomized: bool,
    /// Keep only each file's first day: frames less than 24 h after its first frame (a file
    /// holding a second capture weeks later is still one phone, but not in the overlaid room)
    #[arg(long)]
    pub first_day: bool,
    #[command(flatten)]
    pub count: CountArgs,
}

/// "5m", "300s", "1h", or plain seconds → milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: i64 = num.parse().map_err(|_| format!("expected a duration like 5m, 300s or 1h, got {s:?}"))?;
    let unit_ms = match unit {
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use s, m or h")),
    };
    if n <= 0 {
        return Err(format!("the window must be positive, got {s:?}"));
    }
    Ok(n * unit_ms)
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Site description (JSON). Needed when the database has none yet; when given, it is
    /// stored and used instead of the database's
    #[arg(long, value_name = "FILE")]
    pub site: Option<PathBuf>,
    /// Deployment key file [default: the database path with `.key` appended]
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// A survey-trained model file (`footfall locate train --out`) to place zones with,
    /// instead of the one stored in the database (`footfall locate train --db`, used when
    /// this is absent, and followed while serving: a model stored or removed meanwhile is
    /// used from the next batch on). A file given here is read once, at startup
    #[arg(long, value_name = "FILE")]
    pub locate_model: Option<PathBuf>,
    /// Address and port to listen on (0.0.0.0:PORT for every interface)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The validator string of the Meraki dashboard, answered to GET /meraki
    #[arg(long, value_name = "STR")]
    pub meraki_validator: Option<String>,
    /// The shared secret Meraki posts must carry; enables POST /meraki. An empty value accepts
    /// posts without a secret (MQTT bridges)
    #[arg(long, value_name = "STR", env = "FOOTFALL_MERAKI_SECRET", hide_env_values = true)]
    pub meraki_secret: Option<String>,
    /// The bearer token sensors send; enables POST /api/v1/ingest/jsonl
    #[arg(long, value_name = "STR", env = "FOOTFALL_SENSOR_TOKEN", hide_env_values = true)]
    pub sensor_token: Option<String>,
    /// Seconds between applications of the journal to the database
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub ingest_interval: f64,
    /// Largest request body accepted, in bytes (larger ones are answered 413)
    #[arg(long, value_name = "BYTES", default_value_t = footfall_server::DEFAULT_BODY_LIMIT)]
    pub max_body: usize,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true)))]
pub struct SensorArgs {
    /// This sensor's id in the site file (every observation is this sensor's)
    #[arg(long, value_name = "ID")]
    pub sensor: String,
    /// The deployment key file, copied from the server (by default beside its database,
    /// DB.key); the agent never creates one
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Key rotation: the server's `[privacy] key_epoch_days`, which this agent must match
    /// (pseudonyms change every this many UTC days); leave out when the server has none
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub key_epoch_days: Option<u32>,
    /// The footfall server, e.g. http://10.0.0.2:8080 (https:// in builds with the `tls` feature)
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The sensor token of the server (--sensor-token there)
    #[arg(long, value_name = "TOKEN", env = "FOOTFALL_SENSOR_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The spool directory: batches wait here until the server has them
    #[arg(long, value_name = "DIR", default_value = "./footfall-spool")]
    pub spool: PathBuf,
    /// Replay a capture file (pcap, pcapng, or any format ingest reads) as this sensor
    #[arg(long, value_name = "FILE", group = "input")]
    pub replay: Option<PathBuf>,
    /// Capture live on this monitor-mode interface
    #[cfg(feature = "live")]
    #[arg(long, value_name = "IFACE", group = "input")]
    pub iface: Option<String>,
    /// Capture nothing: send what the spool holds, then exit
    #[arg(long, group = "input")]
    pub drain: bool,
    /// Observations per batch at most
    #[arg(long, value_name = "N", default_value_t = footfall_agent::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// A batch is closed when its first observation is this old (milliseconds)
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub batch_ms: u64,
    /// First wait before retrying an unreachable server (milliseconds); it doubles...
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub retry_min_ms: u64,
    /// ... up to this (milliseconds)
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub retry_max_ms: u64,
}

#[cfg(feature = "live")]
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true)))]
pub struct CaptureArgs {
    /// This sensor's id in the site file
    #[arg(long, value_name = "ID")]
    pub sensor: String,
    /// The deployment key file (must exist; copy the server's)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The monitor-mode interface, e.g. wlan0mon
    #[arg(long, value_name = "IFACE", group = "input")]
    pub iface: Option<String>,
    /// Read a capture file through libpcap instead (the same code path, for testing)
    #[arg(long, value_name = "FILE", group = "input")]
    pub replay: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: TokenAction,
}

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Create a token and print it (once)
    Create(TokenCreateArgs),
    /// List tokens: id, role, stores, label, created (never the secret)
    List(TokenDbArgs),
    /// Revoke a token by id (it stops working at once)
    Revoke(TokenRevokeArgs),
}

#[derive(Args, Debug)]
pub struct TokenDbArgs {
    /// The database the server runs on
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
}

#[derive(Args, Debug)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub db: TokenDbArgs,
    /// operator, retailer or sensor
    #[arg(long, value_enum)]
    pub role: TokenRole,
    /// A store a retailer token may read (repeat for several); required for retailers
    #[arg(long = "store", value_name = "ID")]
    pub stores: Vec<String>,
    /// Who the token is for (shown by `token list`)
    #[arg(long, default_value = "")]
    pub label: String,
}

#[derive(Args, Debug)]
pub struct TokenRevokeArgs {
    #[command(flatten)]
    pub db: TokenDbArgs,
    /// The token's id (the 8 hex digits after `fft_`; see `token list`)
    pub id: String,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum TokenRole {
    Operator,
    Retailer,
    Sensor,
}

#[derive(Subcommand, Debug)]
pub enum LocateCommand {
    /// Train a fingerprint model from a survey file and save it (JSON)
    #[command(long_about = "Trains the fingerprint model (weighted k nearest neighbours on powed RSSI with the \
Sørensen distance; building, then floor, then position and zone) from a labelled survey: a \
footfall survey file (`footfall survey import`) or a phone-side scan file in the UJIIndoorLoc \
wide-CSV layout (WAP001... columns, 100 = not heard). With --db the model is stored in the \
database beside the site (after checking that it knows the site's sensors): from then on \
`footfall ingest --db` and `footfall serve --db` place zones with it, and the strongest-sensor \
rule when the database has no model. With --out it is written as one JSON file (for \
`locate eval --model-file`, or `ingest --locate-model`, which overrides the stored one).\n\n\
Example: footfall locate train --survey survey.json --db mall.db")]
    Train(LocateTrainArgs),
    /// Remove the model stored in a database (zones come from the strongest sensor again)
    Remove(LocateRemoveArgs),
    /// Train on one file, test on another: building/floor hit, zone accuracy, error in metres
    #[command(long_about = "Trains on one labelled file (or loads a saved model) and locates every sample of \
another, then prints building hit, floor hit, zone accuracy, mean / median / 75th-percentile \
error in metres, and the EvAAL-style score (error + 4 m per floor off + 50 m for a wrong \
building). With --few-shot, also trains on 1, 3, 5, 10... scans per zone of the training file \
(one surveyor's scans) and tests zone accuracy on the other users' scans of the same zones.\n\n\
UJIIndoorLoc benchmark (unzip UJIndoorLoc.zip first):\n  \
footfall locate eval --train trainingData.csv --test validationData.csv --few-shot 1,3,5,10")]
    Eval(LocateEvalArgs),
}

#[derive(Args, Debug)]
pub struct ModelArgs {
    /// Neighbours that vote
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub k: u32,
    /// RSSI representation: powed (default), exponential or positive; missing signals are 0
    /// after the transform, i.e. weaker than any reading
    #[arg(long, value_enum, default_value_t = ReprArg::Powed)]
    pub repr: ReprArg,
    /// Floor below the weakest reading, in dBm: readings are made positive against it
    #[arg(long, default_value_t = -105.0, allow_negative_numbers = true)]
    pub floor_dbm: f32,
    /// Neighbour search: fast (candidates from the strongest access points, taken from the
    /// spots of repeated scans when the survey repeats them; a few µs per fingerprint) or exact
    /// (every sample sharing an access point; slower on large surveys)
    #[arg(long, value_enum, default_value_t = SearchArg::Fast)]
    pub search: SearchArg,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchArg {
    Fast,
    Exact,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReprArg {
    Powed,
    Exponential,
    Positive,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("dest").required(true).multiple(true)))]
pub struct LocateTrainArgs {
    /// The labelled survey: footfall survey JSON or UJIIndoorLoc CSV
    #[arg(long, value_name = "FILE")]
    pub survey: PathBuf,
    /// Where to write the model (JSON)
    #[arg(long, value_name = "FILE", group = "dest")]
    pub out: Option<PathBuf>,
    /// Store the model in this database, with its site (which must be there: ingest once
    /// with --site first); ingest and serve then use it
    #[arg(long, value_name = "FILE", group = "dest")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct LocateRemoveArgs {
    /// The database whose stored model to remove
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true)))]
pub struct LocateEvalArgs {
    /// Labelled training file (footfall survey JSON or UJIIndoorLoc CSV)
    #[arg(long, value_name = "FILE", group = "source")]
    pub train: Option<PathBuf>,
    /// A saved model instead of --train
    #[arg(long, value_name = "FILE", group = "source")]
    pub model_file: Option<PathBuf>,
    /// Labelled test file (same formats)
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
    /// Also run few-shot zone accuracy with these scans per zone (from --train), e.g. 1,3,5,10
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    pub few_shot: Vec<usize>,
    /// Per-device gain calibration of the test scans, online and without labels: each phone's
    /// RSSI offset is learned from its earlier scans (this weight per scan) and corrected
    #[arg(long, value_name = "WEIGHT", num_args = 0..=1, default_missing_value = "0.3")]
    pub calibrate: Option<f32>,
    /// Few-shot draws averaged per size (seeds 1..=N)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub seeds: u64,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON instead of tables
    #[arg(long)]
    pub json: bool,
    /// Never draw a progress bar
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum SurveyCommand {
    /// Join survey notes with the sensor observations of the surveyor's phone → labelled fingerprints
    #[command(long_about = "A site survey: a surveyor walks the stores with a phone whose MAC is known, and \
notes when they stood in which zone (start,end,zone with zone ids STORE/ZONE or STORE, or \
names starting with `outside` for places outside every store) or at which point \
(start,end,x,y in site metres); times are RFC 3339 or UTC milliseconds. The sensors hear the \
phone passively. This command reads the observation files of that period (any format ingest \
reads), keeps the surveyor phone's observations, and writes one labelled fingerprint per \
time slice (mean RSSI per sensor) as a footfall survey file for `footfall locate train`. The \
surveyor MAC is keyed-hashed with the deployment key on arrival, like every MAC, and is never \
written or printed. Phone-side scans in the UJIIndoorLoc layout need no import: give them to \
`footfall locate train` directly.\n\n\
Example:\n  footfall survey import --site site.json --key mall.db.key --surveyor 02:00:00:aa:bb:cc \\\n    \
--notes survey.csv --out survey.json observations.csv")]
    Import(SurveyImportArgs),
}

#[derive(Args, Debug)]
pub struct SurveyImportArgs {
    /// Site description (JSON): sensor ids and zones
    #[arg(long, value_name = "FILE")]
    pub site: PathBuf,
    /// The deployment key file (the database's, DB.key); created (mode 0600) if missing
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The surveyor phone's MAC (hashed on arrival; never stored or printed)
    #[arg(long, value_name = "MAC", env = "FOOTFALL_SURVEYOR_MAC", hide_env_values = true)]
    pub surveyor: String,
    /// Survey notes: CSV with header start,end,zone or start,end,x,y
    #[arg(long, value_name = "FILE")]
    pub notes: PathBuf,
    /// Where to write the labelled fingerprints (footfall survey JSON)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Seconds per fingerprint (the pipeline locates in 10 s windows)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub slice_s: u32,
    /// Sensor id for capture files that come from one sensor
    #[arg(long, value_name = "ID")]
    pub sensor: Option<String>,
    /// Observation files of the survey period
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Never draw a progress bar
    #[arg(long)]
    pub quiet: bool,
}
