//! PyUNICORE README, "Creating a client for a UNICORE site": log in to a
//! site's REST API with user name and password and print its properties.
//!
//! Settings: `HPCKIT_UNICORE_URL` (the site's `.../rest/core`),
//! `HPCKIT_UNICORE_USER`, `HPCKIT_UNICORE_PASSWORD`, `HPCKIT_UNICORE_CA`.

#[path = "support/mod.rs"]
mod support;

use hpckit::unicore::Client;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let base_url = support::var("HPCKIT_UNICORE_URL")?;
    let client = Client::connect(&support::unicore_transport()?, &base_url).await?;
    println!("{:#}", client.properties().json());
    Ok(())
}
