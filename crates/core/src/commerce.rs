//! Point-of-sale transactions as the pipeline sees them: store index, time, amount.
//!
//! A [`Transaction`] carries no personal data (no card, no customer); it is tied to a
//! shopper only through the visit `transforms::attribute` assigns it to. This module owns the
//! shape only.

use crate::time::Millis;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The till's transaction id (unique per deployment; a re-import replaces the row).
    pub id: String,
    /// Store index in the site.
    pub store: u16,
    pub ts: Millis,
    /// Hundredths of the currency's major unit; negative for a refund.
    pub amount_cents: i64,
    /// Zone index of the till within the store, when the feed says.
    pub zone: Option<u16>,
}
