//! What a JSON or YAML document is, and what it holds for jwt-gate or Envoy to check: plugin
//! configurations (the bytes the filter gets), Envoy bootstraps, `http_filters`, listeners and
//! clusters, found in the places Envoy, Istio and Envoy Gateway read them.

use base64::Engine as _;
use serde_json::{Map, Value};

/// One place of a document, from its root: `spec.pluginConfig`, `clusters[0]`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Path(Vec<Segment>);

#[derive(Clone, Debug, Eq, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl Path {
    fn key(&self, key: &str) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_owned()));
        path
    }

    fn index(&self, index: usize) -> Self {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    /// The last member name on the path (the one to find the line of).
    pub fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|segment| match segment {
            Segment::Key(key) => Some(key.as_str()),
            Segment::Index(_) => None,
        })
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_plain(key) => {
                    if index > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => write!(f, "[{key:?}]")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'@'))
}

/// Where a document was found: a file of its own, or a Markdown code block (where documents
/// that are not configurations are examples, not errors).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Setting {
    File,
    Markdown,
}

/// What a whole document is.
#[derive(Debug)]
pub enum Kind {
    /// A plugin configuration as it is (jwt_authn form, `{"openapi": ...}`, an OpenAPI 2.0
    /// document), or, in a file of its own, anything else: the filter's parser says what it
    /// makes of it.
    Configuration,
    /// Something that holds configurations, or Envoy pieces, or neither.
    Holder(Vec<Item>),
    /// Not checked, and why (only in Markdown: an example).
    Skipped(String),
}

/// Something found inside a document.
#[derive(Debug)]
pub struct Item {
    pub path: Path,
    /// What holds it, for people: `WasmPlugin istio-system/jwt-gate`.
    pub context: Option<String>,
    pub what: What,
}

#[derive(Debug)]
pub enum What {
    /// A jwt-gate plugin configuration: the bytes Envoy hands the filter.
    Configuration(Vec<u8>),
    /// A whole Envoy bootstrap.
    Bootstrap(Value),
    /// An `http_filters` list on its own.
    HttpFilters(Vec<Value>),
    Listener(Value),
    Cluster(Value),
    /// Not jwt-gate's to check (another module's filter, a Kubernetes kind without
    /// configuration), and why.
    Skipped(String),
    /// Meant for jwt-gate but cannot reach it as written, and why.
    Unusable(String),
}

pub const WASM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const DYNAMIC_MODULE_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter";
pub const STRING_VALUE_TYPE: &str = "type.googleapis.com/google.protobuf.StringValue";
const BYTES_VALUE_TYPE: &str = "type.googleapis.com/google.protobuf.BytesValue";

/// What `document` is, read in `setting`.
pub fn classify(document: &Value, setting: Setting) -> Kind {
    let root = Path::default();
    if let Value::Array(list) = document {
        if !list.is_empty() && list.iter().all(is_cluster) {
            return Kind::Holder(clusters(list, &root));
        }
        if !list.is_empty() && list.iter().all(|f| f.get("typed_config").is_some()) {
            // HTTP filter entries, as a list.
            let mut items = vec![Item {
                path: root.clone(),
                context: None,
                what: What::HttpFilters(list.clone()),
            }];
            filters(document, &root, None, &mut items);
            return Kind::Holder(items);
        }
    }
    let has = |key: &str| document.get(key).is_some();
    if has("providers") {
        return Kind::Configuration;
    }
    if has("swagger") || document.get("openapi").is_some_and(Value::is_object) {
        return match setting {
            Setting::File => Kind::Configuration,
            // The docs show schematic documents; a real one is checked in its own file.
            Setting::Markdown => Kind::Skipped(OPENAPI_EXAMPLE.to_owned()),
        };
    }
    if let (Some(Value::String(_)), Some(Value::String(kind))) =
        (document.get("apiVersion"), document.get("kind"))
    {
        if let Value::Object(object) = document {
            return Kind::Holder(manifest(object, kind));
        }
    }
    if has("static_resources") || has("dynamic_resources") {
        let mut items = vec![Item {
            path: root.clone(),
            context: None,
            what: What::Bootstrap(document.clone()),
        }];
        filters(document, &root, None, &mut items);
        return Kind::Holder(items);
    }
    if let Value::Object(object) = document {
        if has("http_filters") || has("listeners") || has("clusters") {
            return Kind::Holder(fragment(object));
        }
    }
    // Anything else that holds a jwt-gate filter: a filter entry, its typed_config alone, ...
    let mut items = Vec::new();
    filters(document, &root, None, &mut items);
    if !items.is_empty() {
        return Kind::Holder(items);
    }
    match setting {
        Setting::File => Kind::Configuration,
        Setting::Markdown => Kind::Skipped(
            foreign_format(document).unwrap_or_else(|| NOT_A_CONFIGURATION.to_owned()),
        ),
    }
}

