//! `hpckit xenon-grpc`: the PyXenon server, with the Java `xenon-grpc` flags.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Serve PyXenon's `SchedulerService` and `FileSystemService`. PyXenon scripts reach
/// it with `xenon.init(port=P, disable_tls=True)`.
#[derive(Debug, Args)]
pub(crate) struct XenonGrpcArgs {
    /// Port to listen on (loopback and this host name's addresses).
    #[arg(short = 'p', long, default_value_t = xenon_compat::DEFAULT_PORT)]
    port: u16,
    /// Serve plain-text gRPC (no TLS).
    #[arg(long)]
    disable_tls: bool,
    /// PEM certificate chain of the server.
    #[arg(long, value_name = "FILE", conflicts_with = "disable_tls")]
    server_cert_chain: Option<PathBuf>,
    /// PEM private key of the server.
    #[arg(long, value_name = "FILE", conflicts_with = "disable_tls")]
    server_private_key: Option<PathBuf>,
    /// PEM certificates client certificates must chain to (turns on mutual TLS).
    #[arg(long, value_name = "FILE", conflicts_with = "disable_tls")]
    client_cert_chain: Option<PathBuf>,
}

pub(crate) async fn run(args: XenonGrpcArgs) -> anyhow::Result<ExitCode> {
    let opts = xenon_compat::ServeOptions {
        port: args.port,
        disable_tls: args.disable_tls,
        server_cert_chain: args.server_cert_chain,
        server_private_key: args.server_private_key,
        client_cert_chain: args.client_cert_chain,
    };
    let bound = xenon_compat::bind(&opts).await?;
    let addrs: Vec<String> = bound.local_addrs().iter().map(ToString::to_string).collect();
    let tls = if opts.disable_tls { "plain text" } else { "TLS" };
    eprintln!("hpckit xenon-grpc listening on {} ({tls})", addrs.join(", "));
    // PyXenon stops the Java server with SIGINT; SIGTERM is what service managers send.
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    };
    bound.serve(shutdown).await.context("xenon-grpc server")?;
    Ok(ExitCode::SUCCESS)
}
