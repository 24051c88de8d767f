//! The Torque stand-in as a program: install it as `qsub`, `qstat`, `qdel`
//! and `pbsnodes` (links to this binary); see `hpc_testkit::torque_standin`.

fn main() {
    std::process::exit(hpc_testkit::torque_standin::main_with(std::env::args_os().collect()));
}