const OPENAPI_EXAMPLE: &str =
    "an OpenAPI document: in Markdown, an example (check the document's own file)";

const NOT_A_CONFIGURATION: &str = "not a jwt-gate configuration, OpenAPI document, Envoy \
    bootstrap, http_filters, listener or cluster list, or Kubernetes manifest";

/// Another product's format, in Markdown.
fn foreign_format(document: &Value) -> Option<String> {
    if let Some(version) = document.get("openapi").and_then(Value::as_str) {
        return Some(format!(
            "an OpenAPI {version} document (jwt-gate reads OpenAPI 2.0 only)"
        ));
    }
    if document.get("securityDefinitions").is_some() || document.get("paths").is_some() {
        return Some(OPENAPI_EXAMPLE.to_owned());
    }
    let specification = document.get("specification").unwrap_or(document);
    (specification.get("routes").is_some() || specification.get("requestPolicies").is_some()).then(
        || {
            "an OCI API Gateway deployment: in Markdown, an example (`jwt-gate from-oci` \
             translates a deployment)"
                .to_owned()
        },
    )
}

/// Envoy `http_filters`, `listeners` and `clusters` on their own (as docs show them).
fn fragment(object: &Map<String, Value>) -> Vec<Item> {
    let root = Path::default();
    let mut items = Vec::new();
    if let Some(value) = object.get("http_filters") {
        let path = root.key("http_filters");
        match value {
            Value::Array(chain) => items.push(Item {
                path: path.clone(),
                context: None,
                what: What::HttpFilters(chain.clone()),
            }),
            _ => items.push(unusable(path.clone(), "http_filters is not a list")),
        }
        filters(value, &path, None, &mut items);
    }
    if let Some(value) = object.get("listeners") {
        let path = root.key("listeners");
        for (index, listener) in value.as_array().into_iter().flatten().enumerate() {
            items.push(Item {
                path: path.index(index),
                context: listener
                    .get("name")
                    .and_then(Value::as_str)
                    .map(|n| format!("listener {n}")),
                what: What::Listener(listener.clone()),
            });
        }
        filters(value, &path, None, &mut items);
    }
    if let Some(Value::Array(list)) = object.get("clusters") {
        items.extend(clusters(list, &root.key("clusters")));
    }
    items
}

fn clusters(list: &[Value], path: &Path) -> Vec<Item> {
    list.iter()
        .enumerate()
        .map(|(index, cluster)| Item {
            path: path.index(index),
            context: cluster_name(cluster).map(|n| format!("cluster {n}")),
            what: What::Cluster(cluster.clone()),
        })
        .collect()
}

/// A cluster as a list of them shows it: a name and where it goes.
fn is_cluster(item: &Value) -> bool {
    cluster_name(item).is_some()
        && (item.get("load_assignment").is_some() || item.get("loadAssignment").is_some())
}

pub fn cluster_name(cluster: &Value) -> Option<&str> {
    cluster.get("name").and_then(Value::as_str)
}

