//! Path templates (`path_template`, OpenAPI paths): parsing and matching request paths.
#![no_main]

use jwt_gate::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzzing::template(data));
