//! `hpckit picas views|push|run|status|reset|scrub|recover|delete|logs|submit-workers <db-url>`:
//! PiCaS token pools on CouchDB, compatible with the Python picas client.
//!
//! The database URL is `http[s]://[user[:password]@]host:port/db`; a password
//! can also come from `--db-password-env VAR`. It is never printed.

mod run;
mod submit;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use hpckit::core::Error;
use hpckit::picas::{
    BulkReport, CouchDb, DbUrl, DesignDoc, InputFormat, Selection, TokenPool, ViewsOutcome,
    log_names, parse_tokens,
};
use serde_json::json;

use crate::creds::CredentialArgs;
use crate::job::parse_duration;
use crate::output::{self, Table};

/// PiCaS subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PicasCommand {
    /// Create or update the views (`_design/Monitor`: todo, locked, done,
    /// error, overview_total); creates the database first if asked.
    ///
    /// Example: hpckit picas views http://admin@localhost:5984/mypool --create-db --db-password-env PW
    Views {
        #[command(flatten)]
        db: DbArgs,
        /// Create the database if it does not exist (needs a server admin).
        #[arg(long)]
        create_db: bool,
        /// Also the autopilot design documents SingleCore and MultiCore.
        #[arg(long)]
        autopilot: bool,
    },
    /// Push tokens from a file: one command per line (picas' examples), or
    /// JSON objects per line with --json-lines; `-` reads stdin.
    Push {
        #[command(flatten)]
        db: DbArgs,
        /// The token file.
        file: PathBuf,
        /// Each line is a JSON object of token fields (input, cores, _id, ...).
        #[arg(long)]
        json_lines: bool,
        /// Id prefix of numbered tokens (numbering starts at the document count, as in picas).
        #[arg(long, default_value = "token_")]
        prefix: String,
    },
    /// Run tokens: claim, run `bash -c <input>` (or --script), record exit
    /// code and logs, until a stop condition holds.
    Run(run::RunArgs),
    /// Tokens per state, and the errored tokens with their reasons.
    Status {
        #[command(flatten)]
        db: DbArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// At most this many errored tokens in the table.
        #[arg(long, default_value_t = 20)]
        errors: usize,
    },
    /// Put tokens of a view back to todo with scrub_count+1, clearing host
    /// name, exit code and logs (picas' resetTokens.py).
    Reset {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Put tokens of a view back to todo with scrub_count+1, keeping exit
    /// code, errors and logs (picas' scrub).
    Scrub {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Return locked tokens whose lease ran out (their worker died) to todo,
    /// with scrub_count+1.
    Recover {
        #[command(flatten)]
        db: DbArgs,
        /// Also tokens locked without a lease (by Python picas) longer than this.
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        without_lease_older_than: Option<Duration>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete the tokens of a view (picas' deleteTokens.py, in bulk).
    Delete {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Print a token's log attachment (logs_<id>.out, or .err).
    Logs {
        #[command(flatten)]
        db: DbArgs,
        /// The token id.
        id: String,
        /// The stderr log instead of stdout.
        #[arg(long)]
        err: bool,
    },
    /// Submit N worker jobs (`hpckit picas run`) to any scheduler.
    SubmitWorkers(submit::SubmitArgs),
}

/// The database and how to log in.
#[derive(Debug, Clone, Args)]
pub(crate) struct DbArgs {
    /// Database URL: http[s]://[user[:password]@]host:port/db.
    pub(crate) url: String,
    /// Read the database password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub(crate) db_password_env: Option<String>,
    /// Design document of the views.
    #[arg(long, default_value = "Monitor")]
    pub(crate) design_doc: String,
    /// Extra CA certificate (PEM) to trust for https.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Repeats of a request after a network error or 5xx (backoff 0.2 s doubling to 5 s).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub(crate) retries: u32,
}

impl DbArgs {
    pub(crate) fn db_url(&self) -> anyhow::Result<DbUrl> {
        let mut url = DbUrl::parse(&self.url)?;
        if let Some(var) = &self.db_password_env {
            let pw = std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .with_context(|| format!("environment variable {var} is not set or empty"))?;
            if url.user().is_none() {
                anyhow::bail!(Error::InvalidInput(format!(
                    "--db-password-env {var} needs a user name in the URL (http://user@host/db)"
                )));
            }
            url = url.with_password(pw);
        }
        Ok(url)
    }

    pub(crate) fn pool(&self) -> anyhow::Result<TokenPool> {
        let mut config =
            hpckit::picas::CouchConfig { ca_file: self.ca_file.clone(), ..Default::default() };
        config.retry.max_retries = self.retries;
        let db = CouchDb::with_config(self.db_url()?, config)?;
        let design = DesignDoc { name: self.design_doc.clone(), extra_condition: None };
        Ok(TokenPool::new(db).with_design(design))
    }
}

/// Which tokens a bulk change touches.
#[derive(Debug, Clone, Args)]
pub(crate) struct SelectArgs {
    /// The view to take tokens from.
    #[arg(long, default_value = "locked")]
    view: String,
    /// Only tokens locked longer than this (e.g. 2h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    older_than: Option<Duration>,
}

impl SelectArgs {
    fn selection(&self) -> Selection {
        let s = Selection::view(self.view.clone());
        match self.older_than {
            Some(age) => s.older_than(age),
            None => s,
        }
    }
}

/// Run one picas subcommand.
pub(crate) async fn run(cmd: PicasCommand, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        PicasCommand::Views { db, create_db, autopilot } => views(&db, create_db, autopilot).await,
        PicasCommand::Push { db, file, json_lines, prefix } => {
            push(&db, &file, json_lines, &prefix).await
        }
        PicasCommand::Run(args) => run::run(args).await,
        PicasCommand::Status { db, json, errors } => status(&db, json, errors).await,
        PicasCommand::Reset { db, select } => {
            let pool = db.pool()?;
            report("reset", pool.reset(&select.selection()).await?)
        }
        PicasCommand::Scrub { db, select } => {
            let pool = db.pool()?;
            report("scrubbed", pool.scrub(&select.selection()).await?)
        }
        PicasCommand::Delete { db, select } => {
            let pool = db.pool()?;
            report("deleted", pool.delete(&select.selection()).await?)
        }
        PicasCommand::Recover { db, without_lease_older_than, json } => {
            let pool = db.pool()?;
            let r = pool.recover(without_lease_older_than).await?;
            if json {
                output::print_json(&r)?;
            } else {
                output::write_stdout(
                    format!(
                        "returned to todo: {}; still alive: {}; changed meanwhile: {}; locked without lease: {}\n",
                        r.returned.len(),
                        r.alive,
                        r.raced.len(),
                        r.without_lease
                    )
                    .as_bytes(),
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        PicasCommand::Logs { db, id, err } => {
            let pool = db.pool()?;
            let (out_name, err_name) = log_names(&id);
            let name = if err { err_name } else { out_name };
            match pool.attachment(&id, &name).await? {
                Some(bytes) => output::write_stdout(&bytes)?,
                None => anyhow::bail!(Error::path_not_found(format!("{id}/{name}"))),
            }
            Ok(ExitCode::SUCCESS)
        }
        PicasCommand::SubmitWorkers(args) => submit::run(args, creds).await,
    }
}

async fn views(db: &DbArgs, create_db: bool, autopilot: bool) -> anyhow::Result<ExitCode> {
    let pool = db.pool()?;
    if create_db && pool.db().create_db().await? {
        output::note(format!("created database {}", pool.db().url().db()));
    }
    let mut designs = vec![pool.design().clone()];
    if autopilot {
        designs.extend(DesignDoc::autopilot());
    }
    for d in designs {
        let outcome = hpckit::picas::ensure_views(pool.db(), &d).await?;
        let what = match outcome {
            ViewsOutcome::Written => "written",
            ViewsOutcome::Unchanged => "unchanged",
        };
        output::write_stdout(format!("{}: {what}\n", d.id()).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn push(
    db: &DbArgs,
    file: &std::path::Path,
    json_lines: bool,
    prefix: &str,
) -> anyhow::Result<ExitCode> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading tokens from stdin")?
    } else {
        std::fs::read_to_string(file).map_err(|e| Error::from_io_path("read", file.display(), e))?
    };
    let format = if json_lines { InputFormat::JsonLines } else { InputFormat::Lines };
    let specs = parse_tokens(&text, format)?;
    let pool = db.pool()?;
    let (named, numbered): (Vec<_>, Vec<_>) = specs.into_iter().partition(|s| s.id.is_some());
    let mut total = BulkReport::default();
    if !named.is_empty() {
        let tokens = named
            .into_iter()
            .map(|s| hpckit::picas::Token::from_fields(s.id.unwrap_or_default(), s.fields))
            .collect::<Result<Vec<_>, _>>()?;
        total = pool.push(tokens).await?;
    }
    if !numbered.is_empty() {
        let r =
            pool.push_numbered(prefix, numbered.into_iter().map(|s| s.fields).collect()).await?;
        total.written.extend(r.written);
        total.failed.extend(r.failed);
    }
    report("pushed", total)
}

/// Print what a bulk change did; conflicts and refusals make the exit non-zero.
fn report(verb: &str, r: BulkReport) -> anyhow::Result<ExitCode> {
    output::write_stdout(format!("{verb}: {}\n", r.written.len()).as_bytes())?;
    for id in &r.conflicts {
        output::note(format!("{id}: conflict (exists, or changed meanwhile); left alone"));
    }
    for (id, reason) in &r.failed {
        output::note(format!("{id}: refused: {reason}"));
    }
    Ok(if r.conflicts.is_empty() && r.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(output::EXIT_FAILURE)
    })
}

async fn status(db: &DbArgs, json: bool, max_errors: usize) -> anyhow::Result<ExitCode> {
    let pool = db.pool()?;
    let counts = pool.counts().await.map_err(|e| {
        let hint = e
            .is_not_found()
            .then_some(" (no such database, or no views: run `hpckit picas views`)");
        anyhow::Error::new(e).context(format!("counting tokens{}", hint.unwrap_or("")))
    })?;
    let errors = if counts.error > 0 { pool.errored(Some(max_errors)).await? } else { Vec::new() };
    if json {
        output::print_json(&json!({
            "database": pool.db().url().db(),
            "counts": counts,
            "errors": errors,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(["view", "tokens"]);
    for (name, n) in [
        ("todo", counts.todo),
        ("locked", counts.locked),
        ("done", counts.done),
        ("error", counts.error),
    ] {
        t.row([name.to_owned(), n.to_string()]);
    }
    t.print()?;
    if !errors.is_empty() {
        let mut t = Table::new(["errored token", "exit", "scrubs", "host", "reason"]);
        for e in &errors {
            t.row([
                e.id.clone(),
                e.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                e.scrub_count.to_string(),
                e.hostname.clone(),
                e.reason.lines().next().unwrap_or("").to_owned(),
            ]);
        }
        output::write_stdout(b"\n")?;
        t.print()?;
    }
    Ok(ExitCode::SUCCESS)
}
