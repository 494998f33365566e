//! Time as a value: the core never reads a clock, callers pass `now`, read once per host callback.
//!
//! One type, [`Time`], in milliseconds since the Unix epoch: token checks read it in whole seconds
//! (as `exp` and `nbf` count), the key cache in milliseconds (so jwt_authn's `"0.01s"` keeps its
//! meaning). Durations are [`std::time::Duration`]. A clock that cannot be read is
//! [`Time::END`], the end of time in both units: every token with an `exp` is then expired and
//! every key set stale, so a broken clock fails closed.

use std::time::Duration;

/// A moment: milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, Eq, Ord, PartialEq, PartialOrd, Hash)]
pub struct Time(u64);

impl Time {
    /// The epoch; in the key cache's records, "never".
    pub const EPOCH: Self = Self(0);

    /// The end of time: what a host passes when its clock cannot be read.
    pub const END: Self = Self(u64::MAX);

    /// `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// `seconds` whole seconds after the epoch (saturating at the end of time).
    pub const fn from_seconds(seconds: u64) -> Self {
        Self(seconds.saturating_mul(1000))
    }

    /// The moment `since_epoch` after the epoch, to the millisecond (rounded down).
    pub fn from_since_epoch(since_epoch: Duration) -> Self {
        Self(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down); the end of time stays the end of time.
    pub const fn seconds(self) -> u64 {
        if self.0 == u64::MAX {
            u64::MAX
        } else {
            self.0 / 1000
        }
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
    fn milliseconds_and_seconds() {
        assert_eq!(millis(Duration::from_millis(10)), 10);
        assert_eq!(millis(Duration::from_nanos(1)), 1, "rounded up");
        assert_eq!(millis(Duration::from_nanos(1_000_001)), 2);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        let t = Time::from_millis(1_500);
        assert_eq!(t.seconds(), 1);
        assert_eq!(Time::from_seconds(2).millis(), 2_000);
        assert_eq!(Time::from_seconds(u64::MAX), Time::END);
        assert_eq!(
            Time::END.seconds(),
            u64::MAX,
            "the end of time in seconds too"
        );
        assert_eq!(
            t.saturating_add(Duration::from_millis(10)),
            Time::from_millis(1_510)
        );
        assert_eq!(t.saturating_sub(Duration::from_secs(2)), Time::EPOCH);
        assert_eq!(Time::END.saturating_add(Duration::MAX), Time::END);
        assert_eq!(
            t.since(Time::from_millis(1_000)),
            Duration::from_millis(500)
        );
        assert_eq!(Time::from_millis(1_000).since(t), Duration::ZERO);
        assert_eq!(
            Time::from_since_epoch(Duration::from_micros(1_234_567)),
            Time::from_millis(1_234)
        );
    }
}
