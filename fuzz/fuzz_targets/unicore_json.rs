#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hpc_fuzz::unicore_json(data));
