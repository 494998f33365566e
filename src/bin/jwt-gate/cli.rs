use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Map, Value};

use jwt_gate::config::{Config, KeySource};
use jwt_gate::policy::api_key::{Accepted, KeyLocation};
use jwt_gate::token::extractor::Location;

/// Each command's synopsis and description, as `--help` prints them.
const COMMANDS: &[(&str, &str)] = &[
    (
        "check",
        "  jwt-gate check FILE... [--envoy PATH [--wasm PATH]] [--report text|json]
                        [--format json|yaml]
      Check every jwt-gate configuration in FILEs with the filter's own parser, on the bytes
      Envoy hands the filter: plugin configurations (jwt_authn JSON, {\"openapi\": ...}, OpenAPI
      2.0), Envoy bootstraps and http_filters (wasm and dynamic-module filters), Kubernetes
      manifests (Istio WasmPlugin and TrafficExtension, Envoy Gateway EnvoyExtensionPolicy) and
      the ```json and ```yaml blocks of Markdown files. With --envoy, also run
      `envoy --mode validate` with the module (--wasm, default
      target/wasm32-wasip1/release/jwt_gate.wasm) on each configuration, bootstrap, listener
      and cluster. One line per finding (file:line: path: what: verdict), skips included; exit 1
      on any error or on a file with nothing to check. One file holding one plugin
      configuration: print the providers and rules the filter understood, or the message it
      would log. Files are JSON unless named .yaml, .yml (or --format yaml) or .md; `-` reads
      standard input.
",
    ),
    (
        "from-openapi",
        "  jwt-gate from-openapi OPENAPI [--options OPTIONS] [--format json|yaml]
      Print the jwt_authn-form configuration that Cloud Endpoints / ESPv2 would derive from an
      OpenAPI 2.0 document. OPTIONS: an object of the options that may sit next to \"openapi\"
      (local_jwks, jwks_clusters, generated_header_prefix, ...).
",
    ),
    (
        "from-oci",
        "  jwt-gate from-oci DEPLOYMENT [--format json|yaml]
      Print the jwt_authn-form configuration for an OCI API Gateway deployment (or deployment
      specification) with a JWT_AUTHENTICATION or TOKEN_AUTHENTICATION policy. What the
      deployment does that the configuration does not (CORS, rate limits, ...) is printed on
      standard error, one `warning:` line each; an unknown field, or anything whose omission
      would let in a request OCI refuses, is an error (exit 1).
",
    ),
    (
        "from-istio",
        "  jwt-gate from-istio MANIFESTS [--format json|yaml]
      Print the jwt-gate configuration for Istio RequestAuthentication and AuthorizationPolicy
      manifests (YAML, several documents; or a kubectl List) that apply to one workload:
      jwtRules become providers, required as istiod requires them; ALLOW and DENY rules on
      paths, methods, requestPrincipals and request.auth.* conditions become rules with when.
      What it cannot express (source IPs and namespaces, hosts, ports, CUSTOM, conditions on
      anything but the token) is an error naming the document and field (exit 1); where the
      translation is stricter than Istio, a `warning:` line on standard error says so.
",
    ),
    (
        "envoy-config",
        "  jwt-gate envoy-config CONFIG [--wasm PATH | --native] [--listen HOST:PORT]
                              [--upstream HOST:PORT] [--admin HOST:PORT] [--ca FILE]
                              [--format json|yaml]
      Print an Envoy bootstrap (YAML): a listener with the jwt-gate filter configured by CONFIG
      (paths normalized and slashes merged before it), one cluster per key-set host (TLS with SNI,
      the certificate checked against --ca and the host name), and the upstream cluster.
      --native: the filter is the native Envoy 1.40 dynamic module (libjwt_gate.so, found in
      ENVOY_DYNAMIC_MODULES_SEARCH_PATH) instead of the .wasm, with the same CONFIG.
      Defaults: --wasm /etc/envoy/jwt_gate.wasm --listen 0.0.0.0:10000
      --upstream 127.0.0.1:8080 --admin 127.0.0.1:9901 --ca /etc/ssl/certs/ca-certificates.crt.
",
    ),
];

const FOOTER: &str = "  jwt-gate COMMAND --help       one command's usage
  jwt-gate --version
Input files are JSON unless their name ends in .yaml or .yml (or --format yaml); `-` is standard
input. Exit status: 0 done, 1 a configuration or file that cannot be used, 2 a usage error.
";

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(message)) => {
            eprintln!("jwt-gate: {message}\n\n{}", usage(None));
            ExitCode::from(2)
        }
        Err(Failure::CommandUsage(message, command)) => {
            eprintln!("jwt-gate: {message}\n\n{}", usage(Some(&command)));
            ExitCode::from(2)
        }
        Err(Failure::Invalid(message)) => {
            eprintln!("jwt-gate: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Report(report)) => {
            print!("{report}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// A usage error (exit 2, with every command's usage).
    Usage(String),
    /// A usage error of one command (exit 2, with its usage).
    CommandUsage(String, String),
    /// A configuration or file that cannot be used (exit 1).
    Invalid(String),
    /// `check`'s report of what failed, on standard output (exit 1).
    Report(String),
}

/// The usage of `command`, or of every command.
fn usage(command: Option<&str>) -> String {
    let mut text = String::from("usage:\n");
    for (name, help) in COMMANDS {
        if command.is_none_or(|c| c == *name) {
            text.push_str(help);
        }
    }
    if command.is_none() {
        text.push_str(FOOTER);
    }
    text
}

fn run(args: &[String]) -> Result<String, Failure> {
    let (command, rest) = args
        .split_first()
        .ok_or_else(|| Failure::Usage("a command is required".to_owned()))?;
    match command.as_str() {
        "--version" | "-V" | "version" => {
            return Ok(format!("jwt-gate {}\n", env!("CARGO_PKG_VERSION")))
        }
        "help" | "--help" | "-h" => {
            return match rest.first() {
                Some(name) if COMMANDS.iter().any(|(c, _)| c == name) => Ok(usage(Some(name))),
                Some(name) => Err(Failure::Usage(format!("unknown command {name:?}"))),
                None => Ok(usage(None)),
            }
        }
        _ => {}
    }
    if !COMMANDS.iter().any(|(name, _)| name == command) {
        return Err(Failure::Usage(format!("unknown command {command:?}")));
    }
    let usage_error = |message: String| Failure::CommandUsage(message, command.clone());
    if rest.iter().any(|arg| arg == "--help" || arg == "-h") {
        return Ok(usage(Some(command)));
    }
    let (positional, flags) = split_flags(rest).map_err(usage_error)?;
    let options: &[&str] = match command.as_str() {
        "check" => &["envoy", "wasm", "report", "format"],
        "from-openapi" => &["options", "format"],
        "envoy-config" => &[
            "wasm", "native", "listen", "upstream", "admin", "ca", "format",
        ],
        _ => &["format"],
    };
    if let Some(flag) = flags.keys().find(|flag| !options.contains(&flag.as_str())) {
        return Err(usage_error(format!("{command} has no option --{flag}")));
    }
    if command == "check" {
        return check(&positional, &flags).map_err(|failure| match failure {
            Failure::Usage(message) => usage_error(message),
            other => other,
        });
    }
    let [file] = positional.as_slice() else {
        return Err(usage_error(format!("{command} takes one file")));
    };
    let format = match flags.get("format").map(String::as_str) {
        None if is_yaml_name(file) => Format::Yaml,
        None | Some("json") => Format::Json,
        Some("yaml") => Format::Yaml,
        Some(other) => {
            return Err(usage_error(format!(
                "--format {other}: expected json or yaml"
            )))
        }
    };
    let bytes = read_bytes(file)?;
    match command.as_str() {
        "from-openapi" => {
            let mut config = openapi_form(parse(file, &bytes, format)?);
            if let Some(options) = flags.get("options") {
                let options_format = if is_yaml_name(options) {
                    Format::Yaml
                } else {
                    Format::Json
                };
                let Value::Object(options) = parse(options, &read_bytes(options)?, options_format)?
                else {
                    return Err(Failure::Invalid("--options: expected an object".to_owned()));
                };
                if let Value::Object(config) = &mut config {
                    config.extend(options);
                }
            }
            let translation = jwt_gate::translate::openapi::translate(&config)
                .map_err(|error| rejected(error, &config, command))?;
            for warning in &translation.warnings {
                eprintln!("warning: {warning}");
            }
            warn(&Config::compile(&translation.config).map_err(invalid)?);
            Ok(pretty(&translation.config))
        }
        "from-oci" => {
            let deployment = parse(file, &bytes, format)?;
            let translation = jwt_gate::translate::oci::translate(&deployment)
                .map_err(|error| rejected(error, &deployment, command))?;
            for warning in &translation.warnings {
                eprintln!("warning: {warning}");
            }
            warn(&Config::compile(&translation.config).map_err(invalid)?);
            Ok(pretty(&translation.config))
        }
        "from-istio" => {
            let documents = documents(file, &bytes, format)?;
            let translation = jwt_gate::translate::istio::translate(&documents)
                .map_err(|error| Failure::Invalid(format!("configuration rejected: {error}")))?;
            for warning in &translation.warnings {
                eprintln!("warning: {warning}");
            }
            warn(&Config::compile(&translation.config).map_err(invalid)?);
            Ok(pretty(&translation.config))
        }
        "envoy-config" => {
            let value = openapi_form(parse(file, &bytes, format)?);
            envoy_config(&value, &flags).map_err(|failure| match failure {
                Failure::Invalid(message) => {
                    Failure::Invalid(crate::hints::with_hint(message, &value, command))
                }
                usage => usage,
            })
        }
        _ => Err(usage_error(format!("unknown command {command:?}"))),
    }
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Yaml,
}

fn is_yaml_name(file: &str) -> bool {
    Path::new(file)
        .extension()
        .is_some_and(|e| e == "yaml" || e == "yml")
}

/// `--name value` and `--name=value` options apart from the other arguments.
fn split_flags(args: &[String]) -> Result<(Vec<String>, BTreeMap<String, String>), String> {
    let mut positional = Vec::new();
    let mut flags = BTreeMap::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if let Some(name) = arg.strip_prefix("--") {
            let (name, value) = match name.split_once('=') {
                Some((name, _)) if SWITCHES.contains(&name) => {
                    return Err(format!("--{name} takes no value"))
                }
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None if SWITCHES.contains(&name) => (name.to_owned(), String::new()),
                None => (
                    name.to_owned(),
                    iter.next()
                        .cloned()
                        .ok_or_else(|| format!("--{name} needs a value"))?,
                ),
            };
            if flags.insert(name.clone(), value).is_some() {
                return Err(format!("--{name} is given twice"));
            }
        } else {
            positional.push(arg.clone());
        }
    }
    Ok((positional, flags))
}

/// The options that take no value.
const SWITCHES: &[&str] = &["native"];

/// The configuration's warnings, on standard error (standard output carries the translation).
fn warn(config: &Config) {
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
}

fn invalid(error: impl std::fmt::Display) -> Failure {
    Failure::Invalid(format!("configuration rejected: {error}"))
}

/// A rejection, with the command that reads `input` when it is another product's format.
fn rejected(error: impl std::fmt::Display, input: &Value, command: &str) -> Failure {
    Failure::Invalid(crate::hints::with_hint(
        format!("configuration rejected: {error}"),
        input,
        command,
    ))
}

/// A bare OpenAPI 2.0 document is the OpenAPI form with no options.
fn openapi_form(value: Value) -> Value {
    match value.get("swagger") {
        Some(_) => json!({ "openapi": value }),
        None => value,
    }
}

/// A file's bytes (`-` is standard input).
fn read_bytes(file: &str) -> Result<Vec<u8>, Failure> {
    if file == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| Failure::Invalid(format!("stdin: {e}")))?;
        Ok(bytes)
    } else {
        std::fs::read(file).map_err(|e| Failure::Invalid(format!("{file}: {e}")))
    }
}

