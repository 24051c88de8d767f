//! [`Transfer`]: a server-to-server file transfer.

use std::time::Duration;

use hpc_core::{Error, Result};
use serde_json::Value;
use tokio::time::Instant;

use crate::job::Backoff;
use crate::resource::Properties;
use crate::state::TransferState;
use crate::transport::Transport;
use crate::url::last_segment;

/// A transfer's properties, typed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TransferProperties {
    /// State.
    pub status: TransferState,
    /// The server's words about it.
    pub status_message: String,
    /// Bytes moved so far.
    pub transferred_bytes: u64,
    /// Total size (`None` while unknown).
    pub size: Option<u64>,
    /// Everything, as sent.
    pub raw: Properties,
}

/// A server-to-server transfer.
#[derive(Debug, Clone)]
pub struct Transfer {
    transport: Transport,
    url: String,
}

impl Transfer {
    /// The transfer at `url`.
    pub fn new(transport: &Transport, url: &str) -> Self {
        Transfer { transport: transport.clone(), url: url.to_owned() }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its id.
    pub fn id(&self) -> &str {
        last_segment(&self.url)
    }

    /// Its properties.
    pub async fn properties(&self) -> Result<TransferProperties> {
        let props = Properties::new(&self.url, self.transport.get_json(&self.url).await?);
        let status: TransferState = props.require_str("status")?.parse()?;
        Ok(TransferProperties {
            status,
            status_message: props.str("statusMessage").unwrap_or("").to_owned(),
            transferred_bytes: props.get("transferredBytes").and_then(Value::as_u64).unwrap_or(0),
            size: props.get("size").and_then(Value::as_i64).and_then(|s| u64::try_from(s).ok()),
            raw: props,
        })
    }

    /// Aborts it: the `action:abort` link where the server offers one, else
    /// DELETE (UNICORE/X has no abort action for transfers).
    pub async fn abort(&self) -> Result<()> {
        let props = Properties::new(&self.url, self.transport.get_json(&self.url).await?);
        match props.link("action:abort") {
            Ok(url) => {
                self.transport.post(&url, &Value::Object(Default::default())).await.map(|_| ())
            }
            Err(_) => self.transport.delete(&self.url).await,
        }
    }

    /// Waits until the transfer is `state` or later (DONE, FAILED, ABORTED
    /// always end the wait). A FAILED or ABORTED end is returned, not an error.
    pub async fn wait(
        &self,
        state: TransferState,
        timeout: Option<Duration>,
        backoff: Backoff,
        mut progress: impl FnMut(&TransferProperties),
    ) -> Result<TransferProperties> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut pause = backoff.first;
        loop {
            let props = self.properties().await?;
            progress(&props);
            if props.status >= state || props.status.is_final() {
                return Ok(props);
            }
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    return Err(Error::Timeout {
                        what: format!("waiting for transfer {} to become {state}", self.id()),
                        after: timeout.unwrap_or_default(),
                    });
                }
                pause = pause.min(d - now);
            }
            tokio::time::sleep(pause).await;
            pause = backoff.next(pause);
        }
    }
}
