//! PyUNICORE README, helpers, "Connecting to a Registry": connect to the
//! registry and print what it holds: the sites and the workflow services.
//!
//! Settings: as `pyunicore_registry`.

#[path = "support/mod.rs"]
mod support;

use hpckit::unicore::Registry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let registry_url = support::var("HPCKIT_UNICORE_REGISTRY")?;
    let registry = Registry::connect(&support::unicore_transport()?, &registry_url).await?;
    println!("registry: {}", registry.url());
    for (name, url) in registry.site_urls() {
        println!("site {name}: {url}");
    }
    for (name, url) in registry.workflow_service_urls() {
        println!("workflow service {name}: {url}");
    }
    Ok(())
}
