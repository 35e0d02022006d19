#![no_main]
//! `lattice_fuzz_targets::health_replies` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_fuzz_targets::health_replies(data));