/// JSON with the filter's parser (duplicate members refused), or YAML.
fn parse(file: &str, bytes: &[u8], format: Format) -> Result<Value, Failure> {
    match format {
        Format::Json => jwt_gate::json::parse(
            bytes,
            jwt_gate::limits::Limits::DEFAULT.max_configuration_json_depth,
        )
        .map_err(|e| Failure::Invalid(format!("{file}: not JSON: {e}"))),
        Format::Yaml => serde_yaml_ng::from_slice::<Value>(bytes)
            .map_err(|e| Failure::Invalid(format!("{file}: not YAML: {e}"))),
    }
}

/// Every document of a file: YAML's, separated by `---` (empty ones left out); JSON's one
/// document, or a list of them.
fn documents(file: &str, bytes: &[u8], format: Format) -> Result<Vec<Value>, Failure> {
    match format {
        Format::Json => match parse(file, bytes, format)? {
            Value::Array(documents) => Ok(documents),
            document => Ok(vec![document]),
        },
        Format::Yaml => {
            let mut documents = Vec::new();
            for document in serde_yaml_ng::Deserializer::from_slice(bytes) {
                let value = <Value as serde::Deserialize>::deserialize(document)
                    .map_err(|e| Failure::Invalid(format!("{file}: not YAML: {e}")))?;
                if !value.is_null() {
                    documents.push(value);
                }
            }
            Ok(documents)
        }
    }
}