/// The configurations of a Kubernetes object: Istio `WasmPlugin` (`spec.pluginConfig`) and
/// `TrafficExtension` (`spec.wasm.pluginConfig`; istio/api
/// extensions/v1alpha1/traffic_extension.proto, which "supersedes WasmPlugin"), both a
/// `Struct` Istio hands the module as JSON; Envoy Gateway `EnvoyExtensionPolicy`
/// (`spec.wasm[].config`, "passed as a JSON string to the Wasm extension"); the clusters an
/// Envoy Gateway `EnvoyPatchPolicy` adds; and jwt-gate wasm filters anywhere in it (an Istio
/// `EnvoyFilter`'s patches).
fn manifest(object: &Map<String, Value>, kind: &str) -> Vec<Item> {
    let name = object
        .get("metadata")
        .map(|m| {
            let name = m.get("name").and_then(Value::as_str).unwrap_or("?");
            match m.get("namespace").and_then(Value::as_str) {
                Some(namespace) => format!("{namespace}/{name}"),
                None => name.to_owned(),
            }
        })
        .unwrap_or_else(|| "?".to_owned());
    let context = format!("{kind} {name}");
    let root = Path::default();
    let spec_path = root.key("spec");
    let spec = object.get("spec").unwrap_or(&Value::Null);
    let metadata_name = object.get("metadata").and_then(|m| pointer_str(m, "/name"));
    let plugin = |path: Path, module: &Value, config_key: &str, names: &[&str]| {
        manifest_plugin(&context, metadata_name, path, module, config_key, names)
    };
    let mut items = Vec::new();
    match kind {
        "WasmPlugin" => items.push(plugin(
            spec_path.clone(),
            spec,
            "pluginConfig",
            &["/pluginName", "/url"],
        )),
        "TrafficExtension" => match spec.get("wasm") {
            Some(wasm) => items.push(plugin(
                spec_path.key("wasm"),
                wasm,
                "pluginConfig",
                &["/pluginName", "/url"],
            )),
            None => items.push(Item {
                path: spec_path.clone(),
                context: Some(context.clone()),
                what: What::Skipped("no wasm extension (a Lua one?)".to_owned()),
            }),
        },
        "EnvoyExtensionPolicy" => {
            let wasm_path = spec_path.key("wasm");
            for (index, wasm) in spec
                .get("wasm")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                items.push(plugin(
                    wasm_path.index(index),
                    wasm,
                    "config",
                    &["/rootID", "/name", "/code/image/url", "/code/http/url"],
                ));
            }
        }
        "EnvoyPatchPolicy" => {
            let patches_path = spec_path.key("jsonPatches");
            for (index, patch) in spec
                .get("jsonPatches")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let is_cluster_type = patch.get("type").and_then(Value::as_str)
                    == Some("type.googleapis.com/envoy.config.cluster.v3.Cluster");
                let operation = patch.get("operation");
                let value = operation.and_then(|o| o.get("value"));
                if is_cluster_type
                    && operation.and_then(|o| o.get("op")).and_then(Value::as_str) == Some("add")
                {
                    if let Some(cluster) = value.filter(|v| cluster_name(v).is_some()) {
                        items.push(Item {
                            path: patches_path.index(index).key("operation").key("value"),
                            context: cluster_name(cluster)
                                .map(|n| format!("{context}: cluster {n}")),
                            what: What::Cluster(cluster.clone()),
                        });
                    }
                }
            }
        }
        _ => {}
    }
    filters(spec, &spec_path, None, &mut items);
    if items.is_empty() {
        items.push(Item {
            path: root,
            context: Some(context),
            what: What::Skipped("no jwt-gate configuration in it".to_owned()),
        });
    }
    items
}

