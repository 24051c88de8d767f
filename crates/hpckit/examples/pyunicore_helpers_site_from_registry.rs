//! PyUNICORE README, helpers, "Connecting to a site via a Registry": look
//! the site up by name in the registry, connect to it, print its properties.
//!
//! Settings: as `pyunicore_registry`; the site's name is the first argument
//! (default `DEMO-SITE`).

#[path = "support/mod.rs"]
mod support;

use hpckit::unicore::Registry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let registry_url = support::var("HPCKIT_UNICORE_REGISTRY")?;
    let site = std::env::args().nth(1).unwrap_or_else(|| "DEMO-SITE".into());
    let registry = Registry::connect(&support::unicore_transport()?, &registry_url).await?;
    let client = registry.site(Some(site.as_str())).await?;
    println!("site {site}: {}", client.url());
    println!("{:#}", client.properties().json());
    Ok(())
}
