#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hpc_fuzz::torque_outputs(data));
