//! PyUNICORE README, "Connect to a Registry and list all registered
//! services": print every site the registry knows, by name, with its URL.
//!
//! Settings: `HPCKIT_UNICORE_REGISTRY` (the registry's URL), user, password
//! and CA as `pyunicore_client`.

#[path = "support/mod.rs"]
mod support;

use hpckit::unicore::Registry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let registry_url = support::var("HPCKIT_UNICORE_REGISTRY")?;
    let r = Registry::connect(&support::unicore_transport()?, &registry_url).await?;
    for (name, url) in r.site_urls() {
        println!("{name} {url}");
    }
    Ok(())
}