/// JSON with two-space indents and members in name order.
fn pretty(value: &impl serde::Serialize) -> String {
    let value = serde_json::to_value(value).unwrap_or_default();
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// `check FILE...`: a report of every configuration found, or, for one file that is one plugin
/// configuration, what the filter understood.
fn check(files: &[String], flags: &BTreeMap<String, String>) -> Result<String, Failure> {
    if files.is_empty() {
        return Err(Failure::Usage("check takes one or more files".to_owned()));
    }
    let format = match flags.get("format").map(String::as_str) {
        None => None,
        Some("json") => Some(crate::check::Format::Json),
        Some("yaml") => Some(crate::check::Format::Yaml),
        Some(other) => {
            return Err(Failure::Usage(format!(
                "--format {other}: expected json or yaml"
            )))
        }
    };
    let json_report = match flags.get("report").map(String::as_str) {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(Failure::Usage(format!(
                "--report {other}: expected text or json"
            )))
        }
    };
    let envoy = match (flags.get("envoy"), flags.get("wasm")) {
        (None, Some(_)) => return Err(Failure::Usage("--wasm goes with --envoy".to_owned())),
        (None, None) => None,
        (Some(envoy), wasm) => {
            let wasm = wasm.map_or(DEFAULT_CHECK_WASM, String::as_str);
            if !Path::new(wasm).is_file() {
                return Err(Failure::Invalid(format!(
                    "--wasm {wasm}: no such file (`make build` builds {DEFAULT_CHECK_WASM})"
                )));
            }
            if envoy.contains(std::path::MAIN_SEPARATOR) && !Path::new(envoy).is_file() {
                return Err(Failure::Invalid(format!("--envoy {envoy}: no such file")));
            }
            Some((envoy.into(), wasm.into()))
        }
    };
    let options = crate::check::Options {
        format,
        envoy,
        json_report,
    };
    match crate::check::run(files, &options).map_err(Failure::Invalid)? {
        crate::check::Outcome::OneConfiguration(bytes) => describe(&bytes),
        crate::check::Outcome::Report {
            text,
            failed: false,
        } => Ok(text),
        crate::check::Outcome::Report { text, failed: true } => Err(Failure::Report(text)),
    }
}

