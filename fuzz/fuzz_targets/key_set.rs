//! Key set parsing: JWK sets, x509 certificate maps, PEM, symmetric key files.
#![no_main]

use jwt_gate::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzzing::key_set(data));
