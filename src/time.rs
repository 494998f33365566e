//! Time as a value: the core never reads a clock, callers pass `now`.

use std::fmt;

/// Seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, Hash)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// Seconds since the epoch.
    pub const fn seconds(self) -> u64 {
        self.0
    }

    /// `self + seconds`, saturating at the end of time.
    pub const fn saturating_add(self, seconds: u64) -> Self {
        Self(self.0.saturating_add(seconds))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
