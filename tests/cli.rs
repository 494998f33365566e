//! The `jwt-gate` command line against golden outputs in `tests/data/cli/` (regenerate them with
//! `JWT_GATE_UPDATE_GOLDEN=1 cargo test --test cli`, then review the diff). Envoy's own
//! `--mode validate` checks what `envoy-config` prints in `integration/test_openapi.py`.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use jwt_gate::Config;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cli")
        .join(name)
}

/// Runs the CLI; returns (exit code, stdout, stderr).
fn jwt_gate(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_jwt-gate"))
        .args(args)
        .current_dir(data(""))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Runs the CLI with `stdin` as standard input.
fn jwt_gate_stdin(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jwt-gate"))
        .args(args)
        .current_dir(data(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn golden(name: &str, actual: &str) {
    let path = data(name);
    if std::env::var_os("JWT_GATE_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (JWT_GATE_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "{name} differs from the golden file");
}

#[test]
fn from_openapi_yaml() {
    // The bookstore's API keys: refused until the options say how to check them.
    let (code, stdout, stderr) = jwt_gate(&["from-openapi", "bookstore.yaml"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        "jwt-gate: configuration rejected: openapi: GET /v1/files/{name=**} (GetFile), \
         POST /v1/shelves/{shelf}/books (CreateBook) require API keys \"api_key\", \"header_key\", which \
         jwt-gate cannot check; set \"api_keys\" (see docs/openapi.md)\n"
    );
    let (code, stdout, stderr) = jwt_gate(&[
        "from-openapi",
        "bookstore.yaml",
        "--options",
        "bookstore-api-keys.json",
    ]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            0,
            "warning: openapi.paths./v1/files/{name=**}.get: GET /v1/files/{name=**} (GetFile): \
             an API key alone passes (its security lists it as an alternative to a JWT); Cloud \
             Endpoints requires the JWT there\n"
        )
    );
    golden("from-openapi.golden.json", &stdout);
}

#[test]
fn from_oci() {
    let (code, stdout, stderr) = jwt_gate(&["from-oci", "oci-deployment.json"]);
    assert_eq!(code, 0, "{stderr}");
    golden("from-oci.golden.json", &stdout);
    // What it does not translate is on standard error, one line each, naming its place.
    golden("from-oci.warnings.txt", &stderr);
    assert!(stderr
        .lines()
        .all(|line| line.starts_with("warning: specification.")));
}

#[test]
fn from_oci_refuses_what_it_cannot_translate() {
    let deployment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data("oci-deployment.json")).unwrap()).unwrap();
    let mut typo = deployment.clone();
    let policy = &mut typo["specification"]["requestPolicies"]["authentication"];
    policy["verifyClaim"] = policy["verifyClaims"].take();
    let (code, stdout, stderr) = jwt_gate_stdin(&["from-oci", "-"], typo.to_string().as_bytes());
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert_eq!(
        stderr,
        "jwt-gate: configuration rejected: specification.requestPolicies.authentication.verifyClaim: unknown field (did you mean verifyClaims?)\n"
    );
    // A jwt-gate configuration given to from-oci: say which command reads it.
    let (code, _, stderr) = jwt_gate(&["from-oci", "jwt_authn.json"]);
    assert_eq!(code, 1);
    assert!(
        stderr.ends_with(
            "\n  this is already jwt-gate's configuration: `jwt-gate check FILE` checks it\n"
        ),
        "{stderr}"
    );
}

#[test]
fn check_prints_what_it_understood() {
    let (code, stdout, _) = jwt_gate(&["check", "jwt_authn.json"]);
    assert_eq!(code, 0);
    golden("check.golden.txt", &stdout);
    // The OpenAPI form goes through the same parser.
    let (code, stdout, _) = jwt_gate(&["check", "bookstore-plugin.json"]);
    assert_eq!(code, 0, "{stdout}");
    golden("check-openapi.golden.txt", &stdout);
}

#[test]
fn check_explains_when_rules_and_templated_issuers() {
    let (code, stdout, stderr) = jwt_gate(&["check", "authz.json"]);
    assert_eq!(code, 0, "{stderr}");
    golden("check-authz.golden.txt", &stdout);
    assert!(stdout.contains("accepts every tenant"), "{stdout}");
    assert!(
        stdout.contains("{tid} must be the token's tid claim"),
        "{stdout}"
    );
    assert!(
        stdout.contains("when (one token that satisfied it, else 403): request.auth.claims[groups] in [admins, ops-*]; "),
        "{stdout}"
    );
}

#[test]
fn from_istio() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("envoy/istio/migration");
    let before = root.join("before.yaml");
    let (code, stdout, stderr) = jwt_gate(&["from-istio", before.to_str().unwrap()]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    // It loads as the filter loads it; envoy/istio/migration/after.yaml carries it (a unit test
    // of src/translate/istio holds the two equal).
    Config::from_json(stdout.as_bytes()).unwrap();
    assert!(stdout.contains("\"key\": \"request.auth.claims[https://example.com/roles]\""));
    // What it cannot express is an error naming the document and the field.
    let text = std::fs::read_to_string(&before).unwrap();
    let with_ip = text.replace(
        "requestPrincipals:",
        "ipBlocks: [10.0.0.0/8]\n        requestPrincipals:",
    );
    let (code, stdout, stderr) =
        jwt_gate_stdin(&["from-istio", "-", "--format", "yaml"], with_ip.as_bytes());
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(
        stderr.starts_with(
            "jwt-gate: configuration rejected: document 2 (AuthorizationPolicy \
             istio-system/require-auth0): spec.rules[1].from[0].source.ipBlocks: not translated"
        ),
        "{stderr}"
    );
    // Another command given an Istio policy names this one.
    let first = text.split("\n---\n").next().unwrap();
    let (code, _, stderr) =
        jwt_gate_stdin(&["from-oci", "-", "--format", "yaml"], first.as_bytes());
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`jwt-gate from-istio FILE` translates"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_api_keys_it_cannot_check() {
    // The filter would refuse the bookstore without api_keys: so does check, with its line.
    let (code, stdout, stderr) = jwt_gate(&["check", "bookstore.yaml"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(
        stderr.starts_with(
            "jwt-gate: configuration rejected: openapi: GET /v1/files/{name=**} (GetFile), "
        ),
        "{stderr}"
    );
}

#[test]
fn check_fails_with_the_filters_message() {
    let (code, stdout, stderr) = jwt_gate(&["check", "invalid.json"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    // The filter logs exactly this (after its own "jwt-gate: " prefix) and refuses to load.
    assert_eq!(
        stderr,
        "jwt-gate: configuration rejected: providers.auth0.audiences: expected a list of strings\n"
    );
}

#[test]
fn envoy_config() {
    let (code, stdout, stderr) = jwt_gate(&[
        "envoy-config",
        "jwt_authn.json",
        "--wasm",
        "/opt/jwt_gate.wasm",
        "--upstream",
        "backend.internal:8080",
    ]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    golden("envoy-config.golden.yaml", &stdout);
}

#[test]
fn envoy_config_native() {
    // The same bootstrap with the dynamic-module filter in place of the wasm one, the same
    // configuration, and the line that says how Envoy finds the module.
    let (code, stdout, stderr) = jwt_gate(&[
        "envoy-config",
        "jwt_authn.json",
        "--native",
        "--upstream",
        "backend.internal:8080",
    ]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    golden("envoy-config-native.golden.yaml", &stdout);
    assert!(stdout.contains("ENVOY_DYNAMIC_MODULES_SEARCH_PATH"));
    assert!(stdout.contains("headers_with_underscores_action: REJECT_REQUEST"));
    let (code, _, stderr) =
        jwt_gate(&["envoy-config", "jwt_authn.json", "--native", "--wasm", "x"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--native and --wasm"), "{stderr}");
    let (code, _, stderr) = jwt_gate(&["envoy-config", "jwt_authn.json", "--native=yes"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--native takes no value"), "{stderr}");
}

/// A file under the test's temporary directory with these bytes.
fn temporary(name: &str, bytes: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Inputs where a lenient reader and the filter's parser disagree, for the verdict test.
const TRICKY_INPUTS: &[(&str, &[u8])] = &[
    (
        "trailing-comma.json",
        br#"{"providers": {"p": {"issuer": "i", "local_jwks": {"inline_string": "x"}},}}"#,
    ),
    (
        "duplicate-member.json",
        br#"{"providers": {}, "providers": {}}"#,
    ),
    ("yaml-in-json.json", b"providers:\n  p:\n    issuer: i\n"),
    ("comment.json", b"// a comment\n{}"),
    ("bom.json", b"\xef\xbb\xbf{}"),
    ("empty.json", b""),
    ("not-utf8.json", b"{\"providers\": \"\xff\"}"),
    ("single-quotes.json", b"{'providers': {}}"),
    (
        "no-extension",
        br#"{"providers": {"p": {"issuer": "i", "local_jwks": {"inline_string": "x"}},}}"#,
    ),
];

#[test]
fn check_verdict_is_the_filters_on_every_input() {
    // The fuzz seeds and regressions, and inputs a lenient reader would accept: `check` exits 0
    // exactly when the filter's own parser accepts the file's bytes.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<PathBuf> = ["corpus/config", "regressions/config"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir)).ok())
        .flatten()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.extend(
        TRICKY_INPUTS
            .iter()
            .map(|(name, bytes)| temporary(name, bytes)),
    );
    files.push(data("jwt_authn.json"));
    files.push(data("invalid.json"));
    files.push(data("oci-deployment.json"));
    assert!(files.len() >= 18, "{files:?}");
    let mut accepted = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let filter = Config::from_json(&bytes);
        let (code, stdout, stderr) = jwt_gate(&["check", file.to_str().unwrap()]);
        match &filter {
            Ok(_) => {
                accepted += 1;
                assert_eq!(code, 0, "{}: {stderr}", file.display());
                assert!(stdout.starts_with("configuration OK\n"));
            }
            Err(error) => {
                assert_eq!(code, 1, "{}: {stdout}", file.display());
                assert!(
                    stderr.starts_with(&format!("jwt-gate: configuration rejected: {error}\n")),
                    "{}: {stderr}",
                    file.display()
                );
            }
        }
        // Standard input is the same parser.
        let (code_stdin, _, _) = jwt_gate_stdin(&["check", "-"], &bytes);
        assert_eq!(code_stdin, code, "{} on stdin", file.display());
    }
    assert!(
        accepted >= 4,
        "too few accepted inputs: the test would pass with everything refused"
    );
}

#[test]
fn check_reads_yaml_only_when_told() {
    let yaml = b"providers:\n  p:\n    issuer: i\n    remote_jwks:\n      http_uri: {uri: 'https://i.test/jwks', cluster: c}\n";
    let file = temporary("config.yaml", yaml);
    let (code, stdout, _) = jwt_gate(&["check", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, _) = jwt_gate_stdin(&["check", "-"], yaml);
    assert_eq!(code, 1);
    let (code, _, stderr) = jwt_gate_stdin(&["check", "-", "--format", "yaml"], yaml);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn check_names_the_command_for_other_formats() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "oci-deployment.json",
            "providers: at least one provider is required",
            "this is an OCI API Gateway deployment: `jwt-gate from-oci FILE` translates it (then check what it prints)",
        ),
        (
            "openapi3.json",
            "",
            "this is an OpenAPI 3.0.3 document: jwt-gate reads OpenAPI 2.0 (`swagger: \"2.0\"`, Cloud Endpoints' form) only",
        ),
        (
            "jwt_authn-filter.json",
            "",
            "this is an Envoy filter entry: give the contents of Envoy jwt_authn's typed_config (providers, rules), without @type",
        ),
    ];
    temporary(
        "openapi3.json",
        br#"{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}"#,
    );
    temporary(
        "jwt_authn-filter.json",
        br#"{"@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication", "providers": {}}"#,
    );
    for (file, reason, hint) in cases {
        let path = if *file == "oci-deployment.json" {
            data(file)
        } else {
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(file)
        };
        let (code, stdout, stderr) = jwt_gate(&["check", path.to_str().unwrap()]);
        assert_eq!((code, stdout.as_str()), (1, ""), "{file}");
        assert!(stderr.contains(reason), "{file}: {stderr}");
        assert!(
            stderr.ends_with(&format!("\n  {hint}\n")),
            "{file}: {stderr}"
        );
    }
}

#[test]
fn every_command_has_help_and_there_is_a_version() {
    for command in [
        "check",
        "from-openapi",
        "from-oci",
        "from-istio",
        "envoy-config",
    ] {
        for args in [
            &[command, "--help"][..],
            &[command, "-h"][..],
            &["help", command][..],
        ] {
            let (code, stdout, stderr) = jwt_gate(args);
            assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
            assert!(
                stdout.starts_with(&format!("usage:\n  jwt-gate {command} ")),
                "{args:?}: {stdout}"
            );
            assert_eq!(
                stdout.matches("  jwt-gate ").count(),
                1,
                "{args:?}: one command"
            );
        }
    }
    let (code, stdout, _) = jwt_gate(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("jwt-gate --version"));
    for flag in ["--version", "-V"] {
        let (code, stdout, _) = jwt_gate(&[flag]);
        assert_eq!(
            (code, stdout.as_str()),
            (0, concat!("jwt-gate ", env!("CARGO_PKG_VERSION"), "\n"))
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &[][..],
        &["check"][..],
        &["from-oci", "a", "b"][..],
        &["check", "a", "--wasm", "x.wasm"][..],
        &["check", "a", "--report", "xml"][..],
        &["envoy-config", "jwt_authn.json", "--nope", "x"][..],
        &["check", "jwt_authn.json", "--format", "toml"][..],
        &["help", "frobnicate"][..],
    ] {
        let (code, _, stderr) = jwt_gate(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(stderr.contains("usage:"), "{args:?}: {stderr}");
    }
    let (code, _, stderr) = jwt_gate(&["check", "no-such-file.json"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("jwt-gate: no-such-file.json: "),
        "{stderr}"
    );
    // Files are bounded: a CI job may check files it does not trust.
    let huge = temporary("huge.json", &vec![b' '; (16 << 20) + 1]);
    let (code, _, stderr) = jwt_gate(&["check", huge.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.ends_with("huge.json: larger than 16 MiB\n"),
        "{stderr}"
    );
    let (code, stdout, _) = jwt_gate(&["check", huge.to_str().unwrap(), "jwt_authn.json"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("huge.json: larger than 16 MiB\n"),
        "{stdout}"
    );
}

#[test]
fn docs_show_what_check_prints() {
    let (code, stdout, _) = jwt_gate(&["check", "petstore.yaml"]);
    assert_eq!(code, 0);
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.md"))
            .unwrap();
    let shown = doc
        .split("<!-- checked: jwt-gate check petstore.yaml -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    assert_eq!(shown, stdout, "docs/openapi.md shows another output");
}

/// A repository file, as a path `check` can be given.
fn repository(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .to_str()
        .unwrap()
        .to_owned()
}

/// The 1-based line of the only line of `path` that contains `needle`.
fn line_of(path: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle) && !line.trim_start().starts_with('#'))
        .map(|(index, _)| index + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{path}: {needle}");
    lines[0]
}

#[test]
fn check_reads_manifests_bootstraps_and_markdown() {
    let wasm_plugin = repository("envoy/istio/wasmplugin.yaml");
    let traffic_extension = repository("envoy/istio/trafficextension.yaml");
    let extension_policy = repository("envoy/envoy-gateway/envoyextensionpolicy.yaml");
    let bootstrap = repository("envoy/envoy.yaml");
    let recipe = repository("docs/providers/okta.md");
    let (code, stdout, stderr) = jwt_gate(&[
        "check",
        &wasm_plugin,
        &traffic_extension,
        &extension_policy,
        &bootstrap,
        &recipe,
    ]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    // Each configuration: file, line of its member, path inside the document, what holds it.
    for expected in [
        format!(
            "ok    {wasm_plugin}:{}: spec.pluginConfig: jwt-gate configuration (WasmPlugin \
             istio-system/jwt-gate): configuration OK: 1 provider(s), 2 rule(s)\n",
            line_of(&wasm_plugin, "pluginConfig:")
        ),
        format!(
            "ok    {traffic_extension}:{}: spec.wasm.pluginConfig: jwt-gate configuration \
             (TrafficExtension istio-system/jwt-gate): configuration OK",
            line_of(&traffic_extension, "pluginConfig:")
        ),
        format!(
            "ok    {extension_policy}:{}: spec.wasm[0].config: jwt-gate configuration \
             (EnvoyExtensionPolicy default/jwt-gate): configuration OK",
            line_of(&extension_policy, " config:")
        ),
        format!(
            "ok    {bootstrap}:{}: static_resources.listeners[0].filter_chains[0].filters[0]\
             .typed_config.http_filters[0].typed_config.config.configuration: jwt-gate \
             configuration (wasm filter jwt_gate): configuration OK",
            line_of(&bootstrap, " configuration:")
        ),
        // Markdown: the block's opening fence.
        format!(
            "ok    {recipe}:{}: jwt-gate configuration: configuration OK",
            line_of(&recipe, "```json")
        ),
        // What jwt-gate cannot check without Envoy is said, not passed over.
        format!("skip  {bootstrap}:"),
        "Envoy bootstrap: Envoy's to check (give --envoy)\n".to_owned(),
        format!("skip  {recipe}:"),
        ": clusters[0]: cluster okta: Envoy's to check (give --envoy)\n".to_owned(),
    ] {
        assert!(stdout.contains(&expected), "{expected}\nnot in\n{stdout}");
    }
    assert_eq!(stdout.matches("configuration OK").count(), 5, "{stdout}");
    assert!(stdout.ends_with("jwt-gate check: 5 passed, 0 failed, 2 skipped, 0 warning(s)\n"));
}

#[test]
fn check_names_the_file_line_and_path_of_a_refused_configuration() {
    let manifests = temporary(
        "manifests.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {}\n---\n\
          # jwt-gate\napiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n\
          metadata: {name: jwt-gate, namespace: istio-system}\nspec:\n  url: oci://x/jwt-gate:1\n\
          \x20 pluginConfig:\n    providers:\n      a: {issuer: i, audiences: x, local_jwks: {inline_string: x}}\n",
    );
    let manifests = manifests.to_str().unwrap();
    let (code, stdout, _) = jwt_gate(&["check", manifests]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "skip  {manifests}:1: ConfigMap other: no jwt-gate configuration in it\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "FAIL  {manifests}:12: spec.pluginConfig: jwt-gate configuration (WasmPlugin \
             istio-system/jwt-gate): configuration rejected: providers.a.audiences: expected a \
             list of strings\n"
        )),
        "{stdout}"
    );
    // Another module's plugin is not jwt-gate's to judge.
    let other = temporary(
        "other-plugin.yaml",
        b"apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: basic-auth}\n\
          spec: {url: oci://x/basic-auth:1, pluginConfig: {users: []}}\n",
    );
    let (code, stdout, _) = jwt_gate(&["check", other.to_str().unwrap()]);
    assert_eq!(code, 1, "nothing checked: {stdout}");
    assert!(
        stdout.contains("another module's (oci://x/basic-auth:1)"),
        "{stdout}"
    );
    assert!(stdout.contains(": nothing to check: "), "{stdout}");
}

/// A wasm filter entry of `module` (root id and code file) with `configuration`.
fn wasm_filter_yaml(module: &str, configuration: &str) -> String {
    format!(
        "- name: {module}\n  typed_config:\n    \"@type\": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm\n    config:\n      root_id: {module}\n      vm_config: {{runtime: envoy.wasm.runtime.v8, code: {{local: {{filename: /etc/envoy/{module}.wasm}}}}}}\n      configuration: {configuration}\n"
    )
}

#[test]
fn check_reads_markdown_blocks_and_says_what_it_skipped() {
    let string_value = "{\"@type\": type.googleapis.com/google.protobuf.StringValue, value: '{\"providers\": {\"p\": {\"issuer\": \"i\"}}}'}";
    let markdown = format!(
        "# Notes\n\n```sh\nmake build\n```\n\n```json\n{{\"providers\": {{\"p\": {{\"issuer\": \"i\", \"local_jwks\": {{\"inline_string\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}}}}}}}\n```\n\n\
         ```yaml\nswagger: \"2.0\"\nhost: ...\n```\n\n```json\n{{\"providers\": ...}}\n```\n\n\
         ```yaml\nhttp_filters:\n{}{}```\n\n\
         - a list item:\n\n  ```yaml\n  {}  ```\n",
        wasm_filter_yaml("jwt_gate", string_value).replace("\n", "\n  ").trim_end_matches(' ').replacen("- ", "  - ", 1),
        wasm_filter_yaml("other", string_value).replace("\n", "\n  ").trim_end_matches(' ').replacen("- ", "  - ", 1),
        wasm_filter_yaml("jwt_gate", "{\"@type\": type.googleapis.com/google.protobuf.Struct, value: {providers: {}}}")
            .replace("\n", "\n  ")
            .trim_end_matches(' '),
    );
    let file = temporary("notes.md", markdown.as_bytes());
    let file = file.to_str().unwrap();
    let (code, stdout, _) = jwt_gate(&["check", file]);
    assert_eq!(code, 1, "{stdout}");
    for expected in [
        format!("skip  {file}: a code block neither JSON nor YAML, at line 3 (sh)\n"),
        format!(
            "ok    {file}:7: jwt-gate configuration: configuration OK: 1 provider(s), 0 rule(s)\n"
        ),
        format!("skip  {file}:11: ```yaml block: an OpenAPI document: in Markdown, an example"),
        // Looks like a configuration, cannot be read: an error, not a skip.
        format!("FAIL  {file}:16: ```json block: not JSON: "),
        // The line of the member when the block names it once, else of the block.
        format!("skip  {file}:21: http_filters: filter chain: Envoy's to check (give --envoy)\n"),
        format!("FAIL  {file}:20: http_filters[0].typed_config.config.configuration: "),
        "http_filters[0].typed_config.config.configuration: jwt-gate configuration (wasm filter \
         jwt_gate): configuration rejected: providers.p: "
            .to_owned(),
        "http_filters[1].typed_config.config.configuration: wasm filter other: another module's \
         filter: not jwt-gate's to check\n"
            .to_owned(),
        "[0].typed_config.config.configuration: jwt-gate configuration (wasm filter jwt_gate): \
         the configuration is a type.googleapis.com/google.protobuf.Struct: Envoy would hand \
         jwt-gate its protobuf encoding, not JSON"
            .to_owned(),
    ] {
        assert!(stdout.contains(&expected), "{expected}\nnot in\n{stdout}");
    }
    assert!(
        stdout.ends_with("jwt-gate check: 1 passed, 3 failed, 5 skipped, 0 warning(s)\n"),
        "{stdout}"
    );
}

#[test]
fn check_fails_a_file_with_nothing_to_check() {
    let notes = temporary("nothing.md", b"# Notes\n\n```sh\nls\n```\n");
    let (code, stdout, _) = jwt_gate(&["check", notes.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(": nothing to check: no jwt-gate configuration"),
        "{stdout}"
    );
    // A bootstrap without jwt-gate: only Envoy could check it.
    let bootstrap = temporary(
        "no-jwt-gate.yaml",
        b"static_resources:\n  listeners: []\n  clusters: []\n",
    );
    let (code, stdout, _) = jwt_gate(&["check", bootstrap.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(": nothing jwt-gate can check (only Envoy's: give --envoy)\n"),
        "{stdout}"
    );
}

#[test]
fn check_reads_dynamic_module_filters() {
    // The native module's filter_config: the same configuration, as Envoy hands it over.
    let bootstrap = temporary(
        "dynamic-module.yaml",
        b"static_resources:\n  listeners:\n  - name: l\n    filter_chains:\n    - filters:\n      - name: hcm\n        typed_config:\n          http_filters:\n          - name: jwt_gate\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter\n              dynamic_module_config: {name: jwt_gate}\n              filter_name: jwt_gate\n              filter_config:\n                \"@type\": type.googleapis.com/google.protobuf.StringValue\n                value: '{\"providers\": {}}'\n",
    );
    let bootstrap = bootstrap.to_str().unwrap();
    let (code, stdout, _) = jwt_gate(&["check", bootstrap]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "FAIL  {bootstrap}:14: static_resources.listeners[0].filter_chains[0].filters[0]\
             .typed_config.http_filters[0].typed_config.filter_config: jwt-gate configuration \
             (dynamic-module filter jwt_gate): configuration rejected: providers: at least one \
             provider is required\n"
        )),
        "{stdout}"
    );
}

#[test]
fn check_reports_json_for_tools() {
    let recipe = repository("docs/providers/okta.md");
    let (code, stdout, _) = jwt_gate(&["check", &recipe, "invalid.json", "--report", "json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let [configuration] = &findings
        .iter()
        .filter(|f| f["file"] == recipe.as_str() && f["kind"] == "configuration")
        .collect::<Vec<_>>()[..]
    else {
        panic!("{stdout}")
    };
    assert_eq!(configuration["status"], "ok");
    assert_eq!(configuration["checker"], "jwt-gate");
    assert_eq!(configuration["line"], line_of(&recipe, "```json"));
    assert!(configuration["value"]["providers"]["okta"].is_object());
    let [cluster] = &findings
        .iter()
        .filter(|f| f["kind"] == "cluster")
        .collect::<Vec<_>>()[..]
    else {
        panic!("{stdout}")
    };
    assert_eq!(
        (
            cluster["status"].as_str(),
            cluster["value"]["name"].as_str()
        ),
        (Some("skipped"), Some("okta"))
    );
    let [refused] = &findings
        .iter()
        .filter(|f| f["file"] == "invalid.json")
        .collect::<Vec<_>>()[..]
    else {
        panic!("{stdout}")
    };
    assert_eq!(refused["status"], "error");
    assert_eq!(
        refused["message"],
        "configuration rejected: providers.auth0.audiences: expected a list of strings"
    );
}

#[test]
fn check_says_how_tokens_are_bound_to_their_sender() {
    let config = r#"{"providers": {"okta": {
        "issuer": "https://dev-123456.okta.com/oauth2/default",
        "local_jwks": {"inline_string": "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}"},
        "dpop": {"required": true, "max_proof_age": "30s", "algorithms": ["ES256", "EdDSA"]},
        "certificate_bound": true}},
      "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "okta"}}]}"#;
    let (code, stdout, stderr) = jwt_gate_stdin(&["check", "-"], config.as_bytes());
    assert_eq!(code, 0, "{stderr}");
    golden("check-sender-constrained.golden.txt", &stdout);
}
