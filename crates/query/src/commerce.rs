//! Commerce on the read side: transactions with the visit each is attributed to (for the
//! WiFi visits and, separately, the app feed's visits), and the sales metrics built on them.
//!
//! Owns loading the transactions and the app feed's visits and passes (stored plus those
//! still open in its saved state), running `transforms::attribute` over each, and conversion
//! (attributed transactions / visits), average transaction value and shopper yield (sales /
//! visits) per store, in total and per local hour, day or ISO week ([`store_sales`], what the
//! API serves), every count through the [`Release`] (noise when on, then the k-threshold). It
//! must not write to the store.

use crate::views::{Granularity, cell, period_label, range_cell};
use crate::{Dataset, DayRange, QueryError, Release};
use footfall_core::commerce::Transaction;
use footfall_core::time::LocalCalendar;
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
    /// Transactions with no visit at the cashier before them.
    pub unattributed: Option<u64>,
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
    /// The figures of `cell` (see [`crate::views::cell`]): counts through `r`, rates from the
    /// released counts. Amounts are not counts: noise does not cover them (docs/privacy.md),
    /// so they are published only when both the true and the released transaction counts
    /// reach k.
    fn publish(self, r: Release, cell: &str) -> Sales {
        // The store's visits are its walk-ins (the same cell and noise as the traffic figures).
        let visits = r.noisy(cell, "walk_ins", self.visits);
        let tx = r.noisy(cell, "transactions", self.tx);
        let attributed = r.noisy(cell, "attributed", self.attributed).min(tx);
        let t = r.threshold;
        let ratio = |a: f64, b: u64| (b > 0).then(|| a / b as f64);
        let euros = self.cents as f64 / 100.0;
        Sales {
            visits: t.count(visits),
            transactions: t.count(tx),
            attributed: t.count(attributed),
            unattributed: t.count(tx - attributed),
            conversion: t.derived(&[visits, attributed], ratio(attributed as f64, visits)),
            avg_transaction_value: t.derived(&[tx, self.tx], ratio(euros, self.tx)),
            shopper_yield: t.derived(&[self.tx, tx, visits], ratio(euros, visits)),
            sales: t.derived(&[tx, self.tx], Some(euros)),
        }
    }
}

/// One period's sales.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SalesRow {
    /// `YYYY-MM-DD` (day), `YYYY-MM-DDTHH` (hour, local) or `YYYY-Www` (ISO week), as in
    /// the traffic metrics.
    pub period: String,
    #[serde(flatten)]
    pub sales: Sales,
}

/// A store's sales over a range, in total and per period.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoreSales {
    pub store: String,
    pub from: String,
    pub to: String,
    pub by: Granularity,
    pub k: u64,
    /// Epsilon of the differential-privacy noise on each count, null when noise is off
    /// (`[privacy] epsilon`); rates are computed from the noisy counts.
    pub noise_epsilon_per_count: Option<f64>,
    pub total: Sales,
    /// Periods with a visit or a transaction, in time order.
    pub rows: Vec<SalesRow>,
}

