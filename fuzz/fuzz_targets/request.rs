//! A whole request (header bytes, path, query, cookies) through the authenticator: extraction,
//! route matching, requirement trees, the realm.
#![no_main]

use jwt_gate::fuzzing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fuzzing::request(data));
