//! [`Registry`]: the sites and workflow services a registry lists.

use std::collections::BTreeMap;

use hpc_core::{Error, Result};
use serde_json::Value;

use crate::client::Client;
use crate::transport::Transport;
use crate::workflow::WorkflowService;

/// A UNICORE registry (`https://GW/SITE/rest/registries/default_registry`).
#[derive(Debug, Clone)]
pub struct Registry {
    transport: Transport,
    url: String,
    sites: BTreeMap<String, String>,
    workflow_services: BTreeMap<String, String>,
}

impl Registry {
    /// Reads the registry's entries.
    pub async fn connect(transport: &Transport, url: &str) -> Result<Self> {
        let doc: Value = transport.get_json(url).await?;
        let entries = doc
            .get("entries")
            .and_then(Value::as_array)
            .ok_or_else(|| crate::error::missing(url, "entries"))?;
        let mut sites = BTreeMap::new();
        let mut workflow_services = BTreeMap::new();
        for e in entries {
            let (Some(href), Some(kind)) =
                (e.get("href").and_then(Value::as_str), e.get("type").and_then(Value::as_str))
            else {
                continue;
            };
            let (marker, map) = match kind {
                "CoreServices" => ("/rest/core", &mut sites),
                "WorkflowServices" => ("/rest/workflows", &mut workflow_services),
                _ => continue,
            };
            if let Some(i) = href.find(marker) {
                let base = &href[..i + marker.len()];
                let name = base[..i].rsplit('/').next().unwrap_or("").to_owned();
                map.insert(name, base.to_owned());
            }
        }
        Ok(Registry { transport: transport.clone(), url: url.to_owned(), sites, workflow_services })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Site name → base URL.
    pub fn site_urls(&self) -> &BTreeMap<String, String> {
        &self.sites
    }

    /// Workflow service name → URL.
    pub fn workflow_service_urls(&self) -> &BTreeMap<String, String> {
        &self.workflow_services
    }

    /// Connects to the named site, or the first one when `name` is `None`.
    pub async fn site(&self, name: Option<&str>) -> Result<Client> {
        let url = pick(&self.sites, name, "site")?;
        Client::connect(&self.transport, url).await
    }

    /// Connects to the named workflow service (or the first).
    pub async fn workflow_service(&self, name: Option<&str>) -> Result<WorkflowService> {
        let url = pick(&self.workflow_services, name, "workflow service")?;
        WorkflowService::connect(&self.transport, url).await
    }
}

fn pick<'a>(
    map: &'a BTreeMap<String, String>,
    name: Option<&str>,
    what: &str,
) -> Result<&'a String> {
    match name {
        Some(n) => map.get(n).ok_or_else(|| Error::NotFound {
            kind: hpc_core::NotFoundKind::Host,
            name: format!(
                "{what} {n:?} (registry lists: {})",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        }),
        None => map.values().next().ok_or_else(|| Error::NotFound {
            kind: hpc_core::NotFoundKind::Host,
            name: format!("any {what} (the registry lists none)"),
        }),
    }
}
