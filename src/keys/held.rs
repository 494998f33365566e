//! Requests held while a provider's keys are on their way: per instance, each with the deadline
//! by which it is decided again whatever happens. The fetcher releases them; the host resumes
//! them (decides each again, then lets it through or answers it).

use crate::keys::access::Wait;
use crate::time::Time;

/// The host's name for a request (proxy-wasm: its context id).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct RequestId(pub u64);

/// A held request to decide again now: its provider's keys arrived, a fetch failed, or its
/// deadline passed.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Released {
    /// The request.
    pub request: RequestId,
    /// Its deadline: deciding it again, it may be held for another provider until then, not
    /// longer (pass it as `held_until`).
    pub held_until: Time,
}

/// The requests one instance holds, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct HeldRequests {
    held: Vec<Held>,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    request: RequestId,
    wait: Wait,
    deadline: Time,
}

impl HeldRequests {
    pub(crate) fn len(&self) -> usize {
        self.held.len()
    }

    pub(crate) fn hold(&mut self, request: RequestId, wait: Wait, deadline: Time) {
        self.held.push(Held {
            request,
            wait,
            deadline,
        });
    }

    pub(crate) fn contains(&self, request: RequestId) -> bool {
        self.held.iter().any(|held| held.request == request)
    }

    pub(crate) fn forget(&mut self, request: RequestId) {
        self.held.retain(|held| held.request != request);
    }

    /// Takes out the requests whose deadline is `now` or past, or whose provider `changed`.
    pub(crate) fn release(&mut self, now: Time, changed: impl Fn(usize) -> bool) -> Vec<Released> {
        let (due, waiting): (Vec<Held>, Vec<Held>) = self
            .held
            .drain(..)
            .partition(|held| held.deadline <= now || changed(held.wait.provider()));
        self.held = waiting;
        due.into_iter()
            .map(|held| Released {
                request: held.request,
                held_until: held.deadline,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_by_change_or_deadline_in_arrival_order() {
        let mut held = HeldRequests::default();
        let at = Time::from_millis;
        held.hold(RequestId(1), Wait::Keys(0), at(100));
        held.hold(RequestId(2), Wait::KidRefetch(1), at(100));
        held.hold(RequestId(3), Wait::Keys(0), at(50));
        held.hold(RequestId(4), Wait::Keys(2), at(200));
        assert!(held.release(at(49), |_| false).is_empty());
        let released = held.release(at(50), |provider| provider == 1);
        let ids: Vec<_> = released.iter().map(|r| r.request.0).collect();
        assert_eq!(ids, [2, 3]);
        assert_eq!(released[1].held_until, at(50));
        held.forget(RequestId(4));
        assert!(!held.contains(RequestId(4)) && held.contains(RequestId(1)));
        assert_eq!(held.len(), 1);
    }
}
