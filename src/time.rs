//! Time as a value: the core never reads a clock, callers pass `now`. Token checks count whole
//! seconds ([`UnixTime`], as `exp` and `nbf` do); the key cache counts milliseconds
//! ([`UnixMillis`]), so that jwt_authn's millisecond durations (`"0.01s"`) keep their meaning.

use std::fmt;
use std::time::Duration;

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

/// Milliseconds since the Unix epoch: the key cache's clock (fetch times, backoff, leases, hold
/// deadlines). `UnixMillis(0)` also stands for "never" in the key cache's records.
#[derive(Clone, Copy, Debug, Default, Eq, Ord, PartialEq, PartialOrd, Hash)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// Milliseconds since the epoch.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// The same moment in whole seconds (rounded down).
    pub const fn unix_time(self) -> UnixTime {
        UnixTime(self.0 / 1000)
    }

    /// `self + duration`, saturating at the end of time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(millis(duration)))
    }

    /// `self - duration`, saturating at the epoch.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(millis(duration)))
    }

    /// How long after `earlier` this is (zero if it is not after it).
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A duration in whole milliseconds, rounded up (a positive duration never becomes zero),
/// saturating.
pub fn millis(duration: Duration) -> u64 {
    let whole = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    whole.saturating_add(u64::from(duration.subsec_nanos() % 1_000_000 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds() {
        assert_eq!(millis(Duration::from_millis(10)), 10);
        assert_eq!(millis(Duration::from_nanos(1)), 1, "rounded up");
        assert_eq!(millis(Duration::from_nanos(1_000_001)), 2);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        let t = UnixMillis(1_500);
        assert_eq!(t.unix_time(), UnixTime(1));
        assert_eq!(
            t.saturating_add(Duration::from_millis(10)),
            UnixMillis(1_510)
        );
        assert_eq!(t.saturating_sub(Duration::from_secs(2)), UnixMillis(0));
        assert_eq!(
            UnixMillis(u64::MAX).saturating_add(Duration::MAX),
            UnixMillis(u64::MAX)
        );
        assert_eq!(t.since(UnixMillis(1_000)), Duration::from_millis(500));
        assert_eq!(UnixMillis(1_000).since(t), Duration::ZERO);
    }
}
