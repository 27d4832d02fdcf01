//! Aggregate figures an agency reports to the KI for the municipality's social planning.
//!
//! Only aggregates leave a node: for each calendar year and field of action, how many
//! referrals the agency received, took on or declined (by reason), how many still wait for
//! an answer, and the median time to acceptance. No referral, client, user or date of a single case is in a
//! report. A count from 1 to 4 could point at a person, so it is suppressed before it
//! leaves the node ([`Count::Few`]), and a median is only given over at least
//! [`MIN_COUNT`] acceptances. The KI refuses a report that breaks either rule
//! ([`StatisticsReport::check`]), so a faulty or older node cannot hand it small numbers.
//!
//! The QUIC connection authenticates the reporting node; the report needs no signature of
//! its own and carries no sender field.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::client::FieldOfAction;

/// The smallest count a report may carry exactly (besides zero).
pub const MIN_COUNT: u32 = 5;
/// The most calendar years a report covers (the latest ones).
pub const MAX_YEARS: usize = 10;
/// The largest encoded report accepted: ten years of eleven rows of a few bytes each,
/// with room.
pub const MAX_REPORT_BYTES: usize = 8192;

/// A count as it leaves the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Count {
    /// The exact count: zero, or at least [`MIN_COUNT`].
    Exact(u32),
    /// Between 1 and [`MIN_COUNT`] − 1: suppressed.
    Few,
}

impl Count {
    /// `n`, suppressed if it is small.
    pub fn of(n: u32) -> Count {
        if n == 0 || n >= MIN_COUNT {
            Count::Exact(n)
        } else {
            Count::Few
        }
    }

    /// True if the count may leave a node as it is.
    pub fn is_safe(self) -> bool {
        match self {
            Count::Exact(n) => n == 0 || n >= MIN_COUNT,
            Count::Few => true,
        }
    }

    /// The least the count can be (a suppressed count is at least 1).
    pub fn at_least(self) -> u32 {
        match self {
            Count::Exact(n) => n,
            Count::Few => 1,
        }
    }
}

/// The figures of one field of action. A referral whose needs fall in several fields
/// counts in each of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldFigures {
    /// The field of action.
    pub field: FieldOfAction,
    /// Referrals received.
    pub received: Count,
    /// Taken on (accepted, whatever happened after).
    pub taken_on: Count,
    /// Declined: no capacity.
    pub declined_no_capacity: Count,
    /// Declined: not responsible.
    pub declined_not_responsible: Count,
    /// Declined: the client declined.
    pub declined_by_client: Count,
    /// Declined for another reason.
    pub declined_other: Count,
    /// Still waiting for an answer.
    pub waiting: Count,
    /// Median hours from receipt to acceptance; only over at least [`MIN_COUNT`]
    /// acceptances.
    pub median_hours_to_accept: Option<u32>,
}

impl FieldFigures {
    /// Every count of the row, with its name.
    pub fn counts(&self) -> [(&'static str, Count); 7] {
        [
            ("received", self.received),
            ("taken_on", self.taken_on),
            ("declined_no_capacity", self.declined_no_capacity),
            ("declined_not_responsible", self.declined_not_responsible),
            ("declined_by_client", self.declined_by_client),
            ("declined_other", self.declined_other),
            ("waiting", self.waiting),
        ]
    }
}

/// The referrals an agency received in one calendar year (UTC), by field of action
/// (fields without referrals are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearFigures {
    /// The year the referrals were received in.
    pub year: u16,
    /// One row per field of action with referrals.
    pub fields: Vec<FieldFigures>,
}

/// What one agency reports: the referrals it received, by year (at most the latest
/// [`MAX_YEARS`]) and field of action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatisticsReport {
    /// When the figures were taken.
    pub taken_at: Timestamp,
    /// One entry per year with referrals, oldest first.
    pub years: Vec<YearFigures>,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatisticsError {
    /// A count from 1 to 4 was not suppressed.
    #[error(
        "the report carries {what} = {n} for {field:?}; counts from 1 to {} must be suppressed",
        MIN_COUNT - 1
    )]
    SmallCount {
        /// The field of action.
        field: FieldOfAction,
        /// Which count.
        what: &'static str,
        /// Its value.
        n: u32,
    },
    /// A median over fewer than [`MIN_COUNT`] acceptances.
    #[error(
        "the report gives a median time to acceptance for {0:?} over fewer than {MIN_COUNT} acceptances"
    )]
    SmallMedian(FieldOfAction),
    /// A field of action appears twice in a year.
    #[error("the report lists {0:?} twice in one year")]
    Duplicate(FieldOfAction),
    /// A year appears twice, or more years than allowed.
    #[error("the report lists the year {0} twice, or more than {MAX_YEARS} years")]
    Years(u16),
}

impl StatisticsReport {
    /// Checks the suppression rules: no count from 1 to 4, no median over fewer than
    /// [`MIN_COUNT`] acceptances; and each year once, at most [`MAX_YEARS`], each field
    /// once a year.
    pub fn check(&self) -> Result<(), StatisticsError> {
        let mut years = Vec::new();
        for y in &self.years {
            if years.contains(&y.year) || years.len() == MAX_YEARS {
                return Err(StatisticsError::Years(y.year));
            }
            years.push(y.year);
            y.check()?;
        }
        Ok(())
    }
}

