//! PyUNICORE README, "Using UFTP for PyFilesystem": open a UFTP file system
//! from its URL (`uftp://user@auth-server:base-directory`, PyUNICORE's
//! format; the password comes from a credential, not the URL), then write a
//! file, list the directory and read the file back.
//!
//! Settings: `HPCKIT_UFTP_USER`, `_PASSWORD`, `_AUTH_PORT`, `_CA`; the base
//! directory is the first argument (default `/data`).

#[path = "support/mod.rs"]
mod support;

use futures::StreamExt;
use hpckit::FsUrl;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let base = std::env::args().nth(1).unwrap_or_else(|| "/data".into());
    let (fs_url, creds) = support::uftp_url(&base)?;
    let url = FsUrl::parse(&fs_url)?;
    let uftp_fs = hpckit::open_location(&url.location, &creds).await?;

    let file = url.path.join("hello-uftp.txt")?;
    uftp_fs.write(&file, support::byte_stream("Hello over UFTP\n"), None).await?;
    let mut listing = uftp_fs.list(&url.path, false);
    while let Some(entry) = listing.next().await {
        let entry = entry?;
        println!("{} {}", entry.size, entry.path);
    }
    let back = support::read_to_end(uftp_fs.as_ref(), &file).await?;
    print!("read back: {}", String::from_utf8_lossy(&back));
    Ok(())
}
