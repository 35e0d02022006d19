#![no_main]
//! `lattice_fuzz_targets::host_data` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_fuzz_targets::host_data(data));