/// A module of a manifest (`names`: the JSON pointers of its names, root id and code URL in
/// `module`), with its configuration `config_key` if the module is jwt-gate: the API hands the
/// module that value as JSON.
fn manifest_plugin(
    context: &str,
    metadata_name: Option<&str>,
    path: Path,
    module: &Value,
    config_key: &str,
    names: &[&str],
) -> Item {
    let named: Vec<&str> = names
        .iter()
        .filter_map(|n| pointer_str(module, n))
        .chain(metadata_name)
        .collect();
    let context = Some(context.to_owned());
    if !names_jwt_gate(&named) {
        return Item {
            path,
            context,
            what: What::Skipped(format!(
                "another module's ({}): not jwt-gate's to check",
                named.first().copied().unwrap_or("no name or URL")
            )),
        };
    }
    let what = match module.get(config_key) {
        // No configuration: the module gets empty bytes (which jwt-gate refuses).
        None | Some(Value::Null) => What::Configuration(Vec::new()),
        Some(config @ Value::Object(_)) => {
            What::Configuration(serde_json::to_vec(config).unwrap_or_default())
        }
        Some(_) => What::Unusable(format!(
            "{config_key} is not an object (the API takes the configuration as YAML or JSON, \
             not as a string)"
        )),
    };
    Item {
        path: path.key(config_key),
        context,
        what,
    }
}

/// The jwt-gate filters anywhere in `node`: Envoy wasm filters (`config.configuration`) and
/// dynamic-module filters (`filter_config`), each an `Any` that Envoy turns into the bytes the
/// module gets (a `StringValue`'s string, a `BytesValue`'s bytes, any other message's
/// protobuf encoding: `MessageUtil::anyToBytes`, source/common/protobuf/utility.h).
/// `entry_name` is the `name` next to the `typed_config` being walked.
fn filters(node: &Value, path: &Path, entry_name: Option<&str>, items: &mut Vec<Item>) {
    match node {
        Value::Object(object) => {
            match object.get("@type").and_then(Value::as_str) {
                Some(WASM_TYPE) => {
                    let config = object.get("config").unwrap_or(&Value::Null);
                    items.push(module_filter(
                        "wasm filter",
                        &wasm_names(node, entry_name),
                        config.get("configuration"),
                        path.key("config").key("configuration"),
                    ));
                    return;
                }
                Some(DYNAMIC_MODULE_TYPE) => {
                    let names = [
                        entry_name,
                        pointer_str(node, "/dynamic_module_config/name"),
                        pointer_str(node, "/filter_name"),
                        pointer_str(node, "/dynamic_module_config/module/local/filename"),
                    ];
                    items.push(module_filter(
                        "dynamic-module filter",
                        &names,
                        object.get("filter_config"),
                        path.key("filter_config"),
                    ));
                    return;
                }
                _ => {}
            }
            for (key, value) in object {
                let name = (key == "typed_config")
                    .then(|| object.get("name").and_then(Value::as_str))
                    .flatten();
                filters(value, &path.key(key), name, items);
            }
        }
        Value::Array(list) => {
            for (index, value) in list.iter().enumerate() {
                filters(value, &path.index(index), None, items);
            }
        }
        _ => {}
    }
}

/// The names that may say a wasm filter (its `typed_config`) runs jwt-gate: the filter's,
/// the plugin's, its root id and VM id, where its code comes from.
fn wasm_names<'a>(typed_config: &'a Value, entry_name: Option<&'a str>) -> [Option<&'a str>; 6] {
    [
        entry_name,
        pointer_str(typed_config, "/config/name"),
        pointer_str(typed_config, "/config/root_id"),
        pointer_str(typed_config, "/config/vm_config/vm_id"),
        pointer_str(typed_config, "/config/vm_config/code/local/filename"),
        pointer_str(typed_config, "/config/vm_config/code/remote/http_uri/uri"),
    ]
}

