//! The per-request context: headers in, the core's decision out.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::host::{self, Metrics};
use crate::authenticator::{authenticate, Decision, Request};
use crate::config::Config;
use crate::verify::RingVerifier;

/// What every request context of one root shares.
pub(super) struct Shared {
    pub config: Config,
    pub metrics: Metrics,
}

pub(super) struct Filter {
    shared: Rc<Shared>,
}

impl Filter {
    pub fn new(shared: Rc<Shared>) -> Self {
        Self { shared }
    }
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(headers) = host::request_headers() else {
            host::send_internal_error();
            return Action::Pause;
        };
        let outcome = authenticate(
            &self.shared.config,
            Request { headers: &headers },
            host::now(),
            &RingVerifier,
        );
        self.shared.metrics.count(&outcome);
        match outcome.decision {
            Decision::Allow { header_ops, path } => {
                host::apply(&header_ops, path.as_deref());
                Action::Continue
            }
            Decision::Deny(denial) => {
                host::send_denial(&denial);
                Action::Pause
            }
        }
    }
}
