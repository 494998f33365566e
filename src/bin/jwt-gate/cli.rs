use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Map, Value};

use jwt_gate::config::{Config, KeySource};
use jwt_gate::extractor::Location;

const USAGE: &str = "\
usage:
  jwt-gate check CONFIG
      Validate a plugin configuration (jwt_authn JSON, {\"openapi\": ...}, or a bare OpenAPI 2.0
      document) with the parser the filter uses; print the providers and rules it understood.
      Exit 1 with the message the filter would log.
  jwt-gate from-openapi OPENAPI [--options OPTIONS]
      Print the jwt_authn-form configuration that Cloud Endpoints / ESPv2 would derive from an
      OpenAPI 2.0 document (YAML or JSON). OPTIONS: a JSON/YAML object of the options that may sit
      next to \"openapi\" (local_jwks, jwks_clusters, generated_header_prefix, ...).
  jwt-gate from-oci DEPLOYMENT
      Print the jwt_authn-form configuration for an OCI API Gateway deployment (or deployment
      specification) with a JWT_AUTHENTICATION or TOKEN_AUTHENTICATION policy.
  jwt-gate envoy-config CONFIG [--wasm PATH] [--listen HOST:PORT] [--upstream HOST:PORT]
                              [--admin HOST:PORT] [--ca FILE]
      Print an Envoy bootstrap (YAML): a listener with the jwt-gate filter configured by CONFIG
      (paths normalized and slashes merged before it), one cluster per key-set host (TLS with SNI,
      the certificate checked against --ca and the host name), and the upstream cluster.
      Defaults: --wasm /etc/envoy/jwt_gate.wasm --listen 0.0.0.0:10000
      --upstream 127.0.0.1:8080 --admin 127.0.0.1:9901 --ca /etc/ssl/certs/ca-certificates.crt.
";

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(message)) => {
            eprintln!("jwt-gate: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Invalid(message)) => {
            eprintln!("jwt-gate: {message}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(String),
    Invalid(String),
}

fn run(args: &[String]) -> Result<String, Failure> {
    let (command, rest) = args
        .split_first()
        .ok_or_else(|| Failure::Usage("a command is required".to_owned()))?;
    let (positional, flags) = split_flags(rest)?;
    let input = || -> Result<Value, Failure> {
        match positional.as_slice() {
            // A bare OpenAPI document is the OpenAPI form with no options.
            [file] => read(file).map(|value| match value.get("swagger") {
                Some(_) => json!({"openapi": value}),
                None => value,
            }),
            _ => Err(Failure::Usage(format!("{command} takes one file"))),
        }
    };
    let allowed = |names: &[&str]| -> Result<(), Failure> {
        match flags.keys().find(|flag| !names.contains(&flag.as_str())) {
            Some(flag) => Err(Failure::Usage(format!("{command} has no option --{flag}"))),
            None => Ok(()),
        }
    };
    match command.as_str() {
        "check" => {
            allowed(&[])?;
            check(&input()?)
        }
        "from-openapi" => {
            allowed(&["options"])?;
            let mut config = input()?;
            if let Some(options) = flags.get("options") {
                let Value::Object(options) = read(options)? else {
                    return Err(Failure::Invalid("--options: expected an object".to_owned()));
                };
                if let Value::Object(config) = &mut config {
                    config.extend(options);
                }
            }
            let translated = jwt_gate::openapi::translate(&config).map_err(invalid)?;
            warn(&Config::from_value(&translated).map_err(invalid)?);
            Ok(pretty(&translated))
        }
        "from-oci" => {
            allowed(&[])?;
            let translated = jwt_gate::oci::translate(&input()?).map_err(invalid)?;
            warn(&Config::from_value(&translated).map_err(invalid)?);
            Ok(pretty(&translated))
        }
        "envoy-config" => {
            allowed(&["wasm", "listen", "upstream", "admin", "ca"])?;
            envoy_config(&input()?, &flags)
        }
        "help" | "--help" | "-h" => Ok(USAGE.to_owned()),
        other => Err(Failure::Usage(format!("unknown command {other:?}"))),
    }
}

fn split_flags(
    args: &[String],
) -> Result<(Vec<String>, std::collections::BTreeMap<String, String>), Failure> {
    let mut positional = Vec::new();
    let mut flags = std::collections::BTreeMap::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if let Some(name) = arg.strip_prefix("--") {
            let (name, value) = match name.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => (
                    name.to_owned(),
                    iter.next()
                        .cloned()
                        .ok_or_else(|| Failure::Usage(format!("--{name} needs a value")))?,
                ),
            };
            flags.insert(name, value);
        } else {
            positional.push(arg.clone());
        }
    }
    Ok((positional, flags))
}

