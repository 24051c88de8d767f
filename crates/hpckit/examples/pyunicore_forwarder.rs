//! PyUNICORE README, "Tunneling / port forwarding" (`python3 -m
//! pyunicore.forwarder -L LOCAL_PORT JOB_URL/forward-port?port=REMOTE_PORT`):
//! open a local port whose connections reach a port on the job's login
//! node, through the UNICORE server.
//!
//! Arguments: `JOB_URL REMOTE_PORT [LOCAL_PORT]` (default local port: any
//! free one, printed); user, password and CA as `pyunicore_client`.

#[path = "support/mod.rs"]
mod support;

use hpckit::Error;
use hpckit::unicore::Forwarder;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = || {
        Error::InvalidInput("usage: pyunicore_forwarder JOB_URL REMOTE_PORT [LOCAL_PORT]".into())
    };
    let job_url = args.next().ok_or_else(usage)?;
    let remote_port: u16 = args.next().and_then(|p| p.parse().ok()).ok_or_else(usage)?;
    let local_port: u16 =
        args.next().map(|p| p.parse()).transpose().map_err(|_| usage())?.unwrap_or(0);

    let endpoint = format!("{job_url}/forward-port?port={remote_port}");
    let forwarder = Forwarder::new(&support::unicore_transport()?, &endpoint);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", local_port))
        .await
        .map_err(|e| Error::io("opening the local port", e))?;
    let local = listener.local_addr().map_err(|e| Error::io("reading the local address", e))?;
    println!("forwarding {local} to port {remote_port} of {job_url}");
    forwarder.serve(listener, false).await
}