/// Whether a wasm filter's `typed_config` runs jwt-gate (see [`names_jwt_gate`]).
pub fn is_jwt_gate_wasm(typed_config: &Value, entry_name: Option<&str>) -> bool {
    names_jwt_gate(
        &wasm_names(typed_config, entry_name)
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    )
}

/// The configuration of a module filter, if the module is jwt-gate.
fn module_filter(what: &str, names: &[Option<&str>], any: Option<&Value>, path: Path) -> Item {
    let names: Vec<&str> = names.iter().flatten().copied().collect();
    let context = Some(format!(
        "{what} {}",
        names.first().copied().unwrap_or("(no name)")
    ));
    let what = if !names_jwt_gate(&names) {
        What::Skipped("another module's filter: not jwt-gate's to check".to_owned())
    } else {
        match any_to_bytes(any) {
            Ok(bytes) => What::Configuration(bytes),
            Err(why) => What::Unusable(why),
        }
    };
    Item {
        path,
        context,
        what,
    }
}

/// Envoy's `anyToBytes` on a configuration `Any`, for the types that carry JSON; another
/// message type would reach the filter as protobuf bytes, which it refuses.
fn any_to_bytes(any: Option<&Value>) -> Result<Vec<u8>, String> {
    let Some(any) = any.filter(|a| !a.is_null()) else {
        return Ok(Vec::new()); // no configuration: the module gets none
    };
    let value = any.get("value");
    match any.get("@type").and_then(Value::as_str) {
        Some(STRING_VALUE_TYPE) => match value {
            Some(Value::String(text)) => Ok(text.as_bytes().to_vec()),
            None => Ok(Vec::new()),
            Some(_) => Err("a StringValue's value must be a string".to_owned()),
        },
        Some(BYTES_VALUE_TYPE) => match value {
            Some(Value::String(text)) => {
                base64_bytes(text).ok_or_else(|| "a BytesValue's value must be base64".to_owned())
            }
            None => Ok(Vec::new()),
            Some(_) => Err("a BytesValue's value must be base64 text".to_owned()),
        },
        Some(other) => Err(format!(
            "the configuration is a {other}: Envoy would hand jwt-gate its protobuf encoding, \
             not JSON; write it as a google.protobuf.StringValue holding the JSON"
        )),
        None => Err("the configuration has no @type".to_owned()),
    }
}

/// Protobuf JSON's `bytes`: standard or URL-safe base64, padded or not.
fn base64_bytes(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    let config = general_purpose::GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [
        GeneralPurpose::new(&base64::alphabet::STANDARD, config),
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, config),
    ]
    .iter()
    .find_map(|engine| engine.decode(text).ok())
}

/// Whether one of a module's names, root ids or code locations says jwt-gate (`jwt_gate`, as
/// `jwt-gate envoy-config`, the docs and the manifests under envoy/ name it, or `jwt-gate`).
fn names_jwt_gate(names: &[&str]) -> bool {
    names.iter().any(|name| {
        let name = name.to_ascii_lowercase();
        name.contains("jwt_gate") || name.contains("jwt-gate")
    })
}

