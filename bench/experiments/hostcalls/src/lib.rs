//! Experiment: what each hostcall costs per request in Envoy. The plugin configuration's
//! `"ops"` (a list of strings, each optionally `*N` to repeat) says what the filter does in
//! `on_http_request_headers`; the rest of the configuration is ignored.
#![allow(clippy::all)]

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { ops: Rc::new(Vec::new()), metric: 0, verify: Rc::new(Vec::new()) }) });
}}

#[derive(Clone)]
enum Op {
    Map,
    Header(String),
    Time,
    Metric(u32),
    Add(String),
    Remove(String),
    Deny,
    Deny0,
    Alloc(usize),
    /// `verify_signature` with the `VerifySignatureArguments` the configuration's `verify` holds
    /// (hex), as jwt-gate calls it for a new token.
    Verify,
}

struct Root {
    ops: Rc<Vec<Op>>,
    metric: u32,
    verify: Rc<Vec<u8>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        self.metric = hostcalls::define_metric(MetricType::Counter, "exp.counter").unwrap_or(0);
        let hex = json["verify"].as_str().unwrap_or("");
        self.verify = Rc::new((0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0)).collect());
        let mut ops = Vec::new();
        for spec in json["ops"].as_array().cloned().unwrap_or_default() {
            let spec = spec.as_str().unwrap_or("").to_owned();
            let (spec, n) = match spec.split_once('*') {
                Some((s, n)) => (s.to_owned(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            };
            let (kind, arg) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
            let op = match kind {
                "map" => Op::Map,
                "header" => Op::Header(arg.to_owned()),
                "time" => Op::Time,
                "metric" => Op::Metric(self.metric),
                "add" => Op::Add(arg.to_owned()),
                "remove" => Op::Remove(arg.to_owned()),
                "deny" => Op::Deny,
                "deny0" => Op::Deny0,
                "alloc" => Op::Alloc(arg.parse().unwrap_or(100)),
                "verify" => Op::Verify,
                _ => continue,
            };
            for _ in 0..n {
                ops.push(op.clone());
            }
        }
        self.ops = Rc::new(ops);
        true
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter { ops: self.ops.clone(), verify: self.verify.clone() }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    ops: Rc<Vec<Op>>,
    verify: Rc<Vec<u8>>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _: usize, _: bool) -> Action {
        let mut sink = 0usize;
        for op in self.ops.iter() {
            match op {
                Op::Map => sink += hostcalls::get_map_bytes(MapType::HttpRequestHeaders).map(|m| m.len()).unwrap_or(0),
                Op::Header(name) => {
                    sink += hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
                        .ok()
                        .flatten()
                        .map(|v| v.len())
                        .unwrap_or(0)
                }
                Op::Time => sink += hostcalls::get_current_time().map(|t| t.elapsed().is_ok() as usize).unwrap_or(0),
                Op::Metric(id) => {
                    let _ = hostcalls::increment_metric(*id, 1);
                }
                Op::Add(name) => {
                    let _ = hostcalls::add_map_value_bytes(MapType::HttpRequestHeaders, name, b"value");
                }
                Op::Remove(name) => {
                    let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name);
                }
                Op::Deny => {
                    let _ = hostcalls::send_http_response(
                        401,
                        vec![("www-authenticate", "Bearer realm=\"http://127.0.0.1/\""), ("content-type", "text/plain")],
                        Some(b"Jwt is missing"),
                    );
                    return Action::Pause;
                }
                Op::Deny0 => {
                    let _ = hostcalls::send_http_response(401, vec![], None);
                    return Action::Pause;
                }
                Op::Verify => {
                    let result = hostcalls::call_foreign_function("verify_signature", Some(&self.verify));
                    // VerifySignatureResult { result: true } starts 0x08 0x01.
                    if !matches!(result, Ok(Some(ref r)) if r.starts_with(&[0x08, 0x01])) {
                        return Action::Pause;
                    }
                }
                Op::Alloc(n) => {
                    let v = vec![1u8; *n];
                    sink += std::hint::black_box(v).len();
                }
            }
        }
        std::hint::black_box(sink);
        Action::Continue
    }
}