/// Sales of `store` over `range`, in total and per hour, day or ISO week (local time), every
/// count through `t`. Visits are counted on their start, transactions on their time.
pub fn store_sales(
    ds: &Dataset,
    c: &Commerce,
    store: &str,
    range: DayRange,
    by: Granularity,
    r: Release,
) -> Result<StoreSales, QueryError> {
    let s = ds.store(store)?;
    let mut rows: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for (v, &(d, h)) in ds.visits.iter().zip(&ds.visit_start) {
        if v.store == s && range.contains(d) {
            rows.entry(period_label(by, d, h)).or_default().visits += 1;
            total.visits += 1;
        }
    }
    let mut cal = LocalCalendar::new(ds.site.tz());
    for (tx, v) in c.transactions.iter().zip(&c.wifi_visit) {
        let (d, h) = cal.day_hour(tx.ts);
        if tx.store != s || !range.contains(d) {
            continue;
        }
        for a in [rows.entry(period_label(by, d, h)).or_default(), &mut total] {
            a.tx += 1;
            a.attributed += v.is_some() as u64;
            a.cents += tx.amount_cents;
        }
    }
    Ok(StoreSales {
        store: store.to_string(),
        from: range.from_str(),
        to: range.to_str(),
        by,
        k: r.k(),
        noise_epsilon_per_count: r.epsilon(),
        total: total.publish(r, &range_cell(store, range)),
        rows: rows.into_iter().map(|(period, a)| SalesRow { sales: a.publish(r, &cell(store, &period)), period }).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Threshold;

    #[test]
    fn thresholds_apply_to_every_sales_figure() {
        let t = Release::exact(Threshold::new(5));
        let a = Acc { visits: 40, tx: 10, attributed: 8, cents: 50_000 }.publish(t, "a|x");
        assert_eq!(a.conversion, Some(0.2));
        assert_eq!(a.avg_transaction_value, Some(50.0));
        assert_eq!(a.shopper_yield, Some(12.5));
        let b = Acc { visits: 40, tx: 3, attributed: 3, cents: 9_000 }.publish(t, "a|x");
        assert_eq!((b.transactions, b.attributed, b.conversion, b.avg_transaction_value, b.sales), (None, None, None, None, None));
        assert_eq!(b.visits, Some(40));
        assert_eq!(b.unattributed, Some(0));
    }

    #[test]
    fn store_sales_per_period_and_in_total() {
        use crate::views::tests::{DAY_MS, T0, dataset, visit};
        let t = Release::exact(Threshold::new(5));
        // 12 visits at a, 10 in the 10:00 hour and 2 at 11:00; one visit at b.
        let mut visits: Vec<_> = (0..12).map(|i| visit(i, 0, T0 + if i < 10 { i as i64 * 60_000 } else { 3_600_000 }, 5, &[])).collect();
        visits.push(visit(99, 1, T0, 5, &[]));
        let ds = dataset(visits, Vec::new());
        // 8 sales at a in the 10:00 hour (6 attributed, 2 not), 1 at b, 1 at a a day later.
        let tx = |i: usize, store: u16, at: i64| Transaction {
            id: format!("t{i}"),
            store,
            ts: at,
            amount_cents: 1_000 * (i as i64 + 1),
            zone: None,
        };
        let mut transactions: Vec<_> = (0..8).map(|i| tx(i, 0, T0 + 600_000)).collect();
        transactions.push(tx(8, 1, T0));
        transactions.push(tx(9, 0, T0 + DAY_MS));
        let mut wifi_visit: Vec<Option<usize>> = (0..8).map(|i| (i < 6).then_some(i)).collect();
        wifi_visit.extend([Some(12), None]);
        let c = Commerce {
            app_visit: vec![None; transactions.len()],
            transactions,
            wifi_visit,
            app_visits: Vec::new(),
            app_passes: Vec::new(),
        };
        let day = (T0 / DAY_MS) as footfall_core::time::LocalDay;
        let range = DayRange { first: day, last: day };
        let s = store_sales(&ds, &c, "a", range, Granularity::Hour, t).unwrap();
        let sales_a: f64 = (1..=8).map(|i| i as f64 * 10.0).sum();
        assert_eq!((s.total.visits, s.total.transactions, s.total.attributed, s.total.unattributed), (Some(12), Some(8), Some(6), None));
        assert_eq!(s.total.conversion, Some(0.5));
        assert_eq!(s.total.avg_transaction_value, Some(sales_a / 8.0));
        assert_eq!(s.total.shopper_yield, Some(sales_a / 12.0));
        assert_eq!(s.rows.iter().map(|r| r.period.as_str()).collect::<Vec<_>>(), vec!["2024-10-04T10", "2024-10-04T11"]);
        assert_eq!((s.rows[0].sales.visits, s.rows[0].sales.transactions), (Some(10), Some(8)));
        assert_eq!((s.rows[1].sales.visits, s.rows[1].sales.transactions, s.rows[1].sales.conversion), (None, Some(0), None));
        let two = DayRange { first: day, last: day + 1 };
        let d = store_sales(&ds, &c, "a", two, Granularity::Day, t).unwrap();
        assert_eq!(d.rows.len(), 2);
        assert_eq!(d.rows[1].sales.transactions, None, "one sale is below k");
        assert_eq!(d.total.transactions, Some(9));
        assert!(store_sales(&ds, &c, "nope", range, Granularity::Day, t).is_err());
    }
}
