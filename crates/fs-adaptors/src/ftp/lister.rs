//! Streamed directory listings: `LIST` (or `MLSD`) read line by line from
//! the data connection as the consumer asks, each line and the number of
//! lines bounded and the whole listing within the metadata limit, so an
//! endless, trickling or hostile listing ends with an error instead of
//! filling memory or hanging. `stat` asks `MLST` where the server has it.

use std::time::SystemTime;

use futures::StreamExt;
use futures::stream::BoxStream;
use hpc_core::{EntryKind, Error, Path, PathAttributes, Result};
use suppaftp::Status;
use suppaftp::tokio::TransferStream;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use super::backend::FtpFileSystem;
use super::error::{refused, reply_code};
use super::parse::{ListEntry, parse_list_line, parse_mlsd_line};
use super::pool::PooledConn;
use super::tls::FtpsStream;

/// One directory listing in progress; its connection is busy until the
/// listing has been read to the end (dropped earlier, it is closed).
struct Listing {
    conn: PooledConn,
    data: BufReader<TransferStream<FtpsStream>>,
    command: &'static str,
    dir: Path,
    deadline: Instant,
    lines: u64,
    line: Vec<u8>,
    now: SystemTime,
}

impl FtpFileSystem {
    /// The entries of `dir` as they arrive (not `.`/`..`); an unparsable
    /// line is an error item, a bound passed ends the stream with an error.
    pub(super) fn list_entries(&self, dir: Path) -> BoxStream<'_, Result<ListEntry>> {
        futures::stream::once(async move { self.open_listing(dir).await })
            .flat_map(|r| match r {
                Ok(listing) => listing.into_stream().left_stream(),
                Err(e) => futures::stream::iter([Err(e)]).right_stream(),
            })
            .boxed()
    }

    /// The entries of `dir` as attributes of its children.
    pub(super) fn list_one(&self, dir: Path) -> BoxStream<'_, Result<PathAttributes>> {
        let parent = dir.clone();
        self.list_entries(dir).map(move |r| r.and_then(|e| e.into_attributes(&parent))).boxed()
    }

    async fn open_listing(&self, dir: Path) -> Result<Listing> {
        let mut c = self.pool.get().await?;
        // Counted from here: waiting for a busy pool is not the server's doing.
        let deadline = Instant::now() + self.pool.config().timeouts.metadata;
        let d = dir.to_string();
        // CWD, then a bare LIST: no globbing, no trouble with spaces or `-` names.
        if let Err(e) = c.run("CWD", move |c| Box::pin(async move { c.cwd(&d).await })).await {
            drop(c);
            return Err(match reply_code(&e) {
                Some(550) => match Box::pin(self.stat(&dir)).await {
                    Ok(a) if !a.is_directory() => {
                        Error::InvalidInput(format!("{dir} is not a directory"))
                    }
                    Ok(_) => refused(format!("list {dir}"), e),
                    Err(e) => e,
                },
                _ => e,
            });
        }
        let command = if self.pool.features().mlst { "MLSD" } else { "LIST" };
        let (_, transfer) = c
            .run_data(command, move |c| {
                Box::pin(
                    c.custom_data_command(command, &[Status::AboutToSend, Status::AlreadyOpen]),
                )
            })
            .await?;
        // The control connection is busy until the listing ends.
        c.reusable = false;
        Ok(Listing {
            conn: c,
            data: BufReader::new(transfer),
            command,
            dir,
            deadline,
            lines: 0,
            line: Vec::new(),
            now: SystemTime::now(),
        })
    }

    /// Attributes of one path, links not followed: `MLST` where the server
    /// has it (one reply, whatever the size of the directory), else the
    /// parent's listing read until the name turns up.
    pub(super) async fn stat(&self, path: &Path) -> Result<PathAttributes> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Ok(PathAttributes::new(path.clone(), EntryKind::Directory, 0));
        };
        if self.pool.features().mlst {
            return self.mlst(path, &parent, name).await;
        }
        let mut listing = match self.open_listing(parent.clone()).await {
            Ok(l) => l,
            Err(e) if e.is_not_found() || e.kind() == hpc_core::ErrorKind::InvalidInput => {
                return Err(Error::path_not_found(path));
            }
            Err(e) => return Err(e),
        };
        // Read only until the name turns up; stopping early closes the
        // data connection (and its control connection) instead of reading on.
        while let Some(line) = listing.next_line().await? {
            if let Some(Ok(e)) = listing.parse(&line)
                && e.name == name
            {
                return e.into_attributes(&parent);
            }
        }
        listing.finish().await?;
        Err(Error::path_not_found(path))
    }

    async fn mlst(&self, path: &Path, parent: &Path, name: &str) -> Result<PathAttributes> {
        let mut c = self.pool.get().await?;
        let p = path.to_string();
        let line =
            match c.run("MLST", move |c| Box::pin(async move { c.mlst(Some(&p)).await })).await {
                Ok(line) => line,
                Err(e) if matches!(reply_code(&e), Some(550 | 450)) => {
                    return Err(Error::path_not_found(path));
                }
                Err(e) => return Err(e),
            };
        // The facts describe `path`; the name the server echoes is not used.
        match parse_mlsd_line(&line)? {
            Some(mut e) => {
                e.name = name.to_owned();
                e.into_attributes(parent)
            }
            // `type=cdir`: the directory itself.
            None => Ok(PathAttributes::new(path.clone(), EntryKind::Directory, 0)),
        }
    }
}

