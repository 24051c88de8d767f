//! Uploads: a `STOR` (or `APPE`) data connection fed from the stream, each
//! write and the completion reply bounded by the configured time limit.

use futures::StreamExt;
use hpc_core::{ByteStream, Error, FileSystem, Path, Result};
use tokio::io::AsyncWriteExt;

use super::backend::FtpFileSystem;
use super::error::{ftp_error, missing_parent, refused, reply_code};

impl FtpFileSystem {
    /// Stream `data` into `path` with STOR (or APPE), returning the byte count.
    pub(super) async fn upload(
        &self,
        path: &Path,
        mut data: ByteStream,
        size: Option<u64>,
        append: bool,
    ) -> Result<u64> {
        let mut c = self.pool.get().await?;
        let p = path.to_string();
        let what = if append { "APPE" } else { "STOR" };
        let transfer = c
            .run_data(what, move |c| {
                let p = p.clone();
                Box::pin(async move {
                    if append {
                        c.append_with_stream(&p).await
                    } else {
                        c.put_with_stream(&p).await
                    }
                })
            })
            .await;
        let mut transfer = match transfer {
            Ok(t) => t,
            Err(e) if matches!(reply_code(&e), Some(550 | 553)) => {
                drop(c);
                let parent = path.parent().unwrap_or_else(Path::root);
                return Err(if !self.exists(&parent).await? {
                    missing_parent(path)
                } else {
                    refused(format!("write {path}"), e)
                });
            }
            Err(e) => return Err(e),
        };
        // The control connection is busy until the transfer finishes.
        c.reusable = false;
        let host = self.pool.host();
        let limit = self.pool.config().timeouts.idle;
        let mut n: u64 = 0;
        while let Some(chunk) = data.next().await {
            let chunk = chunk?;
            n += chunk.len() as u64;
            if size.is_some_and(|s| n > s) {
                return Err(Error::InvalidInput(format!(
                    "the data is longer than the announced {} bytes",
                    size.unwrap_or(0)
                )));
            }
            tokio::time::timeout(limit, transfer.write_all(&chunk))
                .await
                .map_err(|_| Error::Timeout { what: format!("{what} {path}"), after: limit })?
                .map_err(|e| {
                    Error::connection_lost(host.as_str(), e).during(format_args!("{what} {path}"))
                })?;
        }
        if let Some(s) = size
            && n != s
        {
            return Err(Error::InvalidInput(format!(
                "the data ended after {n} of the announced {s} bytes"
            )));
        }
        match tokio::time::timeout(limit, transfer.finish()).await {
            Ok(Ok(())) => {
                c.reusable = true;
                Ok(n)
            }
            Ok(Err(e)) => Err(ftp_error(e, what, &host)),
            Err(_) => Err(Error::Timeout {
                what: format!("{what} {path}: completion reply"),
                after: limit,
            }),
        }
    }
}
