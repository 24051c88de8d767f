//! The registry and the factory (compute resource) documents.

use serde_json::json;

use super::SITE;
use super::http::{Handled, fail, link, ok_json};
use super::state::Server;

pub(crate) fn get(server: &Server) -> Handled {
    let url = format!("{}/REGISTRY/rest/registries/default_registry", server.public);
    ok_json(&json!({
        "entries": [
            {
                "href": server.base(),
                "type": "CoreServices",
                "InterfaceNamespace": "https://www.unicore.eu/rest/core",
                "ServerIdentity": "CN=UNICORE/X,O=hpckit test",
                "ServerPublicKey": "",
            },
            {
                "href": server.workflow_base(),
                "type": "WorkflowServices",
                "InterfaceNamespace": "https://www.unicore.eu/rest/workflows",
                "ServerIdentity": "CN=UNICORE/X,O=hpckit test",
                "ServerPublicKey": "",
            },
        ],
        "_links": {"self": link(&url)},
    }))
}

const APPS: &[(&str, &str, &str)] = &[
    ("Date", "1.0", "prints the date"),
    ("Bash shell", "3.0", "runs a bash script"),
    ("Python", "3", "runs python3"),
];

pub(crate) fn factory(server: &Server, rest: &[&str]) -> Handled {
    let url = format!("{}/factories/default_target_system_factory", server.base());
    match rest {
        [] => ok_json(&json!({
            "siteName": SITE,
            "supportsReservation": false,
            "resources": {"batch": {"Runtime": "1-86400", "Nodes": "1-1", "CPUsPerNode": "1-16", "TotalCPUs": "1-16", "Memory": "*"}},
            "applications": APPS.iter().map(|(n, v, _)| format!("{n}---v{v}")).collect::<Vec<_>>(),
            "otherInfo": {},
            "_links": {"self": link(&url), "applications": link(&format!("{url}/applications")), "sites": link(&format!("{}/sites", server.base()))},
        })),
        ["applications"] => ok_json(&json!({
            "applications": APPS.iter().map(|(n, v, _)| format!("{n}---v{v}")).collect::<Vec<_>>(),
            "_links": {"self": link(&format!("{url}/applications"))},
        })),
        ["applications", app] => {
            let (name, version) = app.split_once("---v").unwrap_or((app, ""));
            let found = APPS
                .iter()
                .find(|(n, v, _)| *n == name && *v == version)
                .ok_or_else(|| fail(404, format!("application {app} not found")))?;
            ok_json(
                &json!({"ApplicationName": found.0, "ApplicationVersion": found.1, "ApplicationDescription": found.2, "Options": {}}),
            )
        }
        _ => Err(fail(404, "no such factory resource")),
    }
}