impl Listing {
    fn into_stream(self) -> BoxStream<'static, Result<ListEntry>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut listing = state?;
            loop {
                match listing.next_line().await {
                    Ok(Some(line)) => {
                        if let Some(item) = listing.parse(&line) {
                            return Some((item, Some(listing)));
                        }
                    }
                    Ok(None) => {
                        return match listing.finish().await {
                            Ok(()) => None,
                            Err(e) => Some((Err(e), None)),
                        };
                    }
                    // The connection is dropped with the listing: never reused mid-transfer.
                    Err(e) => return Some((Err(e), None)),
                }
            }
        })
        .boxed()
    }

    fn parse(&self, line: &str) -> Option<Result<ListEntry>> {
        let parsed = if self.command == "MLSD" {
            parse_mlsd_line(line)
        } else {
            parse_list_line(line, self.now)
        };
        match parsed {
            Ok(Some(e)) if e.name == "." || e.name == ".." => None,
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn what(&self) -> String {
        format!("{} {} on {}", self.command, self.dir, self.conn.pool().host())
    }

    /// The time limit that ends the next wait: the idle one, or the
    /// listing's deadline if that comes first.
    fn wait_limit(&self) -> (Instant, Error) {
        let limits = self.conn.pool().config().timeouts;
        let idle_end = Instant::now() + limits.idle;
        if self.deadline < idle_end {
            (self.deadline, Error::Timeout { what: self.what(), after: limits.metadata })
        } else {
            (
                idle_end,
                Error::Timeout { what: format!("{} (no data)", self.what()), after: limits.idle },
            )
        }
    }

    /// The next non-empty line, without its line end; `None` at the end.
    async fn next_line(&mut self) -> Result<Option<String>> {
        let config = self.conn.pool().config();
        let (max_line, max_entries) = (config.max_line, config.max_entries);
        self.line.clear();
        loop {
            let (end, timed_out) = self.wait_limit();
            let available = match tokio::time::timeout_at(end, self.data.fill_buf()).await {
                Err(_) => return Err(timed_out),
                Ok(Err(e)) => {
                    return Err(Error::connection_lost(self.conn.pool().host(), e)
                        .during(format_args!("{} {}", self.command, self.dir)));
                }
                Ok(Ok(b)) => b,
            };
            if available.is_empty() {
                // The end of the data; a last line without a line end still counts.
                if self.line.is_empty() {
                    return Ok(None);
                }
                break;
            }
            let newline = available.iter().position(|b| *b == b'\n');
            let take = newline.unwrap_or(available.len());
            if self.line.len() + take > max_line {
                let start = String::from_utf8_lossy(&self.line[..self.line.len().min(80)]);
                return Err(Error::parse(
                    format!("{} {}", self.command, self.dir),
                    format!(
                        "a line longer than {max_line} bytes (the location's max_line= option)"
                    ),
                    start.into_owned(),
                ));
            }
            self.line.extend_from_slice(&available[..take]);
            self.data.consume(take + usize::from(newline.is_some()));
            if newline.is_none() {
                continue;
            }
            if self.line.ends_with(b"\r") {
                self.line.pop();
            }
            if !self.line.is_empty() {
                break;
            }
        }
        self.lines += 1;
        if self.lines > max_entries {
            return Err(Error::parse(
                format!("{} {}", self.command, self.dir),
                format!("more than {max_entries} entries (the location's max_entries= option)"),
                String::new(),
            ));
        }
        Ok(Some(String::from_utf8_lossy(&self.line).into_owned()))
    }

    /// The end of the data: the server's completion reply, after which the
    /// connection can serve again.
    async fn finish(self) -> Result<()> {
        let Listing { mut conn, data, .. } = self;
        let limit = conn.pool().config().timeouts.idle;
        let host = conn.pool().host();
        match tokio::time::timeout(limit, data.into_inner().finish()).await {
            Ok(Ok(())) => {
                conn.reusable = true;
                Ok(())
            }
            Ok(Err(e)) => Err(super::error::ftp_error(e, "LIST", &host)),
            Err(_) => Err(Error::Timeout {
                what: format!("LIST on {host}: completion reply"),
                after: limit,
            }),
        }
    }
}
