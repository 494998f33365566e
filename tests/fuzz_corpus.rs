//! Replays the fuzz seed corpus (`fuzz/corpus/<target>/`) and every input that ever crashed a
//! target (`fuzz/regressions/<target>/`) through the same entry points the fuzz targets call, as
//! ordinary tests: no nightly toolchain needed, and a fixed crash stays fixed.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::fs;
use std::path::Path;

use jwt_gate::fuzzing;

fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        for file in entries {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            entry(&fs::read(&path).unwrap());
            count += 1;
        }
    }
    count
}

#[test]
fn token_corpus() {
    assert!(replay("token", fuzzing::token) >= 50);
}

#[test]
fn key_set_corpus() {
    assert!(replay("key_set", fuzzing::key_set) >= 15);
}

#[test]
fn config_corpus() {
    assert!(replay("config", fuzzing::config) >= 3);
}

#[test]
fn request_corpus() {
    assert!(replay("request", fuzzing::request) >= 5);
}

#[test]
fn template_corpus() {
    assert!(replay("template", fuzzing::template) >= 5);
}
