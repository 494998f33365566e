//! The per-request context: headers in, the core's decision out. A request that must wait for
//! keys is held by the key fetcher and decided again by the root context when it is released.

use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel};

use super::host::{self, Metrics, ProviderMetrics};
use super::keys::{KeyHostCalls, SharedData};
use crate::authenticator::binding::{sha256_from_hex, Downstream, Sender};
use crate::authenticator::token_cache::TokenCache;
use crate::authenticator::{authenticate_with, Decision, Request};
use crate::config::Config;
use crate::hosts::common;
use crate::keys::fetcher::KeyFetcher;
use crate::keys::held::RequestId;
use crate::time::Time;
use crate::verify::SignatureVerifier;

/// What every request context of one root shares.
pub(super) struct Shared {
    pub config: Config,
    pub verifier: Box<dyn SignatureVerifier>,
    pub cache: RefCell<TokenCache>,
    pub metrics: Metrics,
    pub provider_metrics: Vec<Option<ProviderMetrics>>,
    pub keys: RefCell<KeyFetcher>,
    /// When this VM last logged that the DPoP replay cache refused a proof.
    pub replay_logged: Cell<Option<Time>>,
}

impl Shared {
    /// The hostcalls the key fetcher uses, for one callback.
    pub fn key_host(&self) -> KeyHostCalls<'_> {
        KeyHostCalls {
            metrics: &self.metrics,
            provider_metrics: &self.provider_metrics,
        }
    }
}

/// Where a request's header phase goes next.
#[derive(Clone, Copy, Eq, PartialEq)]
pub(super) enum Flow {
    /// Let it through.
    Continue,
    /// Answered locally, or held.
    Stop,
}

/// Decides the current request (the effective context): apply, deny, or hold it. A request
/// that was held carries its first deadline: it may be held again (for another provider's keys)
/// only until then.
pub(super) fn decide(shared: &Shared, context_id: u32, held_until: Option<Time>) -> Flow {
    let Some(headers) = host::request_headers() else {
        host::send_internal_error();
        return Flow::Stop;
    };
    let now = host::now();
    let connection = Connection::default();
    let outcome = {
        let keys = shared.keys.borrow();
        authenticate_with(
            &shared.config,
            Request {
                headers: &crate::request::borrow_headers(&headers),
            },
            now,
            &keys.view(now, held_until),
            shared.verifier.as_ref(),
            &mut shared.cache.borrow_mut(),
            Sender {
                downstream: &connection,
                replay_store: &SharedData,
            },
        )
    };
    shared.metrics.count(&outcome);
    if let Decision::Deny(denial) = &outcome.decision {
        let mut last = shared.replay_logged.get();
        if let Some(warning) =
            common::replay_cache_warning(&shared.config, &denial.error, now, &mut last)
        {
            shared.replay_logged.set(last);
            host::log(LogLevel::Warn, &warning);
        }
    }
    if let Some(line) = common::denial_detail(&outcome) {
        host::log(LogLevel::Debug, &line);
    }
    shared
        .metrics
        .count_cache(shared.cache.borrow_mut().take_counts());
    match outcome.decision {
        Decision::Allow { header_ops, path } => {
            host::apply(&header_ops, path.as_deref());
            Flow::Continue
        }
        Decision::Deny(denial) => {
            host::send_denial(&denial);
            Flow::Stop
        }
        Decision::Wait(wait) => {
            let request = RequestId(u64::from(context_id));
            shared
                .keys
                .borrow_mut()
                .hold(&mut shared.key_host(), request, wait, now, held_until);
            Flow::Stop
        }
    }
}

/// The request's downstream connection, read from Envoy's attributes when a check asks.
#[derive(Default)]
struct Connection {
    tls: OnceCell<bool>,
    certificate: OnceCell<Option<[u8; 32]>>,
}

impl Downstream for Connection {
    fn is_tls(&self) -> bool {
        *self
            .tls
            .get_or_init(|| host::property(&["connection", "tls_version"]).is_some())
    }

    fn client_certificate_sha256(&self) -> Option<[u8; 32]> {
        *self.certificate.get_or_init(|| {
            host::property(&["connection", "sha256_peer_certificate_digest"])
                .and_then(|hex| sha256_from_hex(&hex))
        })
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
        if let Ok(mut keys) = self.shared.keys.try_borrow_mut() {
            keys.forget(RequestId(u64::from(self.context_id)));
        }
    }
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match decide(&self.shared, self.context_id, None) {
            Flow::Continue => Action::Continue,
            Flow::Stop => Action::Pause,
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
        let request = RequestId(u64::from(self.context_id));
        if self.shared.keys.borrow().is_held(request) {
            Action::Pause
        } else {
            Action::Continue
        }
    }
}
