//! `jwt-gate check FILE...`: every jwt-gate configuration in plugin configuration files, OpenAPI
//! documents, Envoy bootstraps and fragments, Kubernetes manifests and Markdown code blocks,
//! judged by the filter's own parser (`Config::from_json` on the bytes Envoy would hand it) and,
//! with `--envoy`, by `envoy --mode validate` with the module loaded. One finding per thing
//! found, checked or skipped, each naming its file, line and path.

mod classify;
mod documents;
mod envoy;

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::{json, Value};

use jwt_gate::config::Config;

use classify::{cluster_name, Item, Kind, Setting, What};
use documents::Document;
pub use documents::Format;
use envoy::{Envoy, Verdict};

/// What `check` was asked to do.
pub struct Options {
    /// `--format`: how to read files not named `.md` (otherwise by name: `.yaml`/`.yml` YAML,
    /// anything else JSON).
    pub format: Option<Format>,
    /// `--envoy` and `--wasm`: also validate in that Envoy, with that module.
    pub envoy: Option<(PathBuf, PathBuf)>,
    /// `--report json`.
    pub json_report: bool,
}

/// What `check` found.
pub enum Outcome {
    /// One file that is one plugin configuration: its bytes as the filter gets them (the
    /// command prints what the filter understood, or its rejection).
    OneConfiguration(Vec<u8>),
    /// The report, and whether anything failed.
    Report { text: String, failed: bool },
}

/// Checks `files` (`-` is standard input). An error is a file that cannot be read when it is
/// the only one.
pub fn run(files: &[String], options: &Options) -> Result<Outcome, String> {
    let mut check = Check {
        files: files.to_vec(),
        findings: Vec::new(),
        pieces: Vec::new(),
        envoy: options.envoy.as_ref().map(|(binary, wasm)| Envoy {
            binary: binary.clone(),
            wasm: envoy::absolute(wasm),
        }),
    };
    let mut loaded = Vec::new();
    for name in files {
        loaded.push(load(name, options.format));
    }
    if let [only] = loaded.as_slice() {
        let (format, contents) = only.as_ref().map_err(Clone::clone)?;
        if let ([document], None, false) = (
            contents.documents.as_slice(),
            &check.envoy,
            options.json_report,
        ) {
            if *format != Format::Markdown && is_configuration(document, Setting::File, *format) {
                return Ok(Outcome::OneConfiguration(document.bytes.clone()));
            }
        }
    }
    for (index, load) in loaded.iter().enumerate() {
        check.file(index, load);
    }
    if let Some(envoy) = check.envoy.take() {
        check.validate_in_envoy(&envoy);
    }
    let failed = check.findings.iter().any(|f| f.status == Status::Error);
    let text = if options.json_report {
        check.json_report()
    } else {
        check.text_report()
    };
    Ok(Outcome::Report { text, failed })
}

/// The largest file `check` reads: configurations, manifests and docs are kilobytes, and a CI
/// job may check files it does not trust.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// A file's format and documents.
fn load(name: &str, forced: Option<Format>) -> Result<(Format, documents::Contents), String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    let read = if name == "-" {
        std::io::stdin()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(name)
            .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
    };
    let shown = if name == "-" { "stdin" } else { name };
    read.map_err(|e| format!("{shown}: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("{shown}: larger than {} MiB", MAX_FILE_BYTES >> 20));
    }
    let extension = std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match (extension.as_deref(), forced) {
        (Some("md" | "markdown"), _) => Format::Markdown,
        (_, Some(forced)) => forced,
        (Some("yaml" | "yml"), None) => Format::Yaml,
        _ => Format::Json,
    };
    let contents = documents::read(&bytes, format).map_err(|e| format!("{name}: {e}"))?;
    Ok((format, contents))
}

