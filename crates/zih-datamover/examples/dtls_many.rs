//! `cargo xtask bench datamover`'s hpckit side: N `dtls -l DIR` started at
//! once on this host and waited for together, with typed results.
//!
//! Usage: `dtls_many BIN_DIR N DIR`

use std::sync::Arc;

use hpc_core::Path;
use hpc_exec::LocalExecutor;
use zih_datamover::{Datamover, DatamoverConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpc_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bin, n, dir] = args.as_slice() else {
        eprintln!("usage: dtls_many BIN_DIR N DIR");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    let dm = Datamover::new(Arc::new(LocalExecutor::new()), DatamoverConfig::with_bin_dir(bin))?;
    let dir = Path::new(dir)?;
    let listings = futures::future::join_all((0..n).map(|_| dm.list(&dir))).await;
    let mut entries = 0;
    for l in listings {
        entries += l?.len();
    }
    println!("entries {entries}");
    Ok(())
}
