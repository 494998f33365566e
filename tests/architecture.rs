//! The architecture, held against the code (ARCHITECTURE.md says why each rule exists):
//! - only `src/hosts/` talks to a host: no other module names `proxy_wasm`, and only
//!   `src/hosts/envoy_module/` may hold `unsafe` code;
//! - no import cycles between the modules of `src/` (file level: a file that names another
//!   module's item, through `crate::`, `super::` or a child module's path, imports it).
//!
//! Tests (`#[cfg(test)] mod tests` blocks and `tests.rs` files) and the command line
//! (`src/bin/`) are left out: they may reach anywhere.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module file of the library: its module path and its text without its tests.
fn modules() -> BTreeMap<Vec<String>, (PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().unwrap() != "bin" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().unwrap() != "tests.rs"
                && !path.components().any(|c| c.as_os_str() == "tests")
            {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(&src).unwrap().with_extension("");
            let mut segments: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => text[..at].to_owned(),
                None => text,
            };
            (segments, (path, code))
        })
        .collect()
}

/// The code without comments (a path named in a doc comment imports nothing).
fn without_comments(code: &str) -> String {
    code.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths (`a::b::c`) a piece of code names.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if is_ident(bytes[i]) && (i == 0 || !(is_ident(bytes[i - 1]) || bytes[i - 1] == b':')) {
            let mut segments = Vec::new();
            let mut j = i;
            loop {
                let start = j;
                while j < bytes.len() && is_ident(bytes[j]) {
                    j += 1;
                }
                segments.push(code[start..j].to_owned());
                if code[j..].starts_with("::") && j + 2 < bytes.len() && is_ident(bytes[j + 2]) {
                    j += 2;
                } else if code[j..].starts_with("::{") {
                    // `a::{b, c::d}`: each member continues the path.
                    let close = code[j..].find('}').map_or(bytes.len(), |c| j + c);
                    for member in code[j + 3..close].split(',') {
                        let member = member.trim();
                        if !member.is_empty() {
                            let mut full = segments.clone();
                            full.extend(member.split("::").map(|s| s.trim().to_owned()));
                            out.push(full);
                        }
                    }
                    break;
                } else {
                    break;
                }
            }
            if segments.len() > 1 {
                out.push(segments);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The modules of `known` that a module names.
fn imports(module: &[String], code: &str, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let code = without_comments(code);
    let mut out = BTreeSet::new();
    for path in paths(&code) {
        let absolute: Vec<String> = match path[0].as_str() {
            "crate" => path[1..].to_vec(),
            "super" => {
                let mut base = module.to_vec();
                let mut rest = &path[..];
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend_from_slice(rest);
                base
            }
            "self" => {
                let mut base = module.to_vec();
                base.extend_from_slice(&path[1..]);
                base
            }
            _ => {
                let mut child = module.to_vec();
                child.extend_from_slice(&path);
                child
            }
        };
        // The longest prefix that is a module is the module imported.
        let target = (1..=absolute.len())
            .rev()
            .map(|n| absolute[..n].to_vec())
            .find(|prefix| known.contains(prefix));
        if let Some(target) = target.filter(|target| target != module) {
            out.insert(target);
        }
    }
    out
}

#[test]
fn only_the_hosts_talk_to_a_host() {
    for (module, (path, code)) in modules() {
        if module.first().map(String::as_str) == Some("hosts") {
            continue;
        }
        let code = without_comments(&code);
        assert!(
            !code.contains("proxy_wasm::") && !code.contains("extern crate proxy_wasm"),
            "{} names proxy_wasm: only src/hosts/ may",
            path.display()
        );
    }
}

#[test]
fn unsafe_code_only_in_the_envoy_module_adapter() {
    for (module, (path, code)) in modules() {
        if module.starts_with(&["hosts".to_owned(), "envoy_module".to_owned()]) {
            continue;
        }
        let code = without_comments(&code);
        assert!(
            !code.contains("unsafe ") && !code.contains("allow(unsafe_code)"),
            "{} holds unsafe code: only src/hosts/envoy_module/ may",
            path.display()
        );
    }
}

#[test]
fn no_import_cycles() {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = modules
        .iter()
        .map(|(module, (_, code))| (module.clone(), imports(module, code, &known)))
        .collect();
    // Depth-first search for a back edge; the cycle is printed as a chain of files.
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|n| n == node).unwrap();
                let mut cycle = stack[start..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
            let names: Vec<String> = cycle
                .iter()
                .map(|m| {
                    if m.is_empty() {
                        "lib".to_owned()
                    } else {
                        m.join("::")
                    }
                })
                .collect();
            panic!("import cycle: {}", names.join(" -> "));
        }
    }
    // The check sees imports at all (a parser that finds nothing would pass every tree).
    let authenticator = graph.get(&vec!["authenticator".to_owned()]).unwrap();
    assert!(
        authenticator.contains(&vec!["config".to_owned()]),
        "{authenticator:?}"
    );
}
