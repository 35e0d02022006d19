#![no_main]
//! `lattice_fuzz_targets::ctl_payloads` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| lattice_fuzz_targets::ctl_payloads(data));
