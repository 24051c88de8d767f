//! The ZIH datamover and workspace stand-ins as a program: install it as
//! `dtcp`, ..., `ws_list`, ... (links to this binary); see `hpc_testkit::zih`.

fn main() {
    std::process::exit(hpc_testkit::zih::main_with(std::env::args_os().collect()));
}
