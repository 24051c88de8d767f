//! `hpckit unicore`: PyUNICORE's `unicore` command, on hpckit's UNICORE client.
//!
//! Same commands (`run`, `exec`, `list-jobs`, `job-status`, `cancel-job`, `ls`,
//! `cp`, `cat`, `issue-token`, `rest`, `info`) plus `forward`, the same
//! configuration file (`$HOME/.ucc/properties`, `-c FILE`, `UCC_PASSWORD`),
//! `--json` output, and progress bars on copies and waits. Differences that
//! are on purpose: TLS is verified (`--ca FILE`, or the named `--insecure`), and
//! `cp LOCAL REMOTE` really uploads.

/// `println!` that ends quietly when stdout is closed (`| head`) instead of panicking.
macro_rules! say {
    ($($t:tt)*) => {
        crate::output::write_stdout(format!("{}\n", format_args!($($t)*)).as_bytes())?
    };
}

mod config;
mod files;
mod jobs;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use hpckit::unicore::{Client, Registry, Transport};
use serde_json::Value;

use self::config::Properties;

/// Options shared by every `hpckit unicore` command.
#[derive(Debug, clap::Args)]
pub(crate) struct UnicoreArgs {
    /// Configuration file (PyUNICORE's format).
    #[arg(short = 'c', long = "configuration", value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Trust this CA certificate (PEM) for the server's TLS certificate.
    #[arg(long, value_name = "FILE", env = "HPCKIT_UNICORE_CA", global = true)]
    ca: Vec<PathBuf>,
    /// Accept ANY server certificate (insecure: only for throw-away test servers).
    #[arg(long, global = true)]
    insecure: bool,
    #[command(subcommand)]
    command: UnicoreCommand,
}

/// The commands.
#[derive(Debug, clap::Subcommand)]
enum UnicoreCommand {
    /// Submit job description files (JSON), wait, and fetch stdout/stderr.
    Run(jobs::RunArgs),
    /// Run a command on a login node and print its output.
    Exec(jobs::ExecArgs),
    /// List your jobs.
    ListJobs(jobs::ListArgs),
    /// Show (and wait for) the state of jobs.
    JobStatus(jobs::StatusArgs),
    /// Abort jobs.
    CancelJob(jobs::CancelArgs),
    /// List remote directories.
    Ls(files::LsArgs),
    /// Copy files: local ↔ remote, remote ↔ remote (server to server).
    Cp(files::CpArgs),
    /// Print remote files.
    Cat(files::CatArgs),
    /// Get an authentication token from a server.
    IssueToken(TokenArgs),
    /// Raw REST calls (GET, PUT, POST, DELETE).
    Rest(RestArgs),
    /// Show the user's and the servers' properties.
    Info(InfoArgs),
    /// Forward a local port through a job's forwarding endpoint.
    Forward(ForwardArgs),
}

/// Where to submit: `-S URL`, else a site of the registry (`-s NAME`, or the first).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct SiteArgs {
    /// Site name in the registry.
    #[arg(short = 's', long = "sitename")]
    site: Option<String>,
    /// Server (site) URL to use instead of the registry.
    #[arg(short = 'S', long = "server-url")]
    server: Option<String>,
}

/// The state every command needs.
pub(crate) struct Ctx {
    props: Properties,
    transport: Transport,
    json: bool,
}

impl Ctx {
    /// The site `args` names.
    pub(crate) async fn site(&self, args: &SiteArgs) -> anyhow::Result<Client> {
        if let Some(url) = &args.server {
            return Ok(Client::connect(&self.transport, url).await?);
        }
        let registry = self.registry().await?;
        Ok(registry.site(args.site.as_deref()).await?)
    }

    /// Every site: `-S`, else all of the registry.
    pub(crate) async fn sites(&self, args: &SiteArgs) -> anyhow::Result<Vec<Client>> {
        if args.server.is_some() || args.site.is_some() {
            return Ok(vec![self.site(args).await?]);
        }
        let registry = self.registry().await?;
        let mut all = Vec::new();
        for url in registry.site_urls().values() {
            all.push(Client::connect(&self.transport, url).await?);
        }
        Ok(all)
    }

    async fn registry(&self) -> anyhow::Result<Registry> {
        if !self.props.contact_registry() {
            bail!("no server given: use -S URL (contact-registry is false)");
        }
        let url =
            self.props.get("registry").context("no `registry` in the configuration; use -S URL")?;
        Ok(Registry::connect(&self.transport, url).await?)
    }
}

