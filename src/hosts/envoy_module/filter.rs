//! One request in the native module: Envoy's header views in, the core's decision out, as the
//! .wasm does it (`hosts::proxy_wasm::http`), without copying a header.

use std::cell::OnceCell;
use std::sync::Arc;

use super::abi::{self, FilterSchedulerPtr, HeaderScratch, LogLevel, Stream};
use super::gate::{now, Gate, STORE};
use crate::authenticator::binding::{Downstream, Sender};
use crate::authenticator::{authenticate_with, Decision, Denial, HeaderOp, Outcome, Request};
use crate::hosts::common::{self, TOKEN_CACHE_HIT, TOKEN_CACHE_MISS};
use crate::time::Time;

/// What a request-headers hook returns (`envoy_dynamic_module_type_on_http_filter_request_headers_status`).
pub const HEADERS_CONTINUE: u32 = 0;
pub const HEADERS_STOP_ITERATION: u32 = 1;
pub const HEADERS_STOP_ALL_ITERATION_AND_WATERMARK: u32 = 4;

/// How many times a request that decided to wait decides again because the keys changed in
/// between, before it is held anyway (its deadline still bounds the wait).
const REDECIDE: usize = 3;

/// One stream's filter.
pub struct Filter {
    gate: Arc<Gate>,
    id: u64,
    /// Created at the first hold, deleted with the filter.
    scheduler: FilterSchedulerPtr,
    /// Whether the request was ever held (only then is it looked up in the held requests).
    was_held: bool,
}

/// Where the header phase goes next.
#[derive(Clone, Copy, Eq, PartialEq)]
pub enum Flow {
    Continue,
    /// Answered locally.
    Answered,
    Held,
}

impl Filter {
    pub fn new(gate: Arc<Gate>) -> Self {
        let id = gate.next_request_id();
        Self {
            gate,
            id,
            scheduler: std::ptr::null_mut(),
            was_held: false,
        }
    }

    /// Decides the request: applies the header changes, answers it, or holds it. A request held
    /// before carries its first deadline (`held_until`).
    pub fn decide(&mut self, stream: Stream, held_until: Option<Time>) -> Flow {
        for attempt in 0..=REDECIDE {
            let mut scratch = HeaderScratch::new();
            let Some(headers) = stream.request_headers(&mut scratch) else {
                abi::log(LogLevel::Error, "jwt-gate: cannot read the request headers");
                stream.send_response(500, &[], &[], "jwt_gate_internal_error");
                return Flow::Answered;
            };
            let now = now();
            let gate = &*self.gate;
            let connection = Connection {
                stream,
                tls: OnceCell::new(),
                certificate: OnceCell::new(),
            };
            let (outcome, generation) = {
                let (keys, generation) = gate.keys();
                let mut cache = gate.cache(stream.worker_index());
                let outcome = authenticate_with(
                    &gate.config,
                    Request { headers },
                    now,
                    &keys.view(now, held_until),
                    &gate.verifier,
                    &mut cache,
                    Sender {
                        downstream: &connection,
                        replay_store: &*STORE,
                    },
                );
                let counts = cache.take_counts();
                add(gate, stream, TOKEN_CACHE_HIT, counts.hits);
                add(gate, stream, TOKEN_CACHE_MISS, counts.misses);
                (outcome, generation)
            };
            // The header views are not read past this point: from now on the map may change.
            count(gate, stream, &outcome);
            match outcome.decision {
                Decision::Allow { header_ops, path } => {
                    apply(stream, &header_ops, path.as_deref());
                    return Flow::Continue;
                }
                Decision::Deny(denial) => {
                    gate.log_replay_refusal(&denial.error, now);
                    send_denial(stream, &denial);
                    return Flow::Answered;
                }
                Decision::Wait(wait) => {
                    if self.scheduler.is_null() {
                        self.scheduler = stream.new_scheduler();
                    }
                    let generation = (attempt < REDECIDE).then_some(generation);
                    if gate.hold(self.id, self.scheduler, wait, generation, now, held_until) {
                        self.was_held = true;
                        return Flow::Held;
                    }
                }
            }
        }
        Flow::Held
    }

    /// Whether the request waits for keys (its body and trailers wait too).
    pub fn is_held(&self) -> bool {
        self.was_held && self.gate.is_held(self.id)
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        // First out of the held requests (under the lock the main thread commits under), then the
        // scheduler can go.
        if self.was_held {
            self.gate.forget(self.id);
        }
        if !self.scheduler.is_null() {
            // SAFETY: created by `new_scheduler` for this stream, no longer in `Gate::held`, so
            // nothing commits it any more; deleted once.
            unsafe { abi::delete_filter_scheduler(self.scheduler) }
        }
    }
}

/// The request's downstream connection, read from Envoy's attributes when a check asks.
struct Connection {
    stream: Stream,
    tls: OnceCell<bool>,
    certificate: OnceCell<Option<[u8; 32]>>,
}

impl Downstream for Connection {
    fn is_tls(&self) -> bool {
        *self.tls.get_or_init(|| self.stream.is_tls())
    }

    fn client_certificate_sha256(&self) -> Option<[u8; 32]> {
        *self
            .certificate
            .get_or_init(|| self.stream.peer_certificate_sha256())
    }
}

fn add(gate: &Gate, stream: Stream, counter: usize, count: u64) {
    if count > 0 {
        if let Some(Some(id)) = gate.counters.get(counter) {
            stream.increment_counter(*id, count);
        }
    }
}

fn count(gate: &Gate, stream: Stream, outcome: &Outcome) {
    for counter in common::counted(outcome) {
        add(gate, stream, counter, 1);
    }
    gate.flush_pending(stream);
    if matches!(outcome.decision, Decision::Deny(_)) && abi::log_enabled(LogLevel::Debug) {
        if let Some(line) = common::denial_detail(outcome) {
            abi::log(LogLevel::Debug, &line);
        }
    }
}

fn apply(stream: Stream, ops: &[HeaderOp], path: Option<&[u8]>) {
    for op in ops {
        match op {
            HeaderOp::Remove(name) => stream.remove_request_header(name),
            HeaderOp::Add(name, value) => stream.add_request_header(name, value),
            HeaderOp::Set(name, value) => stream.set_request_header(name, value),
        }
    }
    if let Some(path) = path {
        stream.set_request_header(":path", path);
    }
}

fn send_denial(stream: Stream, denial: &Denial) {
    let challenge = denial
        .www_authenticate
        .as_deref()
        .map(|value| ("www-authenticate", value));
    // Envoy gives a local reply with a body `text/plain` itself: only another type is named.
    let content_type = (!denial.body.is_empty() && denial.content_type != "text/plain")
        .then_some(("content-type", denial.content_type));
    let (headers, count) = match (challenge, content_type) {
        (Some(a), Some(b)) => ([a, b], 2),
        (Some(only), None) | (None, Some(only)) => ([only, only], 1),
        (None, None) => ([("", ""); 2], 0),
    };
    stream.send_response(
        denial.status,
        headers.get(..count).unwrap_or_default(),
        denial.body.as_bytes(),
        "jwt_gate_denied",
    );
}

/// The status of the request-headers hook for a flow.
pub fn headers_status(flow: Flow) -> u32 {
    match flow {
        Flow::Continue => HEADERS_CONTINUE,
        Flow::Answered => HEADERS_STOP_ITERATION,
        Flow::Held => HEADERS_STOP_ALL_ITERATION_AND_WATERMARK,
    }
}
