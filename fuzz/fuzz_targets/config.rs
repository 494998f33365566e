//! Plugin configuration parsing (jwt_authn's JSON and jwt-gate's extensions).
#![no_main]

use jwt_gate::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzzing::config(data));