/// The module `check --envoy` loads unless --wasm names another: what `make build` leaves.
const DEFAULT_CHECK_WASM: &str = "target/wasm32-wasip1/release/jwt_gate.wasm";

/// The filter's verdict on a plugin configuration: `Config::from_json` on the bytes it gets,
/// then a summary of what it understood.
fn describe(plugin_configuration: &[u8]) -> Result<String, Failure> {
    let config = Config::from_json(plugin_configuration).map_err(|error| {
        match jwt_gate::json::parse(
            plugin_configuration,
            jwt_gate::limits::Limits::DEFAULT.max_configuration_json_depth,
        ) {
            Ok(input) => rejected(error, &input, "check"),
            Err(_) => invalid(error),
        }
    })?;
    let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    let mut out = String::from("configuration OK\n");
    for warning in &config.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out.push_str("\nproviders:\n");
    for provider in &config.providers {
        let claims = &provider.claims;
        let issuer = match (&claims.issuer_template, &claims.issuer) {
            (Some(template), _) => {
                let bound: Vec<String> = template
                    .names()
                    .map(|name| format!("{{{name}}} must be the token's {name} claim"))
                    .collect();
                format!(
                    "{} (a template: each {{...}} is one path segment; {})",
                    template.as_str(),
                    bound.join(", ")
                )
            }
            (None, Some(issuer)) => issuer.clone(),
            (None, None) => "(any)".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {}: issuer {}, audiences {}",
            provider.name,
            issuer,
            if claims.audiences.is_empty() {
                "(not checked)".to_owned()
            } else {
                claims.audiences.join(", ")
            }
        );
        let keys = match &provider.keys {
            KeySource::Local(keys) => format!("{} inline key(s)", keys.keys.len()),
            KeySource::Remote(remote) => match (&remote.jwks_uri, &remote.discovery_uri) {
                (Some(uri), _) => format!(
                    "fetched from {} through cluster {} every {} s",
                    uri.uri,
                    remote.cluster,
                    remote.cache_duration.as_secs_f64()
                ),
                (None, Some(discovery)) => format!(
                    "discovered from {} through cluster {} every {} s",
                    discovery.uri,
                    remote.cluster,
                    remote.cache_duration.as_secs_f64()
                ),
                (None, None) => "remote".to_owned(),
            },
        };
        let _ = writeln!(out, "    keys: {keys}");
        let locations: Vec<String> = provider
            .locations
            .iter()
            .filter_map(|&i| config.locations.get(i))
            .map(|location| match location {
                Location::Header { name, value_prefix } if value_prefix.is_empty() => {
                    format!("header {name}")
                }
                Location::Header { name, value_prefix } => {
                    format!("header {name} after {value_prefix:?}")
                }
                Location::Param(name) => format!("query ?{name}="),
                Location::Cookie(name) => format!("cookie {name}"),
            })
            .collect();
        let _ = writeln!(out, "    tokens from: {}", locations.join(", "));
        let mut bound = Vec::new();
        if let Some(dpop) = &provider.dpop {
            let algorithms: Vec<&str> = dpop.algorithms.iter().map(|alg| alg.name()).collect();
            bound.push(format!(
                "DPoP {} (proofs {} s either side of now, {})",
                if dpop.required {
                    "required"
                } else {
                    "accepted, bearer tokens too"
                },
                dpop.window_seconds,
                algorithms.join(" ")
            ));
        }
        if provider.certificate_bound {
            bound.push("client certificate required (cnf x5t#S256)".to_owned());
        }
        if !bound.is_empty() {
            let _ = writeln!(out, "    sender-constrained: {}", bound.join("; "));
        }
        let mut outputs = Vec::new();
        if let Some(header) = &provider.forward_payload_header {
            outputs.push(format!("payload -> {header}"));
        }
        for mapping in &provider.claim_to_headers {
            outputs.push(format!("{} -> {}", mapping.claim_name, mapping.header_name));
        }
        if !provider.forward {
            outputs.push(if provider.dpop.is_some() {
                "token and DPoP proof removed".to_owned()
            } else {
                "token removed".to_owned()
            });
        }
        if !outputs.is_empty() {
            let _ = writeln!(out, "    outputs: {}", outputs.join(", "));
        }
        if !claims.verify_claims.is_empty() {
            let checks: Vec<String> = claims
                .verify_claims
                .iter()
                .map(|c| {
                    format!(
                        "{} in [{}]{}",
                        c.name,
                        c.values.join(", "),
                        if c.required { "" } else { " if present" }
                    )
                })
                .collect();
            let _ = writeln!(out, "    claims: {}", checks.join("; "));
        }
    }
    if !config.api_keys.is_empty() {
        out.push_str("\napi keys:\n");
    }
    for check in &config.api_keys {
        let places: Vec<String> = check
            .locations
            .iter()
            .map(|location| match location {
                KeyLocation::Param(name) => format!("query ?{name}="),
                KeyLocation::Header(name) => format!("header {name}"),
            })
            .collect();
        let what = match &check.accepted {
            Accepted::Digests(digests) => format!(
                "from {}; {} accepted key digest(s)",
                places.join(", "),
                digests.len()
            ),
            Accepted::Unchecked => "unchecked: every request passes".to_owned(),
        };
        let _ = writeln!(out, "  {}: {what}", check.name);
    }
    out.push_str("\nrules (first match decides):\n");
    if config.rules.is_empty() {
        out.push_str("  (none: every request passes unchecked)\n");
    }
    for (index, rule) in config.rules.iter().enumerate() {
        let requirement = match (&rule.deny, &rule.requirement) {
            (Some(deny), _) => format!("deny {} {:?}", deny.status, deny.message),
            (None, requirement) => requirement
                .as_ref()
                .map_or_else(|| "no check".to_owned(), |r| r.describe(&names)),
        };
        let scopes = if rule.allowed_scopes.is_empty() {
            String::new()
        } else {
            format!(", scope one of [{}]", rule.allowed_scopes.join(", "))
        };
        let _ = writeln!(
            out,
            "  [{index}] {} -> {requirement}{scopes}",
            rule.route.describe()
        );
        if !rule.conditions.is_empty() {
            let conditions: Vec<String> = rule.conditions.iter().map(|c| c.describe()).collect();
            let _ = writeln!(
                out,
                "      when (one token that satisfied it, else 403): {}",
                conditions.join("; ")
            );
        }
    }
    Ok(out)
}

