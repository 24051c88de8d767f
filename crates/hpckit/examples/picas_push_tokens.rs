//! picasclient examples, `python pushTokens.py quickExample.txt`: one token
//! per line of the file, its command in `input`, numbered `token_<n>` from
//! the database's document count as picas does.
//!
//! Arguments: the database name and the file. Settings: as
//! `picas_create_views`.

#[path = "support/mod.rs"]
mod support;

use hpckit::picas::{InputFormat, parse_tokens};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let usage = "picas_push_tokens DATABASE FILE";
    let (db, file) = (support::arg(1, usage)?, support::arg(2, usage)?);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| hpckit::Error::io(format!("reading {file}"), e))?;
    let tokens = parse_tokens(&text, InputFormat::Lines)?;
    let pool = support::picas_pool(&db)?;
    let report =
        pool.push_numbered("token_", tokens.into_iter().map(|t| t.fields).collect()).await?;
    for id in &report.written {
        println!("pushed {id}");
    }
    println!("{} written, {} failed", report.written.len(), report.failed.len());
    Ok(())
}
