//! # footfall-transforms
//!
//! The verbs of the pipeline, in the order observations meet them:
//!
//! 1. [`pseudonymize`]: keyed hash of the MAC; the raw address goes no further.
//! 2. [`filter`]: drops group addresses, implausible signal, unknown sensors; counts why.
//! 3. [`reorder`]: event-time reordering within the allowed lateness.
//! 4. [`activity`]: per device and local day, the hours it was heard (for exclusion).
//! 5. [`locate`]: sensor RSSI over a short window → store and zone fixes.
//! 6. [`sessionize`]: fixes → visits (with zone stays) and passes.
//! 7. [`exclude`]: fixed and staff devices, decided from activity.
//! 8. [`aggregate`]: visits and passes → metrics per store and hour/day.
//!
//!
//! Counting people rather than MACs: [`link`] turns randomized MACs into device estimates
//! (fingerprint classes, time continuity, never across days) and [`occupancy`] counts
//! estimates present per scope and window, beside the naive distinct-MAC count.
//! [`calibrate`] fits per store and hour a factor from those estimates to people counted by a
//! door counter or camera system (ratio of sums, bootstrap interval).
//!
//! Commerce: [`geofence`] keeps each advertising-ID pseudonym's track of app location pings
//! and [`app_path`] decodes a finished track into the same location fixes (and, with the
//! sessionizer, visits and passes); [`seal`] keeps consented
//! advertising IDs sealed for the audience export; [`attribute`] assigns point-of-sale
//! transactions to the visit at the cashier.
//!
//! [`optout`] parses what an owner submits to opt out or be forgotten (a MAC or an
//! advertising ID); [`intake::Intake`] and [`Pipeline::forget`] act on its pseudonyms.
//!
//! [`runner`] drives a source through intake and the pipeline on two threads.
//! [`pipeline`] strings 1-6 together as one state machine (`push`, `snapshot`/`restore`,
//! `finish`) that the in-process runner, and later a Kafka consumer, drive. Stateful pieces
//! take time only from the events they are given (event time), never from the wall clock.
//! [`config`] holds every threshold with its documented default. [`wire`] is the JSON form of
//! the sensor agent's batches of pseudonymous observations.

pub mod activity;
pub mod aggregate;
pub mod app_path;
pub mod attribute;
pub mod calibrate;
pub mod config;
pub mod exclude;
pub mod filter;
pub mod geofence;
pub mod intake;
pub mod link;
pub mod locate;
pub mod occupancy;
pub mod optout;
pub mod pipeline;
pub mod pseudonymize;
pub mod reorder;
pub mod runner;
pub mod seal;
pub mod sessionize;
pub mod wire;

pub use config::PipelineConfig;
pub use pipeline::{Pipeline, PipelineOutput};
pub use pseudonymize::{KEY_LEN, Pseudonymizer, Rotation};
