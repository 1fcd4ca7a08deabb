//! Any bytes as an API's answer (the first byte picks the API): every page parser and
//! error reader must take it without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| goalpost::source::api::fuzz(data));