pub(crate) async fn run(args: UnicoreArgs) -> anyhow::Result<ExitCode> {
    let props = Properties::load(args.config.as_deref())?;
    let transport = config::transport(&props, &args.ca, args.insecure)?;
    let ctx = Ctx { props, transport, json: args.json };
    match args.command {
        UnicoreCommand::Run(a) => jobs::run(&ctx, a).await,
        UnicoreCommand::Exec(a) => jobs::exec(&ctx, a).await,
        UnicoreCommand::ListJobs(a) => jobs::list(&ctx, a).await,
        UnicoreCommand::JobStatus(a) => jobs::status(&ctx, a).await,
        UnicoreCommand::CancelJob(a) => jobs::cancel(&ctx, a).await,
        UnicoreCommand::Ls(a) => files::ls(&ctx, a).await,
        UnicoreCommand::Cp(a) => files::cp(&ctx, a).await,
        UnicoreCommand::Cat(a) => files::cat(&ctx, a).await,
        UnicoreCommand::IssueToken(a) => issue_token(&ctx, a).await,
        UnicoreCommand::Rest(a) => rest(&ctx, a).await,
        UnicoreCommand::Info(a) => info(&ctx, a).await,
        UnicoreCommand::Forward(a) => forward(&ctx, a).await,
    }
}

/// `issue-token`.
#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// Site URL (default: from the registry).
    url: Option<String>,
    #[command(flatten)]
    site: SiteArgs,
    /// Lifetime in seconds.
    #[arg(short = 'l', long)]
    lifetime: Option<u64>,
    /// The token can renew itself.
    #[arg(short = 'R', long)]
    renewable: bool,
    /// Valid on this server only.
    #[arg(short = 'L', long)]
    limited: bool,
    /// Print the token's claims as well.
    #[arg(short = 'I', long)]
    inspect: bool,
}

async fn issue_token(ctx: &Ctx, a: TokenArgs) -> anyhow::Result<ExitCode> {
    let mut site = a.site.clone();
    if a.url.is_some() {
        site.server = a.url.clone();
    }
    let client = ctx.site(&site).await?;
    let mut req = hpckit::unicore::TokenRequest::default();
    req.lifetime = a.lifetime;
    req.renewable = a.renewable;
    req.limited = a.limited;
    let token = client.issue_token(req).await?;
    if a.inspect {
        use base64::Engine as _;
        let claims = token
            .expose()
            .split('.')
            .nth(1)
            .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if let Some(c) = claims {
            eprintln!("{}", serde_json::to_string_pretty(&c)?);
        }
    }
    // Printing the token is what the user asked for.
    crate::output::write_stdout(format!("{}\n", token.expose()).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `rest`.
#[derive(Debug, clap::Args)]
struct RestArgs {
    /// GET, PUT, POST or DELETE.
    method: String,
    /// URLs.
    #[arg(required = true)]
    urls: Vec<String>,
    /// Accept header.
    #[arg(short = 'A', long, default_value = "application/json")]
    accept: String,
    /// Content-Type header.
    #[arg(short = 'C', long, default_value = "application/json")]
    content_type: String,
    /// Show the status and headers too.
    #[arg(long)]
    include: bool,
    /// Body: JSON text, or @FILE.
    #[arg(short = 'D', long)]
    data: Option<String>,
}

async fn rest(ctx: &Ctx, a: RestArgs) -> anyhow::Result<ExitCode> {
    let body = match &a.data {
        Some(d) if d.starts_with('@') => {
            Some(std::fs::read(&d[1..]).with_context(|| format!("reading {}", &d[1..]))?)
        }
        Some(d) => Some(d.as_bytes().to_vec()),
        None => None,
    };
    let http = ctx.transport.http();
    let method = a.method.to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "PUT" | "POST" | "DELETE") {
        bail!("method must be GET, PUT, POST or DELETE, not {:?}", a.method);
    }
    let mut failed = false;
    for url in &a.urls {
        let mut req = hpckit::unicore::Request::custom(&method, url).header("accept", &a.accept);
        if let Some(b) = &body {
            req = req
                .header("content-type", &a.content_type)
                .body(hpckit::unicore::Body::bytes(b.clone()));
        }
        let resp = http.send(req).await?;
        let status = resp.status();
        if a.include {
            eprintln!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
            for (k, v) in resp.headers() {
                if k.as_str().eq_ignore_ascii_case("authorization") {
                    continue;
                }
                eprintln!("{k}: {}", v.to_str().unwrap_or("<binary>"));
            }
        }
        if let Some(loc) = resp.header("location") {
            say!("{loc}");
        }
        let text = resp.text().await?;
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => say!("{}", serde_json::to_string_pretty(&v)?),
            Err(_) if !text.is_empty() => say!("{text}"),
            Err(_) => {}
        }
        failed |= !status.is_success();
    }
    Ok(if failed { ExitCode::from(crate::output::EXIT_FAILURE) } else { ExitCode::SUCCESS })
}

