//! The UNICORE test server as a program (see `hpc_testkit::unicore`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use hpc_testkit::unicore::{ServerConfig, start};

/// A UNICORE REST server for tests: site DEMO-SITE, a registry and a workflow
/// service over HTTPS with its own CA; jobs run through hpckit's local scheduler.
#[derive(Debug, Parser)]
#[command(name = "unicore-testserver", version)]
struct Args {
    /// Directory for the CA (`ca.pem`), storages and job directories.
    #[arg(long)]
    state_dir: PathBuf,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Server settings as JSON (users with passwords, tokens and an
    /// `authorized_keys` file for key-signed tokens; session lifetime); without it: user `demouser`, password `test123`, token `demotoken`.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let config = match &args.config {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", file.display())));
            let mut c: ServerConfig = serde_json::from_str(&text)
                .unwrap_or_else(|e| fail(&format!("{}: {e}", file.display())));
            c.state_dir = args.state_dir.clone();
            c.bind = args.bind;
            c
        }
        None => ServerConfig::demo(args.bind, args.state_dir.clone()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio: {e}")));
    runtime.block_on(async {
        let server = start(config).await.unwrap_or_else(|e| fail(&e.to_string()));
        let info = serde_json::json!({
            "port": server.addr.port(),
            "site_url": server.site_url,
            "workflow_url": server.workflow_url,
            "registry_url": server.registry_url,
            "ca_file": server.ca_file,
        });
        // `ready.json` tells a supervisor (the xtask) that the server listens.
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
    eprintln!("unicore-testserver: {msg}");
    std::process::exit(1)
}