/// Whether a whole document goes to the filter as a plugin configuration: a JSON file that is
/// not JSON too (the filter's parser says why).
fn is_configuration(document: &Document, setting: Setting, format: Format) -> bool {
    match &document.value {
        Ok(value) => matches!(classify::classify(value, setting), Kind::Configuration),
        Err(_) => format == Format::Json && setting == Setting::File,
    }
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Status {
    Ok,
    Warning,
    Skipped,
    Error,
}

/// Where a finding is, and what it is about.
#[derive(Clone)]
struct Place {
    file: usize,
    line: Option<usize>,
    /// Inside the document ("" for the whole document).
    path: String,
    /// `configuration`, `bootstrap`, `http_filters`, `listener`, `cluster`, `block`,
    /// `document`, `file`.
    kind: &'static str,
    /// For people: `jwt-gate configuration (WasmPlugin istio-system/jwt-gate)`.
    subject: String,
}

struct Finding {
    at: Place,
    /// Who judged: `jwt-gate` (the filter's parser) or `envoy`; `None` for skips.
    checker: Option<&'static str>,
    status: Status,
    message: String,
    /// A configuration as JSON, a cluster, a listener (`--report json`, for tools).
    value: Option<Value>,
}

/// Something for Envoy to validate.
struct Piece {
    at: Place,
    what: EnvoyPiece,
}

enum EnvoyPiece {
    /// A configuration, in a filter of its own; `refused` by this command's parser (then
    /// validated alone: it would fail any batch).
    Configuration {
        text: String,
        refused: bool,
    },
    Bootstrap(Value),
    HttpFilters(Vec<Value>),
    Listener(Value),
    Cluster(Value),
}

struct Check {
    files: Vec<String>,
    findings: Vec<Finding>,
    pieces: Vec<Piece>,
    envoy: Option<Envoy>,
}

impl Check {
    fn file(&mut self, index: usize, load: &Result<(Format, documents::Contents), String>) {
        let whole = Place {
            file: index,
            line: None,
            path: String::new(),
            kind: "file",
            subject: "file".to_owned(),
        };
        let (format, contents) = match load {
            Ok(loaded) => loaded,
            Err(error) => {
                let message = error
                    .strip_prefix(&format!("{}: ", self.name(index)))
                    .unwrap_or(error);
                return self.error(&whole, None, message.to_owned());
            }
        };
        let setting = match format {
            Format::Markdown => Setting::Markdown,
            Format::Json | Format::Yaml => Setting::File,
        };
        let before = self.findings.len();
        let pieces_before = self.pieces.len();
        for document in &contents.documents {
            self.document(index, document, setting, *format);
        }
        if !contents.other_blocks.is_empty() {
            let blocks: Vec<String> = contents
                .other_blocks
                .iter()
                .map(|(line, language)| match language.as_str() {
                    "" => format!("{line}"),
                    language => format!("{line} ({language})"),
                })
                .collect();
            let (count, lines) = match blocks.len() {
                1 => ("a code block".to_owned(), "line"),
                n => (format!("{n} code blocks"), "lines"),
            };
            self.skip(
                &whole,
                format!(
                    "{count} neither JSON nor YAML, at {lines} {}",
                    blocks.join(", ")
                ),
            );
        }
        let checked_or_failed = self
            .findings
            .get(before..)
            .unwrap_or_default()
            .iter()
            .any(|f| f.status == Status::Error || f.checker.is_some())
            || self.pieces.len() > pieces_before;
        if !checked_or_failed {
            let for_envoy = self
                .findings
                .get(before..)
                .unwrap_or_default()
                .iter()
                .any(|f| {
                    matches!(
                        f.at.kind,
                        "bootstrap" | "http_filters" | "listener" | "cluster"
                    )
                });
            let why = if for_envoy {
                "nothing jwt-gate can check (only Envoy's: give --envoy)"
            } else {
                "nothing to check: no jwt-gate configuration, OpenAPI document, Envoy bootstrap, \
                 http_filters, listener or cluster"
            };
            self.error(&whole, None, why.to_owned());
        }
    }

    fn document(&mut self, file: usize, document: &Document, setting: Setting, format: Format) {
        let (kind, subject) = match &document.block {
            Some(language) => ("block", format!("```{language} block")),
            None => ("document", "document".to_owned()),
        };
        let root = Place {
            file,
            line: document.line,
            path: String::new(),
            kind,
            subject,
        };
        let kind = match &document.value {
            Ok(value) => classify::classify(value, setting),
            // A JSON file of its own goes to the filter's parser, which says why it is not JSON.
            Err(_) if format == Format::Json && setting == Setting::File => Kind::Configuration,
            Err(error) => return self.error(&root, None, error.clone()),
        };
        match kind {
            Kind::Configuration => {
                self.configuration(configuration_place(&root, None), &document.bytes)
            }
            Kind::Skipped(why) => self.skip(&root, why),
            Kind::Holder(items) => {
                for item in items {
                    self.item(&root, document, item);
                }
            }
        }
    }

    fn item(&mut self, root: &Place, document: &Document, item: Item) {
        let at = Place {
            line: document.line_of(item.path.last_key()),
            path: item.path.to_string(),
            ..root.clone()
        };
        let context = item.context;
        let named = |kind: &'static str, default: &str| Place {
            kind,
            subject: context.clone().unwrap_or_else(|| default.to_owned()),
            ..at.clone()
        };
        match item.what {
            What::Configuration(bytes) => {
                self.configuration(configuration_place(&at, context.as_deref()), &bytes)
            }
            What::Bootstrap(value) => self.for_envoy(
                named("bootstrap", "Envoy bootstrap"),
                EnvoyPiece::Bootstrap(value),
            ),
            What::HttpFilters(chain) => self.for_envoy(
                named("http_filters", "filter chain"),
                EnvoyPiece::HttpFilters(chain),
            ),
            What::Listener(value) => {
                self.for_envoy(named("listener", "listener"), EnvoyPiece::Listener(value))
            }
            What::Cluster(value) => {
                self.for_envoy(named("cluster", "cluster"), EnvoyPiece::Cluster(value))
            }
            What::Skipped(why) => self.skip(&named(root.kind, &root.subject), why),
            What::Unusable(why) => self.error(
                &configuration_place(&at, context.as_deref()),
                Some("jwt-gate"),
                why,
            ),
        }
    }

    /// The filter's verdict on a plugin configuration (and, with `--envoy`, the configuration
    /// for Envoy: the module it loads may not be this command's version).
    fn configuration(&mut self, at: Place, bytes: &[u8]) {
        let value = serde_json::from_slice::<Value>(bytes).ok();
        let verdict = Config::from_json(bytes);
        if self.envoy.is_some() {
            // Not UTF-8: not JSON either, and no StringValue can carry it.
            if let Ok(text) = std::str::from_utf8(bytes) {
                self.pieces.push(Piece {
                    at: at.clone(),
                    what: EnvoyPiece::Configuration {
                        text: text.to_owned(),
                        refused: verdict.is_err(),
                    },
                });
            }
        }
        match verdict {
            Ok(config) => {
                self.findings.push(Finding {
                    at: at.clone(),
                    checker: Some("jwt-gate"),
                    status: Status::Ok,
                    message: format!(
                        "configuration OK: {} provider(s), {} rule(s)",
                        config.providers.len(),
                        config.rules.len()
                    ),
                    value,
                });
                for warning in &config.warnings {
                    self.findings.push(Finding {
                        at: at.clone(),
                        checker: Some("jwt-gate"),
                        status: Status::Warning,
                        message: format!("warning: {warning}"),
                        value: None,
                    });
                }
            }
            Err(error) => {
                let message = crate::hints::with_hint(
                    format!("configuration rejected: {error}"),
                    value.as_ref().unwrap_or(&Value::Null),
                    "check",
                );
                self.findings.push(Finding {
                    at,
                    checker: Some("jwt-gate"),
                    status: Status::Error,
                    message,
                    value,
                });
            }
        }
    }

    /// An Envoy piece: validated with `--envoy`, listed as skipped without.
    fn for_envoy(&mut self, at: Place, what: EnvoyPiece) {
        if self.envoy.is_some() {
            return self.pieces.push(Piece { at, what });
        }
        let value = match &what {
            EnvoyPiece::Cluster(value) | EnvoyPiece::Listener(value) => Some(value.clone()),
            _ => None,
        };
        self.findings.push(Finding {
            at,
            checker: None,
            status: Status::Skipped,
            message: "Envoy's to check (give --envoy)".to_owned(),
            value,
        });
    }

    fn skip(&mut self, at: &Place, why: String) {
        self.findings.push(Finding {
            at: at.clone(),
            checker: None,
            status: Status::Skipped,
            message: why,
            value: None,
        });
    }

    fn error(&mut self, at: &Place, checker: Option<&'static str>, message: String) {
        self.findings.push(Finding {
            at: at.clone(),
            checker,
            status: Status::Error,
            message,
            value: None,
        });
    }

    /// Each bootstrap alone; everything else together in one Envoy (one per file when two
    /// files define different clusters of one name), then, if that fails, each alone so that
    /// every refusal names its source.
    fn validate_in_envoy(&mut self, envoy: &Envoy) {
        let pieces = std::mem::take(&mut self.pieces);
        let (alone, rest): (Vec<&Piece>, Vec<&Piece>) = pieces.iter().partition(|p| {
            matches!(
                p.what,
                EnvoyPiece::Bootstrap(_) | EnvoyPiece::Configuration { refused: true, .. }
            )
        });
        for piece in alone {
            let (bootstrap, loads_jwt_gate) = match &piece.what {
                EnvoyPiece::Bootstrap(bootstrap) => envoy.with_our_module(bootstrap),
                _ => (bootstrap_of(envoy, &[piece], &[]), true),
            };
            let verdict = envoy.validate(&bootstrap);
            self.envoy_finding(piece, &verdict, loads_jwt_gate, envoy);
        }
        if rest.is_empty() {
            return;
        }
        let batches: Vec<Vec<&Piece>> = if clusters_agree(&rest) {
            vec![rest]
        } else {
            let mut by_file: Vec<Vec<&Piece>> = Vec::new();
            for piece in rest {
                match by_file
                    .iter_mut()
                    .find(|b| b.first().is_some_and(|p| p.at.file == piece.at.file))
                {
                    Some(batch) => batch.push(piece),
                    None => by_file.push(vec![piece]),
                }
            }
            by_file
        };
        for batch in batches {
            self.validate_batch(envoy, &batch);
        }
    }

    fn validate_batch(&mut self, envoy: &Envoy, batch: &[&Piece]) {
        let mut clusters: Vec<&Value> = Vec::new();
        let mut kept: Vec<&Piece> = Vec::new();
        for piece in batch {
            if let EnvoyPiece::Cluster(cluster) = &piece.what {
                match clusters
                    .iter()
                    .find(|c| cluster_name(c) == cluster_name(cluster))
                {
                    Some(same) if *same == cluster => {}
                    Some(_) => {
                        self.error(
                            &piece.at,
                            Some("envoy"),
                            format!(
                                "another cluster named {:?}, different, is defined before it in \
                                 this file: Envoy would refuse the two together",
                                cluster_name(cluster).unwrap_or_default(),
                            ),
                        );
                        continue;
                    }
                    None => clusters.push(cluster),
                }
            }
            kept.push(piece);
        }
        let bootstrap = bootstrap_of(envoy, &kept, &clusters);
        let verdict = envoy.validate(&bootstrap);
        let needs_jwt_gate = kept
            .iter()
            .any(|p| matches!(p.what, EnvoyPiece::Configuration { .. }));
        if (verdict.accepted && (!needs_jwt_gate || verdict.configured_jwt_gate()))
            || kept.len() == 1
        {
            for piece in &kept {
                let loads_jwt_gate = matches!(piece.what, EnvoyPiece::Configuration { .. });
                self.envoy_finding(piece, &verdict, loads_jwt_gate, envoy);
            }
            return;
        }
        for piece in &kept {
            let alone = match &piece.what {
                EnvoyPiece::Cluster(cluster) => bootstrap_of(envoy, &[], &[cluster]),
                EnvoyPiece::Configuration { .. } => bootstrap_of(envoy, &[piece], &[]),
                _ => {
                    let file_clusters: Vec<&Value> = kept
                        .iter()
                        .filter(|p| p.at.file == piece.at.file)
                        .filter_map(|p| match &p.what {
                            EnvoyPiece::Cluster(c) if clusters.contains(&c) => Some(c),
                            _ => None,
                        })
                        .collect();
                    bootstrap_of(envoy, &[piece], &file_clusters)
                }
            };
            let verdict = envoy.validate(&alone);
            let loads_jwt_gate = matches!(piece.what, EnvoyPiece::Configuration { .. });
            self.envoy_finding(piece, &verdict, loads_jwt_gate, envoy);
        }
    }

    fn envoy_finding(
        &mut self,
        piece: &Piece,
        verdict: &Verdict,
        loads_jwt_gate: bool,
        envoy: &Envoy,
    ) {
        let (status, message) = if !verdict.accepted {
            (
                Status::Error,
                format!("envoy --mode validate refused it:\n{}", verdict.summary()),
            )
        } else if loads_jwt_gate && !verdict.configured_jwt_gate() {
            (
                Status::Error,
                format!(
                    "envoy --mode validate accepted it, but jwt-gate never logged that it was \
                     configured: is {} jwt-gate's module?",
                    envoy.wasm.display()
                ),
            )
        } else {
            (Status::Ok, "envoy --mode validate accepted it".to_owned())
        };
        let value = match &piece.what {
            EnvoyPiece::Configuration { text, .. } => serde_json::from_str(text).ok(),
            EnvoyPiece::Listener(value) | EnvoyPiece::Cluster(value) => Some(value.clone()),
            EnvoyPiece::Bootstrap(_) | EnvoyPiece::HttpFilters(_) => None,
        };
        self.findings.push(Finding {
            at: piece.at.clone(),
            checker: Some("envoy"),
            status,
            message,
            value,
        });
    }

    fn name(&self, file: usize) -> &str {
        self.files.get(file).map_or("?", String::as_str)
    }

    /// One line per finding (continuation lines indented), in file order, then the counts.
    fn text_report(&self) -> String {
        let mut out = String::new();
        for finding in self.ordered() {
            let status = match finding.status {
                Status::Ok => "ok",
                Status::Warning => "warn",
                Status::Skipped => "skip",
                Status::Error => "FAIL",
            };
            let _ = write!(out, "{status:<5} {}", self.name(finding.at.file));
            if let Some(line) = finding.at.line {
                let _ = write!(out, ":{line}");
            }
            out.push_str(": ");
            if !finding.at.path.is_empty() {
                let _ = write!(out, "{}: ", finding.at.path);
            }
            if finding.at.kind != "file" {
                let _ = write!(out, "{}: ", finding.at.subject);
            }
            out.push_str(&finding.message.replace('\n', "\n      "));
            out.push('\n');
        }
        let count = |status| self.findings.iter().filter(|f| f.status == status).count();
        let _ = writeln!(
            out,
            "jwt-gate check: {} passed, {} failed, {} skipped, {} warning(s)",
            count(Status::Ok),
            count(Status::Error),
            count(Status::Skipped),
            count(Status::Warning)
        );
        out
    }

    /// The findings as JSON, for tools.
    fn json_report(&self) -> String {
        let findings: Vec<Value> = self
            .ordered()
            .iter()
            .map(|finding| {
                let mut entry = json!({
                    "file": self.name(finding.at.file),
                    "line": finding.at.line,
                    "path": finding.at.path,
                    "kind": finding.at.kind,
                    "subject": finding.at.subject,
                    "checker": finding.checker,
                    "status": match finding.status {
                        Status::Ok => "ok",
                        Status::Warning => "warning",
                        Status::Skipped => "skipped",
                        Status::Error => "error",
                    },
                    "message": finding.message,
                });
                if let (Some(value), Value::Object(entry)) = (&finding.value, &mut entry) {
                    entry.insert("value".to_owned(), value.clone());
                }
                entry
            })
            .collect();
        let mut text =
            serde_json::to_string_pretty(&json!({ "findings": findings })).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The findings by file (in the order given) and line; a file's own findings first.
    fn ordered(&self) -> Vec<&Finding> {
        let mut ordered: Vec<&Finding> = self.findings.iter().collect();
        ordered.sort_by_key(|f| (f.at.file, f.at.line.unwrap_or(0)));
        ordered
    }
}

fn configuration_place(at: &Place, context: Option<&str>) -> Place {
    Place {
        kind: "configuration",
        subject: match context {
            Some(context) => format!("jwt-gate configuration ({context})"),
            None => "jwt-gate configuration".to_owned(),
        },
        ..at.clone()
    }
}

/// Whether no two clusters of one name differ.
fn clusters_agree(pieces: &[&Piece]) -> bool {
    let clusters: Vec<&Value> = pieces
        .iter()
        .filter_map(|p| match &p.what {
            EnvoyPiece::Cluster(c) => Some(c),
            _ => None,
        })
        .collect();
    clusters.iter().all(|a| {
        clusters
            .iter()
            .all(|b| cluster_name(a) != cluster_name(b) || a == b)
    })
}

/// The check bootstrap for the configurations, `http_filters` and listeners of `pieces`, with
/// `clusters`.
fn bootstrap_of(envoy: &Envoy, pieces: &[&Piece], clusters: &[&Value]) -> Value {
    let mut configurations = Vec::new();
    let mut chains = Vec::new();
    let mut listeners = Vec::new();
    for piece in pieces {
        match &piece.what {
            EnvoyPiece::Configuration { text, .. } => configurations.push(text.as_str()),
            EnvoyPiece::HttpFilters(chain) => chains.push(chain.as_slice()),
            EnvoyPiece::Listener(listener) => listeners.push(listener),
            EnvoyPiece::Cluster(_) | EnvoyPiece::Bootstrap(_) => {}
        }
    }
    envoy.check_bootstrap(&configurations, &chains, &listeners, clusters)
}