/// A complete bootstrap around the configuration.
fn envoy_config(
    value: &Value,
    flags: &std::collections::BTreeMap<String, String>,
) -> Result<String, Failure> {
    let config = Config::from_json(value.to_string().as_bytes()).map_err(invalid)?;
    let flag = |name: &str, default: &str| {
        flags
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_owned())
    };
    let address = |name: &str, default: &str| -> Result<(String, u16), Failure> {
        let text = flag(name, default);
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| Failure::Usage(format!("--{name}: expected HOST:PORT")))?;
        let port = port
            .parse()
            .map_err(|_| Failure::Usage(format!("--{name}: bad port {port:?}")))?;
        Ok((host.trim_matches(['[', ']']).to_owned(), port))
    };
    let socket = |(host, port): (String, u16)| json!({"socket_address": {"address": host, "port_value": port}});
    let (upstream_host, upstream_port) = address("upstream", "127.0.0.1:8080")?;

    let ca = flag("ca", "/etc/ssl/certs/ca-certificates.crt");
    let mut clusters = vec![cluster("upstream", &upstream_host, upstream_port, None)];
    let mut seen: std::collections::BTreeMap<String, (String, u16)> =
        std::collections::BTreeMap::new();
    for provider in &config.providers {
        let KeySource::Remote(remote) = &provider.keys else {
            continue;
        };
        let Some(uri) = remote.jwks_uri.as_ref().or(remote.discovery_uri.as_ref()) else {
            continue;
        };
        if remote.cluster == "upstream" {
            return Err(Failure::Invalid(
                "the key cluster \"upstream\" would clash with the upstream cluster: rename it"
                    .to_owned(),
            ));
        }
        let (host, port) = uri.host_and_port();
        if let Some(other) = seen.get(&remote.cluster) {
            if *other != (host.clone(), port) {
                return Err(Failure::Invalid(format!(
                    "cluster {:?} is used for {}:{} and for {host}:{port}: one cluster reaches one host",
                    remote.cluster, other.0, other.1
                )));
            }
            continue;
        }
        seen.insert(remote.cluster.clone(), (host.clone(), port));
        clusters.push(cluster(
            &remote.cluster,
            &host,
            port,
            uri.is_https().then_some(ca.as_str()),
        ));
    }
    let native = flags.contains_key("native");
    if native && flags.contains_key("wasm") {
        return Err(Failure::Usage(
            "--native and --wasm: the filter is one or the other".to_owned(),
        ));
    }
    let plugin_configuration = serde_json::to_string_pretty(value).unwrap_or_default();
    let jwt_gate_filter = if native {
        native_filter(&plugin_configuration)
    } else {
        wasm_filter(
            &plugin_configuration,
            &flag("wasm", "/etc/envoy/jwt_gate.wasm"),
        )
    };
    let bootstrap = json!({
        "admin": {"address": socket(address("admin", "127.0.0.1:9901")?)},
        "static_resources": {
            "listeners": [{
                "name": "jwt_gate",
                "address": socket(address("listen", "0.0.0.0:10000")?),
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        // The rules see the path the upstream will: `//admin`, `/a/../admin`
                        // and `/%61dmin` are `/admin` (ESPv2's defaults too).
                        "normalize_path": true,
                        "merge_slashes": true,
                        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
                        // `X_User` gets 400: backends that read `_` as `-` (CGI, WSGI, Rack,
                        // PHP) would take it for jwt-gate's `X-User` (ESPv2's default too).
                        "common_http_protocol_options": {
                            "headers_with_underscores_action": "REJECT_REQUEST",
                        },
                        "route_config": {"virtual_hosts": [{
                            "name": "upstream",
                            "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}],
                        }]},
                        "http_filters": [
                            jwt_gate_filter,
                            {
                                "name": "envoy.filters.http.router",
                                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                            },
                        ],
                    },
                }]}],
            }],
            "clusters": clusters,
        },
    });
    let yaml = serde_yaml_ng::to_string(&bootstrap)
        .map_err(|e| Failure::Invalid(format!("cannot write YAML: {e}")))?;
    let header = if native {
        "# Envoy bootstrap generated by `jwt-gate envoy-config --native`: jwt-gate is Envoy 1.40's\n\
         # dynamic module libjwt_gate.so, which Envoy loads from the folder named by\n\
         # ENVOY_DYNAMIC_MODULES_SEARCH_PATH. Set it for Envoy, and check this file with\n\
         #   ENVOY_DYNAMIC_MODULES_SEARCH_PATH=/etc/envoy envoy --mode validate -c <this file>\n"
    } else {
        "# Envoy bootstrap generated by `jwt-gate envoy-config`. Check it with\n\
         #   envoy --mode validate -c <this file>\n"
    };
    Ok(format!("{header}{yaml}"))
}

