//! The hpckit side of `cargo xtask bench uftp`: one download or upload
//! through the auth server and UFTPD, as a process of its own so that its
//! wall time, CPU time and peak RSS can be measured.
//!
//! `uftp_bench download|upload REMOTE LOCAL STREAMS [aes|blowfish] [gzip]`,
//! with `UFTP_AUTH_URL`, `UFTP_USER`, `UFTP_PASSWORD`, `UFTP_CA` set.

use std::path::Path;

use uftp_proto::{
    Algorithm, AuthRequest, AuthServer, EncryptionKey, Session, TransferOptions, transfer,
};

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"))
}

#[tokio::main]
async fn main() -> hpc_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [op, remote, local, streams, rest @ ..] = args.as_slice() else {
        panic!("usage: uftp_bench download|upload REMOTE LOCAL STREAMS [aes|blowfish] [gzip]");
    };
    let streams: usize = streams.parse().expect("STREAMS is a number");
    let algo = rest.iter().find(|a| *a != "gzip").map(|a| a.parse::<Algorithm>()).transpose()?;
    let compress = rest.iter().any(|a| a == "gzip");
    let key = algo.map(EncryptionKey::generate).transpose()?;
    let transport = unicore_rest::Transport::builder()
        .credential(unicore_rest::credential::username_password(
            var("UFTP_USER"),
            var("UFTP_PASSWORD"),
        ))
        .add_ca_file(var("UFTP_CA"))
        .build()?;
    let auth = AuthServer::new(transport, &var("UFTP_AUTH_URL"))?;
    let req = AuthRequest {
        server_path: "/".into(),
        streams,
        compress,
        key: key.clone(),
        ..Default::default()
    };
    let grant = auth.authenticate(&req).await?;
    let mut s =
        Session::connect(&grant, TransferOptions { streams, key, compress, ..Default::default() })
            .await?;
    let remote = remote.trim_start_matches('/');
    match op.as_str() {
        "download" => transfer::download(&mut s, remote, Path::new(local), false, None).await?,
        "upload" => transfer::upload(&mut s, Path::new(local), remote, false, None).await?,
        other => panic!("unknown operation {other}"),
    };
    s.quit().await;
    Ok(())
}
