//! `envoy --mode validate` on what `jwt-gate check --envoy` found: Envoy parses the whole
//! bootstrap with its own schemas and creates every filter, so the jwt-gate module runs its
//! `on_configure` on each configuration (a rejection is logged as `jwt-gate: configuration
//! rejected: ...`). Validation opens no listener, sends no upstream traffic and skips the hot
//! restart, so it runs beside a serving Envoy; it reads the files the configuration names
//! (envoyproxy/envoy#863, which added `--mode validate`).

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::classify::{is_jwt_gate_wasm, WASM_TYPE};

/// How long one validation may take (V8 compiles the module: seconds, not minutes).
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of Envoy's output is read.
const LOG_LIMIT: u64 = 4 << 20;
/// The lines of Envoy's log shown when jwt-gate itself logged no rejection.
const LOG_TAIL_LINES: usize = 15;
const REJECTED: &str = "jwt-gate: configuration rejected: ";
const CONFIGURED: &str = "jwt-gate: configured";

/// An Envoy binary and the jwt-gate module it loads.
pub struct Envoy {
    pub binary: PathBuf,
    /// Absolute: Envoy runs in the current directory, bootstraps are written elsewhere.
    pub wasm: PathBuf,
}

/// What Envoy said.
pub struct Verdict {
    pub accepted: bool,
    log: String,
}

impl Verdict {
    /// Whether jwt-gate's `on_configure` accepted a configuration (Envoy logs it per VM).
    pub fn configured_jwt_gate(&self) -> bool {
        self.log.contains(CONFIGURED)
    }

