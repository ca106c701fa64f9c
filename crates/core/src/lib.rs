//! # footfall-core
//!
//! The small core every other crate of footfall meets around: identifiers, observations,
//! the site description, visits and passes, metric records, and the pure logic that goes
//! with them (geometry, validation, time zones). It does no I/O beyond parsing strings and
//! has no async; errors are typed.
//!
//! ## Layout
//! - [`mac`]: [`mac::MacAddr`], a raw hardware address. It exists only between a source and
//!   the pseudonymizer; it is not serializable and its `Debug` is redacted.
//! - [`adid`]: [`adid::AdId`], a mobile advertising ID (IDFA/GAID) as its owner submits it
//!   to opt out; unprintable like a MAC.
//! - [`observation`]: [`observation::RawObservation`] (carries a raw MAC, accepted by no
//!   sink) and [`observation::Observation`] (pseudonymous, what the pipeline carries on).
//! - [`device`]: [`device::DeviceId`], the keyed-hash pseudonym of a device.
//! - [`site`] and [`geometry`]: stores, zones, sensors, polygons in metres, validation;
//!   [`geo`]: the site's anchor on the Earth (latitude/longitude ↔ metres).
//! - [`visit`]: [`visit::Visit`], [`visit::Pass`], [`visit::ZoneStay`], the outputs of
//!   sessionizing.
//! - [`commerce`]: [`commerce::Transaction`], a point-of-sale record (no personal data).
//! - [`metrics`]: the aggregate records reports and exports are made of.
//! - [`time`]: timestamps (UTC milliseconds), RFC 3339 parsing, local days and hours.

pub mod adid;
pub mod clock;
pub mod commerce;
pub mod device;
pub mod geo;
pub mod geometry;
pub mod mac;
pub mod metrics;
pub mod observation;
pub mod site;
pub mod time;
pub mod visit;

pub use adid::AdId;
pub use device::DeviceId;
pub use mac::MacAddr;
pub use observation::{Observation, RadioKind, RawObservation};
pub use site::Site;
pub use time::Millis;
pub use visit::{Pass, Visit, ZoneStay};