fn pointer_str<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn unusable(path: Path, why: &str) -> Item {
    Item {
        path,
        context: None,
        what: What::Unusable(why.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holder(document: Value) -> Vec<Item> {
        match classify(&document, Setting::File) {
            Kind::Holder(items) => items,
            other => panic!("{other:?}"),
        }
    }

    fn wasm_filter(name: &str, configuration: Value) -> Value {
        json!({
            "name": name,
            "typed_config": {
                "@type": WASM_TYPE,
                "config": {
                    "root_id": name,
                    "vm_config": {"code": {"local": {"filename": format!("/etc/{name}.wasm")}}},
                    "configuration": configuration,
                },
            },
        })
    }

    #[test]
    fn plugin_configurations_and_other_products() {
        for document in [
            json!({"providers": {}}),
            json!({"swagger": "2.0"}),
            json!({"openapi": {"swagger": "2.0"}}),
            json!({"specification": {"routes": []}}),
            json!("text"),
        ] {
            assert!(
                matches!(classify(&document, Setting::File), Kind::Configuration),
                "{document}"
            );
        }
        // In Markdown, OpenAPI and OCI documents are examples.
        for (document, why) in [
            (json!({"swagger": "2.0"}), "an OpenAPI document"),
            (json!({"openapi": "3.0.3"}), "an OpenAPI 3.0.3 document"),
            (
                json!({"specification": {"routes": []}}),
                "an OCI API Gateway deployment",
            ),
            (
                json!({"scrape_configs": []}),
                "not a jwt-gate configuration",
            ),
        ] {
            let Kind::Skipped(reason) = classify(&document, Setting::Markdown) else {
                panic!("{document}")
            };
            assert!(reason.starts_with(why), "{reason}");
        }
        // The jwt_authn form is checked wherever it is.
        assert!(matches!(
            classify(&json!({"providers": {}}), Setting::Markdown),
            Kind::Configuration
        ));
    }

    #[test]
    fn bootstrap_filters_are_found_with_their_paths() {
        let document = json!({"static_resources": {"listeners": [{"filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {"http_filters": [
                wasm_filter("other", json!({"@type": STRING_VALUE_TYPE, "value": "x"})),
                wasm_filter("jwt_gate", json!({"@type": STRING_VALUE_TYPE, "value": "{\"providers\": 1}"})),
                wasm_filter("jwt_gate", json!({"@type": BYTES_VALUE_TYPE, "value": "e30"})),
                wasm_filter("jwt_gate", json!({"@type": "type.googleapis.com/google.protobuf.Struct", "value": {}})),
                wasm_filter("jwt_gate", Value::Null),
                {"name": "native", "typed_config": {
                    "@type": DYNAMIC_MODULE_TYPE,
                    "dynamic_module_config": {"name": "jwt_gate"},
                    "filter_config": {"@type": STRING_VALUE_TYPE, "value": "{}"},
                }},
            ]},
        }]}]}]}});
        let items = holder(document);
        assert!(matches!(items[0].what, What::Bootstrap(_)));
        let filters =
            "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters";
        let found: Vec<(String, String)> = items[1..]
            .iter()
            .map(|item| {
                let what = match &item.what {
                    What::Configuration(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    What::Skipped(_) => "skipped".to_owned(),
                    What::Unusable(why) => why.split(':').next().unwrap().to_owned(),
                    other => format!("{other:?}"),
                };
                (item.path.to_string().replace(filters, "~"), what)
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "~[0].typed_config.config.configuration".to_owned(),
                    "skipped".to_owned()
                ),
                (
                    "~[1].typed_config.config.configuration".to_owned(),
                    "{\"providers\": 1}".to_owned()
                ),
                (
                    "~[2].typed_config.config.configuration".to_owned(),
                    "{}".to_owned()
                ),
                (
                    "~[3].typed_config.config.configuration".to_owned(),
                    "the configuration is a type.googleapis.com/google.protobuf.Struct".to_owned()
                ),
                (
                    "~[4].typed_config.config.configuration".to_owned(),
                    String::new()
                ),
                (
                    "~[5].typed_config.filter_config".to_owned(),
                    "{}".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn kubernetes_manifests() {
        let items = holder(json!({
            "apiVersion": "extensions.istio.io/v1alpha1", "kind": "WasmPlugin",
            "metadata": {"name": "auth", "namespace": "istio-system"},
            "spec": {"url": "oci://ghcr.io/x/jwt-gate:1", "pluginConfig": {"providers": {}}},
        }));
        let [Item {
            path,
            context,
            what: What::Configuration(bytes),
        }] = &items[..]
        else {
            panic!("{items:?}")
        };
        assert_eq!(path.to_string(), "spec.pluginConfig");
        assert_eq!(context.as_deref(), Some("WasmPlugin istio-system/auth"));
        assert_eq!(bytes, br#"{"providers":{}}"#);

        let items = holder(json!({
            "apiVersion": "extensions.istio.io/v1alpha1", "kind": "TrafficExtension",
            "metadata": {"name": "jwt-gate"},
            "spec": {"wasm": {"url": "oci://x/y:1"}},
        }));
        assert!(matches!(&items[..], [Item { what: What::Configuration(b), .. }] if b.is_empty()));

        let items = holder(json!({
            "apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyExtensionPolicy",
            "metadata": {"name": "policies"},
            "spec": {"wasm": [
                {"name": "other", "code": {"type": "Image", "image": {"url": "ghcr.io/x/other:1"}}, "config": {}},
                {"rootID": "jwt_gate", "config": "{}"},
            ]},
        }));
        let summary: Vec<(String, bool)> = items
            .iter()
            .map(|i| (i.path.to_string(), matches!(i.what, What::Skipped(_))))
            .collect();
        assert_eq!(
            summary,
            [
                ("spec.wasm[0]".to_owned(), true),
                ("spec.wasm[1].config".to_owned(), false)
            ]
        );
        assert!(matches!(items[1].what, What::Unusable(_)));

        let items = holder(json!({
            "apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "EnvoyPatchPolicy",
            "metadata": {"name": "keys"},
            "spec": {"jsonPatches": [{
                "type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
                "name": "jwks", "operation": {"op": "add", "path": "", "value": {"name": "jwks"}},
            }]},
        }));
        assert!(matches!(
            &items[..],
            [Item {
                what: What::Cluster(_),
                ..
            }]
        ));
        assert_eq!(
            items[0].path.to_string(),
            "spec.jsonPatches[0].operation.value"
        );

        let items = holder(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {},
        }));
        assert!(matches!(
            &items[..],
            [Item {
                what: What::Skipped(_),
                ..
            }]
        ));
    }

    #[test]
    fn envoy_fragments_and_cluster_lists() {
        let cluster = json!({"name": "auth0", "load_assignment": {}});
        let items = holder(json!({
            "http_filters": [wasm_filter("jwt_gate", json!({"@type": STRING_VALUE_TYPE, "value": "{}"}))],
            "clusters": [cluster.clone()],
            "listeners": [{"name": "main"}],
        }));
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| match i.what {
                What::HttpFilters(_) => "http_filters",
                What::Configuration(_) => "configuration",
                What::Listener(_) => "listener",
                What::Cluster(_) => "cluster",
                _ => "other",
            })
            .collect();
        assert_eq!(
            kinds,
            ["http_filters", "configuration", "listener", "cluster"]
        );
        assert!(matches!(
            &holder(json!([cluster]))[..],
            [Item {
                what: What::Cluster(_),
                ..
            }]
        ));
        // A list of filter entries, and a typed_config alone.
        let entry = wasm_filter(
            "jwt_gate",
            json!({"@type": STRING_VALUE_TYPE, "value": "{}"}),
        );
        let items = holder(json!([entry.clone()]));
        assert!(matches!(
            &items[..],
            [
                Item {
                    what: What::HttpFilters(_),
                    ..
                },
                Item {
                    what: What::Configuration(_),
                    ..
                }
            ]
        ));
        let Kind::Holder(items) = classify(&entry["typed_config"], Setting::Markdown) else {
            panic!()
        };
        assert!(matches!(
            &items[..],
            [Item {
                what: What::Configuration(_),
                ..
            }]
        ));
        assert_eq!(items[0].path.to_string(), "config.configuration");
    }

    #[test]
    fn paths_quote_what_is_not_a_plain_name() {
        let path = Path::default()
            .key("a")
            .index(2)
            .key("envoy.filters.http.wasm")
            .key("b");
        assert_eq!(path.to_string(), r#"a[2]["envoy.filters.http.wasm"].b"#);
        assert_eq!(path.last_key(), Some("b"));
    }
}
