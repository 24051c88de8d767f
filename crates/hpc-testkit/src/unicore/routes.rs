//! Which handler answers which URL.

use std::collections::BTreeMap;

use http::Method;
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::auth::Identity;
use super::http::{Handled, bad_request, fail, link, ok_json};
use super::state::{Server, lock};
use super::{SITE, WORKFLOW, files, forward, jobs, registry, transfers, uftp_auth, workflows};

/// One request, taken apart.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) query: BTreeMap<String, String>,
    pub(crate) headers: http::HeaderMap,
    pub(crate) request: http::Request<Incoming>,
}

impl Call {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the client asked for JSON (the default) rather than raw data.
    pub(crate) fn wants_octets(&self) -> bool {
        self.header("accept").is_some_and(|a| {
            a.contains("application/octet-stream") && !a.contains("application/json")
        })
    }

    pub(crate) fn is_json(&self) -> bool {
        self.header("content-type").is_some_and(|c| c.contains("application/json"))
    }

    /// The body as JSON (`{}` when empty).
    pub(crate) async fn json(self) -> Result<Value, super::http::ApiError> {
        use http_body_util::BodyExt;
        let data = self
            .request
            .into_body()
            .collect()
            .await
            .map_err(|e| bad_request(format!("reading the request body: {e}")))?
            .to_bytes();
        if data.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(&data).map_err(|e| bad_request(format!("invalid JSON: {e}")))
    }
}

pub(crate) async fn dispatch(
    server: &Server,
    who: &Identity,
    request: http::Request<Incoming>,
) -> Handled {
    let path = request.uri().path().to_owned();
    let query = parse_query(request.uri().query().unwrap_or(""));
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let call = Call {
        method: request.method().clone(),
        query,
        headers: request.headers().clone(),
        request,
    };
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = call.method.clone();
    match (m, s.as_slice()) {
        (_, [site, "rest", "core", rest @ ..]) if *site == SITE => {
            core(server, who, call, rest).await
        }
        (_, [wf, "rest", "workflows", rest @ ..]) if *wf == WORKFLOW => {
            workflows::route(server, who, call, rest).await
        }
        (_, ["rest", "auth", rest @ ..]) => uftp_auth::route(server, who, call, rest).await,
        (Method::GET, ["REGISTRY", "rest", "registries", "default_registry"]) => {
            registry::get(server)
        }
        (Method::POST, ["_testserver", "expire-sessions"]) => {
            lock(&server.sessions).clear();
            super::http::no_content()
        }
        (Method::GET, ["_testserver", "stats"]) => ok_json(
            &json!({"requests": server.requests.load(std::sync::atomic::Ordering::Relaxed)}),
        ),
        _ => Err(fail(404, format!("no such resource: {path}"))),
    }
}

async fn core(server: &Server, who: &Identity, call: Call, rest: &[&str]) -> Handled {
    let m = call.method.clone();
    match (m, rest) {
        (Method::GET, []) => base(server, who),
        (Method::GET, ["token"]) => token(server, who, &call),
        (_, ["jobs", more @ ..]) => jobs::route(server, who, call, more).await,
        (_, ["storages", more @ ..]) => files::route(server, who, call, more).await,
        (_, ["transfers", more @ ..]) => transfers::route(server, who, call, more).await,
        (Method::GET, ["factories"]) | (Method::GET, ["sites"]) => {
            let name = if rest[0] == "sites" { "sites" } else { "factories" };
            let url = format!("{}/{name}", server.base());
            ok_json(
                &json!({name: [format!("{}/factories/default_target_system_factory", server.base())], "_links": {"self": link(&url)}}),
            )
        }
        (Method::GET, ["factories", "default_target_system_factory", more @ ..]) => {
            registry::factory(server, more)
        }
        (Method::POST, ["sites", _]) | (Method::POST, ["factories", _]) => {
            jobs::submit(server, who, call).await
        }
        _ => Err(fail(404, "no such resource")),
    }
}