    /// jwt-gate's own rejections, or else the end of Envoy's log (without the list of
    /// extensions Envoy prints at start).
    pub fn summary(&self) -> String {
        let mut rejections: Vec<&str> = self
            .log
            .lines()
            .filter_map(|line| line.split_once(REJECTED).map(|(_, why)| why))
            .collect();
        rejections.sort_unstable();
        rejections.dedup();
        if !rejections.is_empty() {
            return rejections
                .iter()
                .map(|why| format!("{REJECTED}{why}"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        let kept: Vec<&str> = self.log.lines().filter(|l| !l.contains("]   ")).collect();
        kept.get(kept.len().saturating_sub(LOG_TAIL_LINES)..)
            .unwrap_or_default()
            .iter()
            .map(|line| tidy(line))
            .collect::<Vec<_>>()
            .join("\n")
            .trim_end()
            .to_owned()
    }
}

/// An Envoy log line without its time, process id and source location:
/// `[critical][main] error initializing configuration ...`.
fn tidy(line: &str) -> String {
    let mut groups = Vec::new();
    let mut rest = line;
    while let Some(group) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        groups.push(group.0);
        rest = group.1;
    }
    let Some(kept) = groups
        .get(2..)
        .filter(|g| groups.len() >= 4 && !g.is_empty())
    else {
        return line.to_owned();
    };
    let rest = rest.trim_start();
    let rest = match rest
        .strip_prefix("[source/")
        .and_then(|r| r.split_once("] "))
    {
        Some((_, message)) => message,
        None => rest,
    };
    let kept: String = kept.iter().map(|g| format!("[{g}]")).collect();
    format!("{kept} {}", rest.trim_end())
}

impl Envoy {
    /// `envoy --mode validate` on `bootstrap`, written to a new temporary directory.
    pub fn validate(&self, bootstrap: &Value) -> Verdict {
        match self.try_validate(bootstrap) {
            Ok(verdict) => verdict,
            Err(error) => Verdict {
                accepted: false,
                log: format!("cannot run {}: {error}", self.binary.display()),
            },
        }
    }

    fn try_validate(&self, bootstrap: &Value) -> std::io::Result<Verdict> {
        let directory = TemporaryDirectory::new()?;
        let config = directory.0.join("bootstrap.json");
        fs::write(&config, serde_json::to_vec(bootstrap)?)?;
        let log_path = directory.0.join("envoy.log");
        let log = fs::File::create(&log_path)?;
        let mut child = Command::new(&self.binary)
            .args(["--mode", "validate", "--log-level", "info", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() > VALIDATE_TIMEOUT {
                child.kill()?;
                child.wait()?;
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut bytes = Vec::new();
        fs::File::open(&log_path)?
            .take(LOG_LIMIT)
            .read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Ok(match status {
            Some(status) => Verdict {
                accepted: status.success(),
                log: text,
            },
            None => Verdict {
                accepted: false,
                log: format!(
                    "{text}\nenvoy --mode validate did not finish in {} s",
                    VALIDATE_TIMEOUT.as_secs()
                ),
            },
        })
    }

    /// A bootstrap with one listener per configuration (in a jwt-gate filter loading our
    /// module) and per `http_filters` list, `listeners` as they are, and `clusters`. The
    /// listeners are on 127.0.0.1, port 0: validation binds nothing anyway.
    pub fn check_bootstrap(
        &self,
        configurations: &[&str],
        chains: &[&[Value]],
        listeners: &[&Value],
        clusters: &[&Value],
    ) -> Value {
        let mut all = Vec::new();
        for (index, configuration) in configurations.iter().enumerate() {
            all.push(listener(
                &format!("jwt_gate_check_configuration_{index}"),
                vec![self.jwt_gate_filter(configuration)],
            ));
        }
        for (index, chain) in chains.iter().enumerate() {
            let chain = chain.iter().map(|f| self.with_our_module(f).0).collect();
            all.push(listener(
                &format!("jwt_gate_check_http_filters_{index}"),
                chain,
            ));
        }
        all.extend(listeners.iter().map(|l| self.with_our_module(l).0));
        json!({
            "admin": {"address": localhost()},
            "static_resources": {"listeners": all, "clusters": clusters},
        })
    }

    /// `node` with the local code file of every jwt-gate wasm filter pointed at our module, and
    /// whether there was one (the filter then must log that it was configured).
    pub fn with_our_module(&self, node: &Value) -> (Value, bool) {
        let mut node = node.clone();
        let mut replaced = false;
        self.replace_module(&mut node, None, &mut replaced);
        (node, replaced)
    }

    fn replace_module(&self, node: &mut Value, entry_name: Option<&str>, replaced: &mut bool) {
        match node {
            Value::Object(object) => {
                if object.get("@type").and_then(Value::as_str) == Some(WASM_TYPE) {
                    let ours = is_jwt_gate_wasm(&Value::Object(object.clone()), entry_name);
                    let filename = object
                        .get_mut("config")
                        .and_then(|c| c.pointer_mut("/vm_config/code/local/filename"));
                    if let Some(filename) = filename.filter(|_| ours) {
                        *filename = json!(self.wasm);
                        *replaced = true;
                    }
                    return;
                }
                let name = object
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                for (key, value) in object.iter_mut() {
                    let entry_name = name.as_deref().filter(|_| key == "typed_config");
                    self.replace_module(value, entry_name, replaced);
                }
            }
            Value::Array(list) => {
                for value in list {
                    self.replace_module(value, None, replaced);
                }
            }
            _ => {}
        }
    }

    /// The filter `jwt-gate envoy-config` writes, with `configuration`.
    fn jwt_gate_filter(&self, configuration: &str) -> Value {
        crate::cli::wasm_filter(configuration, &self.wasm.to_string_lossy())
    }
}

fn localhost() -> Value {
    json!({"socket_address": {"address": "127.0.0.1", "port_value": 0}})
}

/// A listener running `http_filters` (and the router, if they do not end with one) in front of
/// a route that answers 200 itself.
fn listener(name: &str, mut http_filters: Vec<Value>) -> Value {
    let has_router = http_filters
        .iter()
        .any(|f| f.get("name").and_then(Value::as_str) == Some("envoy.filters.http.router"));
    if !has_router {
        http_filters.push(json!({
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
        }));
    }
    json!({
        "name": name,
        "address": localhost(),
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "route_config": {"virtual_hosts": [{
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}],
                }]},
                "http_filters": http_filters,
            },
        }]}],
    })
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TemporaryDirectory(PathBuf);

impl TemporaryDirectory {
    fn new() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0..100 {
            let path = base.join(format!(
                "jwt-gate-check-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free temporary directory name"))
    }
}

