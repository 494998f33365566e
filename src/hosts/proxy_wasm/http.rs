//! The per-request context: headers in, the core's decision out. Requests that must wait for
//! keys are held here and finished by the root context when the keys arrive.

use std::cell::RefCell;
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::host::{self, Metrics, ProviderMetrics};
use super::keys::KeyCache;
use crate::authenticator::token_cache::TokenCache;
use crate::authenticator::{authenticate, Decision, Request, Wait};
use crate::config::Config;
use crate::time::Time;
use crate::verify::SignatureVerifier;

/// What every request context of one root shares.
pub(super) struct Shared {
    pub config: Config,
    pub verifier: Box<dyn SignatureVerifier>,
    pub cache: RefCell<TokenCache>,
    pub metrics: Metrics,
    pub provider_metrics: Vec<Option<ProviderMetrics>>,
    pub keys: RefCell<KeyCache>,
    pub held: RefCell<Vec<Held>>,
}

/// A request waiting for a provider's keys.
pub(super) struct Held {
    pub context_id: u32,
    pub wait: Wait,
    pub deadline: Time,
}

impl Held {
    pub fn provider(&self) -> usize {
        match self.wait {
            Wait::Keys(provider) | Wait::KidRefetch(provider) => provider,
        }
    }
}

/// What became of a request.
#[derive(Clone, Copy, Eq, PartialEq)]
pub(super) enum Step {
    /// Let it through.
    Continue,
    /// Answered locally, or held.
    Stop,
}

/// Decides the current request (the effective context): apply, deny, or hold it. A request
/// that was held carries its first deadline: it may be held again (for another provider's keys)
/// only until then.
pub(super) fn decide(shared: &Shared, context_id: u32, held_until: Option<Time>) -> Step {
    let Some(headers) = host::request_headers() else {
        host::send_internal_error();
        return Step::Stop;
    };
    let now = host::now();
    let may_wait = held_until.is_none_or(|deadline| now < deadline)
        && shared.held.borrow().len() < shared.config.limits.max_held_requests;
    let outcome = {
        let keys = shared.keys.borrow();
        let view = keys.view(now, may_wait);
        authenticate(
            &shared.config,
            Request { headers: &headers },
            now,
            &view,
            shared.verifier.as_ref(),
            &mut shared.cache.borrow_mut(),
        )
    };
    shared.metrics.count(&outcome);
    shared
        .metrics
        .count_cache(shared.cache.borrow_mut().take_counts());
    match outcome.decision {
        Decision::Allow { header_ops, path } => {
            host::apply(&header_ops, path.as_deref());
            Step::Continue
        }
        Decision::Deny(denial) => {
            host::send_denial(&denial);
            Step::Stop
        }
        Decision::Wait(wait) => {
            let provider = match wait {
                Wait::Keys(provider) => provider,
                Wait::KidRefetch(provider) => {
                    shared.keys.borrow_mut().request_refetch(provider, now);
                    provider
                }
            };
            let deadline =
                held_until.unwrap_or_else(|| shared.keys.borrow().hold_deadline(provider, now));
            shared.held.borrow_mut().push(Held {
                context_id,
                wait,
                deadline,
            });
            Step::Stop
        }
    }
}

pub(super) struct Filter {
    shared: Rc<Shared>,
    context_id: u32,
}

impl Filter {
    pub fn new(shared: Rc<Shared>, context_id: u32) -> Self {
        Self { shared, context_id }
    }
}

impl Context for Filter {}

// Cleanup on drop (the SDK drops the context at `proxy_on_delete`), not in `on_done`: the build
// does not export `proxy_on_done`, so Envoy need not call into the VM for it (tools/wasm-ld).
impl Drop for Filter {
    fn drop(&mut self) {
        let id = self.context_id;
        if let Ok(mut held) = self.shared.held.try_borrow_mut() {
            held.retain(|held| held.context_id != id);
        }
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match decide(&self.shared, self.context_id, None) {
            Step::Continue => Action::Continue,
            Step::Stop => Action::Pause,
        }
    }

    // While a request is held, its body and trailers wait too: with Envoy's
    // `allow_on_headers_stop_iteration` a paused header phase no longer stops the body, and a
    // body let through now would reach the upstream before the request is decided.
    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        self.hold_if_undecided()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.hold_if_undecided()
    }
}

impl Filter {
    fn hold_if_undecided(&self) -> Action {
        let id = self.context_id;
        if self
            .shared
            .held
            .borrow()
            .iter()
            .any(|held| held.context_id == id)
        {
            Action::Pause
        } else {
            Action::Continue
        }
    }
}
