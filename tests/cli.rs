//! The `jwt-gate` command line against golden outputs in `tests/data/cli/` (regenerate them with
//! `JWT_GATE_UPDATE_GOLDEN=1 cargo test --test cli`, then review the diff). Envoy's own
//! `--mode validate` checks what `envoy-config` prints in `integration/test_cli.py`.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::Command;

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
    let (code, stdout, stderr) = jwt_gate(&["from-openapi", "bookstore.yaml"]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    golden("from-openapi.golden.json", &stdout);
}

#[test]
fn from_oci() {
    let (code, stdout, stderr) = jwt_gate(&["from-oci", "oci-deployment.json"]);
    assert_eq!(code, 0, "{stderr}");
    golden("from-oci.golden.json", &stdout);
    // What it does not translate is on standard error, one line each, naming its place.
    golden("from-oci.warnings.txt", &stderr);
    assert!(stderr.lines().all(|line| line.starts_with("warning: specification.")));
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
fn usage_errors_exit_2() {
    for args in [
        &["frobnicate"][..],
        &[][..],
        &["check"][..],
        &["check", "a", "b"][..],
        &["envoy-config", "jwt_authn.json", "--nope", "x"][..],
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