impl Drop for TemporaryDirectory {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `path` made absolute against the current directory.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envoy() -> Envoy {
        Envoy {
            binary: PathBuf::from("/nonexistent/envoy"),
            wasm: PathBuf::from("/built/jwt_gate.wasm"),
        }
    }

    #[test]
    fn only_jwt_gates_local_module_is_replaced() {
        let filter = |root_id: &str, code: Value| {
            json!({"name": "f", "typed_config": {"@type": WASM_TYPE, "config": {
                "root_id": root_id, "vm_config": {"code": code}}}})
        };
        let chain = json!([
            filter(
                "jwt_gate",
                json!({"local": {"filename": "/etc/envoy/jwt_gate.wasm"}})
            ),
            filter(
                "other",
                json!({"local": {"filename": "/etc/envoy/other.wasm"}})
            ),
            filter(
                "jwt_gate",
                json!({"remote": {"http_uri": {"uri": "https://x/jwt_gate.wasm"}}})
            ),
        ]);
        let (replaced, any) = envoy().with_our_module(&chain);
        assert!(any);
        let code = |i: usize| replaced[i]["typed_config"]["config"]["vm_config"]["code"].clone();
        assert_eq!(
            code(0),
            json!({"local": {"filename": "/built/jwt_gate.wasm"}})
        );
        assert_eq!(
            code(1),
            json!({"local": {"filename": "/etc/envoy/other.wasm"}})
        );
        assert_eq!(
            code(2),
            chain[2]["typed_config"]["config"]["vm_config"]["code"]
        );
        assert!(!envoy().with_our_module(&chain[1]).1);
    }

    #[test]
    fn the_check_bootstrap_has_a_listener_per_configuration_and_chain() {
        let chain = [json!({"name": "envoy.filters.http.router"})];
        let cluster = json!({"name": "c"});
        let bootstrap = envoy().check_bootstrap(&["{}", "{\"a\": 1}"], &[&chain], &[], &[&cluster]);
        let listeners = bootstrap["static_resources"]["listeners"]
            .as_array()
            .unwrap();
        assert_eq!(listeners.len(), 3);
        let filters = |i: usize| {
            listeners[i]["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"].clone()
        };
        assert_eq!(
            filters(1)[0]["typed_config"]["config"]["configuration"]["value"],
            "{\"a\": 1}"
        );
        assert_eq!(filters(1)[1]["name"], "envoy.filters.http.router");
        assert_eq!(
            filters(2).as_array().unwrap().len(),
            1,
            "a router is not added twice"
        );
        assert_eq!(bootstrap["static_resources"]["clusters"], json!([cluster]));
    }

    #[test]
    fn the_summary_is_jwt_gates_rejection_or_the_end_of_the_log() {
        let verdict = Verdict {
            accepted: false,
            log: "[info] a\n[critical][wasm] wasm log: jwt-gate: configuration rejected: providers: x\n\
                  [critical][wasm] wasm log: jwt-gate: configuration rejected: providers: x\n"
                .to_owned(),
        };
        assert_eq!(
            verdict.summary(),
            "jwt-gate: configuration rejected: providers: x"
        );
        let log: String = (0..40)
            .map(|i| format!("line {i}\n[info]   extension {i}\n"))
            .collect();
        let verdict = Verdict {
            accepted: false,
            log,
        };
        assert_eq!(verdict.summary().lines().count(), LOG_TAIL_LINES);
        assert!(verdict.summary().ends_with("line 39"));
        assert!(!verdict.configured_jwt_gate());
    }

    #[test]
    fn log_lines_lose_time_process_and_source() {
        assert_eq!(
            tidy("[2026-12-06 02:05:46.174][18481][critical][main] [source/server/server.cc:76] error initializing: x   "),
            "[critical][main] error initializing: x"
        );
        assert_eq!(tidy("seconds: -5"), "seconds: -5");
        assert_eq!(tidy("[a] b"), "[a] b");
    }

    #[test]
    fn an_envoy_that_cannot_run_is_a_refusal() {
        let verdict = envoy().validate(&json!({}));
        assert!(!verdict.accepted);
        assert!(verdict
            .summary()
            .starts_with("cannot run /nonexistent/envoy: "));
    }
}
