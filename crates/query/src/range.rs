//! Date ranges of queries: inclusive local dates, their defaults and comparisons.
//!
//! Owns parsing `YYYY-MM-DD` bounds, the default range (the last 7 days with data), and the
//! previous period of equal length. It must not look at the wall clock: "the last days"
//! are the last days *with data*.

use crate::QueryError;
use footfall_core::time::{LocalDay, date_of_day, day_of_date};

/// Days a default range covers.
pub const DEFAULT_DAYS: i64 = 7;
/// The longest range a query may ask for.
pub const MAX_DAYS: i64 = 3 * 366;

/// An inclusive range of local days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRange {
    pub first: LocalDay,
    pub last: LocalDay,
}

pub(crate) fn parse_date(what: &str, s: &str) -> Result<LocalDay, QueryError> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(day_of_date)
        .map_err(|_| QueryError::BadRange(format!("{what}={s:?} is not a date: expected YYYY-MM-DD, e.g. 2026-03-14")))
}

impl DayRange {
    /// The range from optional `from`/`to` query values. Missing bounds default to the
    /// last [`DEFAULT_DAYS`] days ending on the last day with data (`span`), or on the
    /// other bound when only one is given.
    pub fn resolve(from: Option<&str>, to: Option<&str>, span: Option<(LocalDay, LocalDay)>) -> Result<DayRange, QueryError> {
        let from = from.filter(|s| !s.is_empty()).map(|s| parse_date("from", s)).transpose()?;
        let to = to.filter(|s| !s.is_empty()).map(|s| parse_date("to", s)).transpose()?;
        let last_data = span.map(|(_, b)| b).unwrap_or(0);
        let (first, last) = match (from, to) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => (a, (a + DEFAULT_DAYS as LocalDay - 1).max(a)),
            (None, Some(b)) => (b - DEFAULT_DAYS as LocalDay + 1, b),
            (None, None) => (last_data - DEFAULT_DAYS as LocalDay + 1, last_data),
        };
        if last < first {
            return Err(QueryError::BadRange(format!("to ({}) is before from ({})", date_of_day(last), date_of_day(first))));
        }
        if (last - first) as i64 >= MAX_DAYS {
            return Err(QueryError::BadRange(format!("a range may cover at most {MAX_DAYS} days")));
        }
        Ok(DayRange { first, last })
    }

    pub fn days(self) -> i64 {
        (self.last - self.first) as i64 + 1
    }

    pub fn contains(self, d: LocalDay) -> bool {
        (self.first..=self.last).contains(&d)
    }

    /// The same number of days just before.
    pub fn previous(self) -> DayRange {
        self.shifted(-self.days())
    }

    /// The range moved by `days`.
    pub fn shifted(self, days: i64) -> DayRange {
        DayRange { first: self.first + days as LocalDay, last: self.last + days as LocalDay }
    }

    pub fn from_str(self) -> String {
        date_of_day(self.first).to_string()
    }

    pub fn to_str(self) -> String {
        date_of_day(self.last).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> LocalDay {
        parse_date("x", s).unwrap()
    }

    #[test]
    fn defaults_and_comparisons() {
        let span = Some((d("2026-03-01"), d("2026-03-14")));
        let r = DayRange::resolve(None, None, span).unwrap();
        assert_eq!((r.from_str(), r.to_str()), ("2026-03-08".into(), "2026-03-14".into()));
        assert_eq!(r.previous().to_str(), "2026-03-07");
        assert_eq!(r.shifted(-7).from_str(), "2026-03-01");
        let r = DayRange::resolve(Some("2026-03-02"), Some("2026-03-02"), span).unwrap();
        assert_eq!(r.days(), 1);
        assert_eq!(DayRange::resolve(Some("2026-03-02"), None, span).unwrap().to_str(), "2026-03-08");
    }

    #[test]
    fn bad_input_says_what_was_expected() {
        let e = DayRange::resolve(Some("14/03/2026"), None, None).unwrap_err().to_string();
        assert!(e.contains("from=\"14/03/2026\"") && e.contains("YYYY-MM-DD"), "{e}");
        let e = DayRange::resolve(Some("2026-03-05"), Some("2026-03-01"), None).unwrap_err().to_string();
        assert!(e.contains("before"), "{e}");
        assert!(DayRange::resolve(Some("2020-01-01"), Some("2026-01-01"), None).is_err());
    }
}
