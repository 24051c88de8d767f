//! picasclient examples, `python createViews.py`: create the database if
//! needed (as a server admin) and the views that sort tokens into todo, locked, done and error.
//!
//! Argument: the database name. Settings: `HPCKIT_COUCHDB_URL`, `_USER`,
//! `_PASSWORD` (what `picasconfig.py` holds).

#[path = "support/mod.rs"]
mod support;

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let db = support::arg(1, "picas_create_views DATABASE")?;
    let pool = support::picas_pool(&db)?;
    // picasconfig.py names a database that exists; here it is made if not.
    if pool.db().create_db().await? {
        println!("created database {db}");
    }
    let outcome = pool.ensure_views().await?;
    println!("views of {db}: {outcome:?}");
    Ok(())
}