impl YearFigures {
    fn check(&self) -> Result<(), StatisticsError> {
        let mut seen = Vec::new();
        for row in &self.fields {
            if seen.contains(&row.field) {
                return Err(StatisticsError::Duplicate(row.field));
            }
            seen.push(row.field);
            for (what, count) in row.counts() {
                if let Count::Exact(n) = count
                    && !count.is_safe()
                {
                    return Err(StatisticsError::SmallCount {
                        field: row.field,
                        what,
                        n,
                    });
                }
            }
            if row.median_hours_to_accept.is_some() && row.taken_on.at_least() < MIN_COUNT {
                return Err(StatisticsError::SmallMedian(row.field));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    fn row(field: FieldOfAction, received: u32, taken_on: u32) -> FieldFigures {
        FieldFigures {
            field,
            received: Count::of(received),
            taken_on: Count::of(taken_on),
            declined_no_capacity: Count::of(0),
            declined_not_responsible: Count::of(0),
            declined_by_client: Count::of(0),
            declined_other: Count::of(0),
            waiting: Count::of(received - taken_on),
            median_hours_to_accept: (taken_on >= MIN_COUNT).then_some(20),
        }
    }

    /// A report of one year with `fields`.
    fn report(fields: Vec<FieldFigures>) -> StatisticsReport {
        StatisticsReport {
            taken_at: Timestamp(1_790_000_000_000),
            years: vec![YearFigures { year: 2026, fields }],
        }
    }

    #[test]
    fn small_counts_are_suppressed_and_zero_and_large_ones_kept() {
        assert_eq!(Count::of(0), Count::Exact(0));
        for n in 1..MIN_COUNT {
            assert_eq!(Count::of(n), Count::Few, "{n}");
        }
        assert_eq!(Count::of(5), Count::Exact(5));
        assert_eq!(Count::of(1000), Count::Exact(1000));
        assert_eq!(Count::Few.at_least(), 1);
    }

    #[test]
    fn a_report_of_counts_made_with_of_passes_and_round_trips() {
        let mut r = report(vec![
            row(FieldOfAction::Work, 12, 7),
            row(FieldOfAction::Housing, 3, 1),
        ]);
        r.years.insert(
            0,
            YearFigures {
                year: 2025,
                fields: vec![row(FieldOfAction::Work, 40, 30)],
            },
        );
        r.check().unwrap();
        let bytes = codec::encode(&r);
        let back: StatisticsReport = codec::decode("report", &bytes, MAX_REPORT_BYTES).unwrap();
        assert_eq!(back, r);
        // The largest report that passes the check fits the limit.
        let all: Vec<FieldFigures> = FieldOfAction::ALL
            .iter()
            .map(|f| {
                let mut big = row(*f, u32::MAX - 1, u32::MAX - 1);
                big.median_hours_to_accept = Some(u32::MAX);
                big
            })
            .collect();
        let largest = StatisticsReport {
            taken_at: Timestamp(u64::MAX),
            years: (0..MAX_YEARS as u16)
                .map(|i| YearFigures {
                    year: u16::MAX - i,
                    fields: all.clone(),
                })
                .collect(),
        };
        largest.check().unwrap();
        assert!(codec::encode(&largest).len() <= MAX_REPORT_BYTES);
    }

    #[test]
    fn small_numbers_medians_and_duplicates_are_refused() {
        let mut small = row(FieldOfAction::Work, 12, 7);
        small.declined_by_client = Count::Exact(2);
        let err = report(vec![small]).check().unwrap_err();
        assert!(err.to_string().contains("declined_by_client = 2"), "{err}");

        let mut median = row(FieldOfAction::Health, 12, 3);
        median.median_hours_to_accept = Some(5);
        assert_eq!(
            report(vec![median]).check(),
            Err(StatisticsError::SmallMedian(FieldOfAction::Health))
        );

        let twice = vec![
            row(FieldOfAction::Work, 5, 5),
            row(FieldOfAction::Work, 6, 5),
        ];
        assert_eq!(
            report(twice).check(),
            Err(StatisticsError::Duplicate(FieldOfAction::Work))
        );

        let mut years = report(vec![]);
        years.years.push(years.years[0].clone());
        assert_eq!(years.check(), Err(StatisticsError::Years(2026)));
        let mut many = report(vec![]);
        many.years = (2000..2011)
            .map(|year| YearFigures {
                year,
                fields: vec![],
            })
            .collect();
        assert_eq!(many.check(), Err(StatisticsError::Years(2010)));
    }

    #[test]
    fn the_fuzz_seed_is_a_whole_report_in_todays_format() {
        let seed = include_bytes!("../fuzz/seeds/statistics_report/report");
        let r: StatisticsReport = codec::decode("report", seed, MAX_REPORT_BYTES).unwrap();
        r.check().unwrap();
        let work = &r.years[0].fields[0];
        assert_eq!(work.field, FieldOfAction::Work);
        assert_eq!(work.received, Count::Exact(12));
        assert_eq!(work.waiting, Count::Few);
        assert_eq!(codec::encode(&r), seed);
    }

    #[test]
    fn damaged_and_oversized_reports_do_not_decode() {
        let bytes = codec::encode(&report(vec![row(FieldOfAction::Work, 9, 5)]));
        for cut in 0..bytes.len() {
            assert!(
                codec::decode::<StatisticsReport>("report", &bytes[..cut], MAX_REPORT_BYTES)
                    .is_err(),
                "cut at {cut}"
            );
        }
        let big = vec![1u8; MAX_REPORT_BYTES + 1];
        assert!(codec::decode::<StatisticsReport>("report", &big, MAX_REPORT_BYTES).is_err());
    }
}