/// `info`.
#[derive(Debug, clap::Args)]
struct InfoArgs {
    /// Site URLs (default: every site of the registry).
    urls: Vec<String>,
    /// Only properties whose name matches this text.
    #[arg(short = 'p', long)]
    pattern: Option<String>,
    /// Everything the server says.
    #[arg(short = 'l', long)]
    long: bool,
}

async fn info(ctx: &Ctx, a: InfoArgs) -> anyhow::Result<ExitCode> {
    let sites = if a.urls.is_empty() {
        ctx.sites(&SiteArgs::default()).await?
    } else {
        let mut v = Vec::new();
        for u in &a.urls {
            v.push(Client::connect(&ctx.transport, u).await?);
        }
        v
    };
    let mut all = Vec::new();
    for s in &sites {
        let p = s.properties().json();
        let mut entry = serde_json::json!({"url": s.url(), "client": p.get("client"), "server": p.get("server")});
        if a.long {
            entry = p.clone();
            entry["url"] = Value::String(s.url().to_owned());
        }
        if let Some(pat) = &a.pattern
            && let Some(o) = entry.as_object_mut()
        {
            o.retain(|k, _| k == "url" || k.contains(pat.as_str()));
        }
        all.push(entry);
    }
    if ctx.json {
        crate::output::print_json(&all)?;
        return Ok(ExitCode::SUCCESS);
    }
    for e in &all {
        say!("Site: {}", e["url"].as_str().unwrap_or(""));
        let c = &e["client"];
        if !c.is_null() {
            say!(
                "  user: {}  role: {}  uid: {}",
                c["dn"].as_str().unwrap_or("?"),
                c["role"]["selected"].as_str().unwrap_or("?"),
                c["xlogin"]["UID"].as_str().unwrap_or("?")
            );
        }
        let s = &e["server"];
        if !s.is_null() {
            say!(
                "  server: {} version {}",
                s["siteName"].as_str().unwrap_or("?"),
                s["version"].as_str().unwrap_or("?")
            );
        }
        if a.long {
            say!("{}", serde_json::to_string_pretty(e)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `forward`.
#[derive(Debug, clap::Args)]
struct ForwardArgs {
    /// The job's forwarding endpoint with `?port=N[&host=H]` (or a job URL with --port).
    endpoint: String,
    /// Local port to listen on (0: any free port, printed).
    #[arg(short = 'L', long = "listen")]
    listen: u16,
    /// The remote port (added to a job URL or endpoint without one).
    #[arg(long)]
    port: Option<u16>,
    /// The remote host (default: the job's node).
    #[arg(long)]
    host: Option<String>,
    /// Serve one connection, then exit.
    #[arg(long)]
    once: bool,
}

async fn forward(ctx: &Ctx, a: ForwardArgs) -> anyhow::Result<ExitCode> {
    let mut endpoint = a.endpoint.clone();
    if !endpoint.contains("/forward-port") {
        endpoint = format!("{}/forward-port", endpoint.trim_end_matches('/'));
    }
    let mut extra = Vec::new();
    if let Some(p) = a.port.filter(|_| !endpoint.contains("port=")) {
        extra.push(format!("port={p}"));
    }
    if let Some(h) = a.host.as_ref().filter(|_| !endpoint.contains("host=")) {
        extra.push(format!("host={h}"));
    }
    if !extra.is_empty() {
        endpoint.push(if endpoint.contains('?') { '&' } else { '?' });
        endpoint.push_str(&extra.join("&"));
    }
    if !endpoint.contains("port=") && !endpoint.contains("file=") {
        bail!("say which remote port to reach: --port N, or ?port=N in the endpoint");
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", a.listen))
        .await
        .with_context(|| format!("listening on port {}", a.listen))?;
    let local = listener.local_addr()?;
    crate::output::note(format!(
        "forwarding 127.0.0.1:{} to {}",
        local.port(),
        endpoint.split('?').nth(1).unwrap_or("")
    ));
    if a.listen == 0 {
        say!("{}", local.port());
    }
    let fwd = hpckit::unicore::Forwarder::new(&ctx.transport, &endpoint);
    fwd.serve(listener, a.once).await?;
    Ok(ExitCode::SUCCESS)
}
