//! Fuzz target: decoding and checking an agency's statistics report (what the KI does with
//! every `report_statistics` request) must never panic, and a report that passes the check
//! carries no count from 1 to 4.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lotse_protocol::codec;
use lotse_protocol::statistics::{Count, MAX_REPORT_BYTES, MIN_COUNT, StatisticsReport};

fuzz_target!(|data: &[u8]| {
    let Ok(report) = codec::decode::<StatisticsReport>("statistics report", data, MAX_REPORT_BYTES)
    else {
        return;
    };
    if report.check().is_ok() {
        for row in report.years.iter().flat_map(|y| &y.fields) {
            for (_, count) in row.counts() {
                if let Count::Exact(n) = count {
                    assert!(n == 0 || n >= MIN_COUNT);
                }
            }
        }
    }
});