/// The configuration's warnings, on standard error (standard output carries the translation).
fn warn(config: &Config) {
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
}

fn invalid(error: impl std::fmt::Display) -> Failure {
    Failure::Invalid(format!("configuration rejected: {error}"))
}

/// A JSON or YAML file (`-` is standard input), as JSON.
fn read(file: &str) -> Result<Value, Failure> {
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Failure::Invalid(format!("stdin: {e}")))?
    } else {
        std::fs::read_to_string(file).map_err(|e| Failure::Invalid(format!("{file}: {e}")))?
    };
    let is_yaml = Path::new(file)
        .extension()
        .is_some_and(|e| e == "yaml" || e == "yml");
    if !is_yaml {
        if let Ok(value) = serde_json::from_str(&text) {
            return Ok(value);
        }
    }
    serde_yaml_ng::from_str::<Value>(&text)
        .map_err(|e| Failure::Invalid(format!("{file}: neither JSON nor YAML: {e}")))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// The filter's parser on the file's JSON, then a summary of what it understood.
fn check(value: &Value) -> Result<String, Failure> {
    let config = Config::from_json(value.to_string().as_bytes()).map_err(invalid)?;
    let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    let mut out = String::from("configuration OK\n");
    for warning in &config.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out.push_str("\nproviders:\n");
    for provider in &config.providers {
        let claims = &provider.claims;
        let _ = writeln!(
            out,
            "  {}: issuer {}, audiences {}",
            provider.name,
            claims.issuer.as_deref().unwrap_or("(any)"),
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
        let mut outputs = Vec::new();
        if let Some(header) = &provider.forward_payload_header {
            outputs.push(format!("payload -> {header}"));
        }
        for mapping in &provider.claim_to_headers {
            outputs.push(format!("{} -> {}", mapping.claim_name, mapping.header_name));
        }
        if !provider.forward {
            outputs.push("token removed".to_owned());
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
    out.push_str("\nrules (first match decides):\n");
    if config.rules.is_empty() {
        out.push_str("  (none: every request passes unchecked)\n");
    }
    for (index, rule) in config.rules.iter().enumerate() {
        let requirement = rule
            .requirement
            .as_ref()
            .map_or_else(|| "no check".to_owned(), |r| r.describe(&names));
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
    let plugin_configuration = serde_json::to_string_pretty(value).unwrap_or_default();
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
                        "route_config": {"virtual_hosts": [{
                            "name": "upstream",
                            "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}],
                        }]},
                        "http_filters": [
                            {
                                "name": "jwt_gate",
                                "typed_config": {
                                    "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                                    "config": {
                                        "name": "jwt_gate",
                                        "root_id": "jwt_gate",
                                        "vm_config": {
                                            "vm_id": "jwt_gate",
                                            "runtime": "envoy.wasm.runtime.v8",
                                            "code": {"local": {"filename": flag("wasm", "/etc/envoy/jwt_gate.wasm")}},
                                        },
                                        "failure_policy": "FAIL_CLOSED",
                                        "configuration": {
                                            "@type": "type.googleapis.com/google.protobuf.StringValue",
                                            "value": plugin_configuration,
                                        },
                                    },
                                },
                            },
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
    Ok(format!(
        "# Envoy bootstrap generated by `jwt-gate envoy-config`. Check it with\n#   envoy --mode validate -c <this file>\n{yaml}"
    ))
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
