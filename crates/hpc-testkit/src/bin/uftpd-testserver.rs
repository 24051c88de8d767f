//! The UFTPD test server as a program (see `hpc_testkit::uftpd`).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use hpc_testkit::uftpd::{UftpdConfig, start};

/// A UFTPD-compatible server for tests: command port for auth servers,
/// control port for clients, serving the tree under `--root` as `/`.
#[derive(Debug, Parser)]
#[command(name = "uftpd-testserver", version)]
struct Args {
    /// The directory shown as `/`.
    #[arg(long)]
    root: PathBuf,
    /// Where to write `ready.json` (the ports) once listening.
    #[arg(long)]
    state_dir: PathBuf,
    /// Address of both ports.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Another address for the control port (same port number); repeatable.
    /// Passive-mode listeners use the address a session came in on.
    #[arg(long)]
    also_listen: Vec<IpAddr>,
    /// Command port (0: any free port).
    #[arg(long, default_value_t = 64435)]
    command_port: u16,
    /// Control port (0: any free port).
    #[arg(long, default_value_t = 64434)]
    control_port: u16,
    /// Most data connections per transfer.
    #[arg(long, default_value_t = 4)]
    max_streams: usize,
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut config = UftpdConfig::local(args.root.clone());
    config.host = args.host;
    config.also_listen = args.also_listen.clone();
    config.command_port = args.command_port;
    config.control_port = args.control_port;
    config.max_streams = args.max_streams.max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio: {e}")));
    runtime.block_on(async {
        let server = start(config).await.unwrap_or_else(|e| fail(&e.to_string()));
        let info = serde_json::json!({
            "command_port": server.command_addr.port(),
            "control_port": server.control_addr.port(),
        });
        let ready = args.state_dir.join("ready.json");
        let tmp = args.state_dir.join("ready.json.tmp");
        if std::fs::write(&tmp, info.to_string())
            .and_then(|()| std::fs::rename(&tmp, &ready))
            .is_err()
        {
            fail(&format!("cannot write {}", ready.display()));
        }
        println!("{info}");
        tokio::select! {
            () = server.wait() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
}

fn fail(msg: &str) -> ! {
    eprintln!("uftpd-testserver: {msg}");
    std::process::exit(1)
}
