//! libFuzzer entry of `modula_fuzz::push_body` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| modula_fuzz::push_body(data));