/// The jwt-gate filter as the proxy-wasm module at `filename` (also what `check --envoy` loads).
pub(crate) fn wasm_filter(plugin_configuration: &str, filename: &str) -> Value {
    json!({
        "name": "jwt_gate",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "jwt_gate",
                "root_id": "jwt_gate",
                "vm_config": {
                    "vm_id": "jwt_gate",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": filename}},
                },
                "failure_policy": "FAIL_CLOSED",
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": plugin_configuration,
                },
            },
        },
    })
}

/// The jwt-gate filter as the native dynamic module (module and filter named jwt_gate: Envoy
/// loads libjwt_gate.so), with the same configuration; its metrics are named as the .wasm's
/// (`jwt_gate.*`, docs/metrics.md).
fn native_filter(plugin_configuration: &str) -> Value {
    json!({
        "name": "jwt_gate",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter",
            "dynamic_module_config": {"name": "jwt_gate", "do_not_close": true, "metrics_namespace": "jwt_gate"},
            "filter_name": "jwt_gate",
            "filter_config": {
                "@type": "type.googleapis.com/google.protobuf.StringValue",
                "value": plugin_configuration,
            },
        },
    })
}

/// A cluster reaching `host:port` (a DNS name resolved by Envoy), with TLS for https: SNI, the
/// certificate checked against `ca` and for the host name (without the name check, any publicly
/// trusted certificate would do, and whoever holds one could serve their own keys).
fn cluster(name: &str, host: &str, port: u16, tls_ca: Option<&str>) -> Value {
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let mut cluster = Map::new();
    cluster.insert("name".to_owned(), json!(name));
    cluster.insert(
        "type".to_owned(),
        json!(if is_ip { "STATIC" } else { "LOGICAL_DNS" }),
    );
    cluster.insert("connect_timeout".to_owned(), json!("5s"));
    if !is_ip {
        cluster.insert("dns_lookup_family".to_owned(), json!("V4_PREFERRED"));
    }
    cluster.insert(
        "load_assignment".to_owned(),
        json!({
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}]}],
        }),
    );
    if let Some(ca) = tls_ca {
        cluster.insert(
            "transport_socket".to_owned(),
            json!({
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    "sni": host,
                    "common_tls_context": {"validation_context": {
                        "trusted_ca": {"filename": ca},
                        "match_typed_subject_alt_names": [
                            {"san_type": if is_ip { "IP_ADDRESS" } else { "DNS" }, "matcher": {"exact": host}},
                        ],
                    }},
                },
            }),
        );
    }
    Value::Object(cluster)
}
