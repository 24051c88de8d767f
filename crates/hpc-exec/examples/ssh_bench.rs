//! The hpckit side of `cargo xtask bench ssh`: N sequential `true` commands
//! over one SSH connection, timed per round (connecting is not timed).
//!
//! ```text
//! cargo run --release -p hpc-exec --example ssh_bench -- \
//!     --host 127.0.0.1 --port 2222 --user hpctest --key <file> --known-hosts <file> \
//!     [--count 200] [--rounds 3]
//! ```
//! Prints one `round <i> <seconds>` line per round.

use std::time::Instant;

use hpc_auth::{Credential, CredentialMap};
use hpc_exec::ssh::{SshExecutor, SshOptions};
use hpc_exec::{Command, Executor};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn need(args: &[String], name: &str) -> String {
    arg(args, name).unwrap_or_else(|| {
        eprintln!("missing {name} (see the example's doc comment)");
        std::process::exit(2)
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpc_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = need(&args, "--port").parse().expect("--port");
    let user = need(&args, "--user");
    let count: usize = arg(&args, "--count").map_or(200, |c| c.parse().expect("--count"));
    let rounds: usize = arg(&args, "--rounds").map_or(3, |c| c.parse().expect("--rounds"));
    let opts = SshOptions::new(need(&args, "--host"))
        .port(port)
        .user(&user)
        .known_hosts_file(need(&args, "--known-hosts"))
        .load_ssh_config(false);
    let creds =
        CredentialMap::with_default(Credential::key_file(&user, need(&args, "--key"), None));
    let ssh = SshExecutor::connect(opts, &creds).await?;
    let cmd = Command::new("true");
    // Warm up: the first channel pays for lazy setup on both sides.
    ssh.run_checked(&cmd).await?;
    for round in 0..rounds {
        let started = Instant::now();
        for _ in 0..count {
            ssh.run_checked(&cmd).await?;
        }
        println!("round {round} {:.6}", started.elapsed().as_secs_f64());
    }
    ssh.close().await;
    Ok(())
}