fn base(server: &Server, who: &Identity) -> Handled {
    let b = server.base();
    let user = server.user(who.user.as_deref().unwrap_or(""));
    let uids: Vec<String> = user
        .map(|u| {
            let mut v = vec![u.name.clone()];
            v.extend(u.uids.iter().filter(|x| **x != u.name).cloned());
            v
        })
        .unwrap_or_default();
    let groups: Vec<String> = user.map(|u| u.groups.clone()).unwrap_or_default();
    let mut links = serde_json::Map::new();
    for rel in [
        "jobs",
        "storages",
        "transfers",
        "factories",
        "sites",
        "reservations",
        "storagefactories",
        "client-server-transfers",
        "tasks",
    ] {
        links.insert(rel.into(), link(&format!("{b}/{rel}")));
    }
    links.insert("self".into(), link(&b));
    links.insert("token".into(), link(&format!("{b}/token")));
    ok_json(&json!({
        "client": {
            "dn": who.dn(),
            "xlogin": {
                "UID": who.uid, "availableUIDs": uids, "group": who.group,
                "availableGroups": groups, "selectedSupplementaryGroups": who.supgids,
            },
            "role": {"selected": who.role, "availableRoles": [who.role.clone()]},
            "queues": {"selected": "batch", "availableQueues": ["batch"]},
            "authenticationMethod": who.method,
        },
        "server": {
            "siteName": SITE,
            "credential": {"dn": "CN=UNICORE/X,O=hpckit test", "issuer": "CN=hpckit UNICORE test CA", "expires": "2099-12-31T23:59:59+0000"},
            "trustedCAs": ["CN=hpckit UNICORE test CA"],
            "version": "10.1.0",
            "upSince": super::http::date(server.started),
            "currentTime": super::http::date(std::time::SystemTime::now()),
            "jobSubmission": {"enabled": true, "message": "OK"},
        },
        "_links": links,
    }))
}

/// A token for the caller: JWT-shaped text whose claims follow UNICORE's
/// (`sub`, `iss`, `iat`, `exp`, `etd`), recognised by this server as a bearer token.
pub(crate) fn token(server: &Server, who: &Identity, call: &Call) -> Handled {
    use base64::Engine as _;
    let user = who.require_user()?.to_owned();
    let lifetime: u64 = match call.query.get("lifetime") {
        Some(l) => l.parse().map_err(|_| bad_request(format!("lifetime {l:?} is not a number")))?,
        None => 3600,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut claims = json!({"sub": who.dn(), "iss": "CN=UNICORE/X,O=hpckit test", "iat": now, "exp": now + lifetime, "etd": "true", "uid": who.uid});
    if call.query.get("renewable").map(String::as_str) == Some("true") {
        claims["renewable"] = json!("true");
    }
    if call.query.get("limited").map(String::as_str) == Some("true") {
        claims["aud"] = json!("CN=UNICORE/X,O=hpckit test");
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = format!(
        "{}.{}.{}",
        b64.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string()),
        b64.encode(claims.to_string()),
        super::http::random_hex(32)
    );
    lock(&server.issued_tokens).insert(token.clone(), user);
    Ok(super::http::reply(200, Some("text/plain"), super::http::full(token)))
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |t: &str| {
                percent_encoding::percent_decode_str(&t.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// A paged collection document: `{name: [urls], "_links": {self, next, previous}}`.
/// `items` are (url, tags) in creation order.
pub(crate) fn collection(
    url: &str,
    name: &str,
    items: Vec<(String, Vec<String>)>,
    call: &Call,
) -> Handled {
    let offset: usize = call.query.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let num: usize = call.query.get("num").and_then(|n| n.parse().ok()).unwrap_or(200);
    let wanted: Vec<String> = call
        .query
        .get("tags")
        .map(|t| t.split([' ', '+', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let matching: Vec<String> = items
        .into_iter()
        .filter(|(_, tags)| wanted.iter().all(|w| tags.contains(w)))
        .map(|(u, _)| u)
        .collect();
    let total = matching.len();
    let page: Vec<String> = matching.into_iter().skip(offset).take(num).collect();
    let extra: String = call
        .query
        .iter()
        .filter(|(k, _)| *k != "offset" && *k != "num")
        .map(|(k, v)| format!("&{k}={v}"))
        .collect();
    let mut links = serde_json::Map::new();
    links.insert("self".into(), link(&format!("{url}?offset={offset}&num={num}{extra}")));
    if offset + num < total {
        links.insert(
            "next".into(),
            link(&format!("{url}?offset={}&num={num}{extra}", offset + num)),
        );
    }
    if offset > 0 {
        links.insert(
            "previous".into(),
            link(&format!("{url}?offset={}&num={num}{extra}", offset.saturating_sub(num))),
        );
    }
    ok_json(&json!({name: page, "_links": links}))
}

/// `forward-port` is the one route that needs the raw request (for the upgrade).
pub(crate) async fn forward(server: &Server, who: &Identity, call: Call, job_id: &str) -> Handled {
    forward::handle(server, who, call, job_id).await
}
