#![no_main]
//! `lattice_fuzz_targets::wrpc_values` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_fuzz_targets::wrpc_values(data));
