//! The hpckit side of `cargo xtask bench unicore` (not a test): one workload
//! per run against a UNICORE server, then `requests=<n>` on stdout.
//!
//! `unicore_bench <jobs N | list N DIR | small N DIR | download PATH FILE | upload FILE PATH>`
//! with `UC_URL`, `UC_USER`, `UC_PASSWORD` and `UC_CA` in the environment.

use std::path::Path;
use std::time::Duration;

use unicore_rest::{Client, JobDescription, Transport, credential};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let transport = Transport::builder()
            .credential(credential::username_password(env("UC_USER")?, env("UC_PASSWORD")?))
            .add_ca_file(env("UC_CA")?)
            .build()?;
        if args.first().map(String::as_str) == Some("stats") {
            // The server's request counter (a test-server extra), without a login.
            let anon = Transport::builder().add_ca_file(env("UC_CA")?).security_sessions(false).build()?;
            let url = env("UC_URL")?.replace("/DEMO-SITE/rest/core", "/_testserver/stats");
            let v: serde_json::Value = anon.get_json(&url).await?;
            println!("{}", v["requests"]);
            return Ok(());
        }
        let site = Client::connect(&transport, &env("UC_URL")?).await?;
        let home = site.storage("HOME");
        let n = || args.get(1).and_then(|a| a.parse::<usize>().ok()).unwrap_or(1);
        match args.first().map(String::as_str) {
            Some("jobs") => {
                // Submit all at once over the pooled connections, then wait for all.
                let desc = JobDescription::executable("echo bench").to_json();
                let jobs = futures::future::try_join_all((0..n()).map(|_| site.new_job(&desc, &[], true))).await?;
                let done = futures::future::try_join_all(jobs.iter().map(|j| j.wait_done(Some(Duration::from_secs(600))))).await?;
                assert!(done.iter().all(|p| p.exit_code == Some(0)));
            }
            Some("list") => {
                for _ in 0..n() {
                    assert!(!home.list(&args[2]).await?.is_empty());
                }
            }
            Some("small") => {
                for i in 0..n() {
                    let data = home.read_all(&format!("{}/f{i}.txt", args[2])).await?;
                    assert!(!data.is_empty());
                }
            }
            Some("download") => {
                home.download(&args[1], Path::new(&args[2])).await?;
            }
            Some("upload") => {
                home.upload_file(Path::new(&args[1]), &args[2]).await?;
            }
            _ => return Err("usage: unicore_bench jobs N | list N DIR | small N DIR | download PATH FILE | upload FILE PATH".into()),
        }
        println!("requests={}", transport.requests_sent());
        Ok(())
    })
}
