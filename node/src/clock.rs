//! The node's clock: the one place that reads the system time.
//!
//! An offset can be set (tests simulate clock skew between nodes with it); everything else
//! asks the clock, never `SystemTime` directly.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lotse_protocol::Timestamp;

/// Wall-clock time with an adjustable offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Now, in protocol time.
    pub fn now(&self) -> Timestamp {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(
            real.saturating_add(self.offset_ms.load(Ordering::Relaxed))
                .max(0) as u64,
        )
    }

    /// Shifts this clock by `ms` (may be negative).
    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::Relaxed);
    }
}
