//! Token parsing and verification against a fixed key set of every key type.
#![no_main]

use jwt_gate::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzzing::token(data));
