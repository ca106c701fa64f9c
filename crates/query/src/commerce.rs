//! Commerce on the read side: transactions with the visit each is attributed to (for the
//! WiFi visits and, separately, the app feed's visits), and the sales metrics built on them.
//!
//! Owns loading the transactions and the app feed's visits and passes (stored plus those
//! still open in its saved state), running `transforms::attribute` over each, and conversion
//! (attributed transactions / visits), average transaction value and shopper yield (sales /
//! visits) per store and local day or hour, every count through the k-threshold. It must not
//! write to the store.

use crate::{Dataset, QueryError, Threshold};
use footfall_core::commerce::Transaction;
use footfall_core::time::{LocalCalendar, LocalDay};
use footfall_core::{Pass, Visit};
use footfall_store::Store;
use footfall_transforms::attribute::{AttributeConfig, Evidence, attribute};
use footfall_transforms::geofence::AppTracker;
use serde::Serialize;
use std::collections::BTreeMap;

/// Transactions and both attributions.
pub struct Commerce {
    pub transactions: Vec<Transaction>,
    /// Per transaction, the index in `Dataset::visits` of its visit.
    pub wifi_visit: Vec<Option<usize>>,
    /// The app feed's visits and passes (advertising-ID pseudonyms).
    pub app_visits: Vec<Visit>,
    pub app_passes: Vec<Pass>,
    /// Per transaction, the index in `app_visits` of its visit.
    pub app_visit: Vec<Option<usize>>,
}

impl Commerce {
    pub fn load(store: &Store, ds: &Dataset, cfg: &AttributeConfig) -> Result<Commerce, QueryError> {
        let transactions = store.transactions(&ds.site)?;
        let mut app_visits = store.app_visits(&ds.site)?;
        let mut app_passes = store.app_passes(&ds.site)?;
        if let Some(state) = store.app_state()? {
            let open = AppTracker::restore(&ds.site, &state).map_err(|e| QueryError::BadRange(e.to_string()))?.provisional();
            app_visits.extend(open.visits);
            app_passes.extend(open.passes);
        }
        let wifi_visit = attribute(&ds.site, cfg, Evidence::CashierZone, &ds.visits, &transactions);
        let app_visit = attribute(&ds.site, cfg, Evidence::VisitEnd, &app_visits, &transactions);
        Ok(Commerce { transactions, wifi_visit, app_visits, app_passes, app_visit })
    }

    /// Transactions with no WiFi visit.
    pub fn unattributed(&self) -> usize {
        self.wifi_visit.iter().filter(|v| v.is_none()).count()
    }
}

/// Sales figures of one store over one period, thresholded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Sales {
    /// Visits (WiFi, shoppers).
    pub visits: Option<u64>,
    pub transactions: Option<u64>,
    /// Transactions attributed to a visit.
    pub attributed: Option<u64>,
    /// Attributed transactions / visits.
    pub conversion: Option<f64>,
    /// Sales / transactions, in the currency's major unit.
    pub avg_transaction_value: Option<f64>,
    /// Sales / visits, in the currency's major unit.
    pub shopper_yield: Option<f64>,
    /// Sum of the transactions, major unit (published when the transaction count is).
    pub sales: Option<f64>,
}

#[derive(Default, Clone, Copy)]
struct Acc {
    visits: u64,
    tx: u64,
    attributed: u64,
    cents: i64,
}

impl Acc {
    fn publish(self, t: Threshold) -> Sales {
        let ok = |n: u64| t.count(n);
        let ratio = |a: f64, b: u64| (b > 0).then(|| a / b as f64);
        Sales {
            visits: ok(self.visits),
            transactions: ok(self.tx),
            attributed: ok(self.attributed),
            conversion: t.derived(&[self.visits, self.attributed], ratio(self.attributed as f64, self.visits)),
            avg_transaction_value: t.derived(&[self.tx], ratio(self.cents as f64 / 100.0, self.tx)),
            shopper_yield: t.derived(&[self.tx, self.visits], ratio(self.cents as f64 / 100.0, self.visits)),
            sales: t.derived(&[self.tx], Some(self.cents as f64 / 100.0)),
        }
    }
}

/// How to bucket sales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Total,
    Day,
    Hour,
}

/// Sales per store (index) and bucket key (local day, or local hour 0..24, or 0 for total),
/// over local days `from..=to`.
pub fn sales(ds: &Dataset, c: &Commerce, t: Threshold, bucket: Bucket, from: LocalDay, to: LocalDay) -> BTreeMap<(u16, i64), Sales> {
    let mut acc: BTreeMap<(u16, i64), Acc> = BTreeMap::new();
    let key = |(d, h): (LocalDay, u8)| match bucket {
        Bucket::Total => 0,
        Bucket::Day => d as i64,
        Bucket::Hour => h as i64,
    };
    for (v, &dh) in ds.visits.iter().zip(&ds.visit_start) {
        if (from..=to).contains(&dh.0) {
            acc.entry((v.store, key(dh))).or_default().visits += 1;
        }
    }
    let mut cal = LocalCalendar::new(ds.site.tz());
    for (tx, v) in c.transactions.iter().zip(&c.wifi_visit) {
        let dh = cal.day_hour(tx.ts);
        if !(from..=to).contains(&dh.0) {
            continue;
        }
        let a = acc.entry((tx.store, key(dh))).or_default();
        a.tx += 1;
        a.attributed += v.is_some() as u64;
        a.cents += tx.amount_cents;
    }
    acc.into_iter().map(|(k, a)| (k, a.publish(t))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_apply_to_every_sales_figure() {
        let t = Threshold::new(5);
        let a = Acc { visits: 40, tx: 10, attributed: 8, cents: 50_000 }.publish(t);
        assert_eq!(a.conversion, Some(0.2));
        assert_eq!(a.avg_transaction_value, Some(50.0));
        assert_eq!(a.shopper_yield, Some(12.5));
        let b = Acc { visits: 40, tx: 3, attributed: 3, cents: 9_000 }.publish(t);
        assert_eq!((b.transactions, b.attributed, b.conversion, b.avg_transaction_value, b.sales), (None, None, None, None, None));
        assert_eq!(b.visits, Some(40));
    }
}
