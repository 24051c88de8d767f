//! What every UNICORE resource shares: its JSON properties with `_links`, and
//! the paged collections (`offset`, `num`, `tags`, `next`).

use std::collections::BTreeMap;

use hpc_core::Result;
use serde_json::Value;

use crate::error;
use crate::transport::Transport;
use crate::url::with_query;

/// A resource's properties as the server sent them, with typed access.
#[derive(Debug, Clone, PartialEq)]
pub struct Properties {
    url: String,
    value: Value,
}

impl Properties {
    pub(crate) fn new(url: &str, value: Value) -> Self {
        Properties { url: url.to_owned(), value }
    }

    /// The whole JSON document.
    pub fn json(&self) -> &Value {
        &self.value
    }

    /// Takes the JSON document.
    pub fn into_json(self) -> Value {
        self.value
    }

    /// A property.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.value.get(key)
    }

    /// A text property (`None` if absent or not text).
    pub fn str(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }

    /// A text property that must be there.
    pub fn require_str(&self, key: &str) -> Result<&str> {
        self.str(key).ok_or_else(|| error::missing(&self.url, key))
    }

    /// The link relations and their URLs.
    pub fn links(&self) -> BTreeMap<String, String> {
        self.value
            .get("_links")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.get("href")?.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The URL of link `relation`; a typed error when the server offers none.
    pub fn link(&self, relation: &str) -> Result<String> {
        self.value
            .get("_links")
            .and_then(|l| l.get(relation))
            .and_then(|l| l.get("href"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| error::missing_link(&self.url, relation))
    }
}

/// Which part of a collection to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Page {
    /// Entries to skip.
    pub offset: u32,
    /// Entries at most (server default 200).
    pub num: Option<u32>,
    /// Only entries with all these tags.
    pub tags: Vec<String>,
}

impl Page {
    /// Entries `offset..offset+num`.
    pub fn new(offset: u32, num: u32) -> Self {
        Page { offset, num: Some(num), tags: Vec::new() }
    }

    /// Only entries tagged `tag` (may be repeated).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    pub(crate) fn params(&self, filter_all: bool) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.offset > 0 {
            p.push(("offset", self.offset.to_string()));
        }
        if let Some(n) = self.num {
            p.push(("num", n.to_string()));
        }
        if !self.tags.is_empty() {
            p.push(("tags", self.tags.join(",")));
        }
        if filter_all {
            p.push(("filter", "all".to_owned()));
        }
        p
    }
}

/// The child URLs of one page of collection `url` (JSON key `name`).
pub(crate) async fn list_page(
    transport: &Transport,
    url: &str,
    name: &str,
    page: &Page,
    filter_all: bool,
) -> Result<Vec<String>> {
    let doc: Value = transport.get_json(&with_query(url, &page.params(filter_all))).await?;
    urls_in(&doc, url, name)
}

/// Every child URL of collection `url`, following `next` links.
pub(crate) async fn list_all(
    transport: &Transport,
    url: &str,
    name: &str,
    tags: &[String],
    filter_all: bool,
) -> Result<Vec<String>> {
    let page = Page { offset: 0, num: None, tags: tags.to_vec() };
    let mut next = Some(with_query(url, &page.params(filter_all)));
    let mut all = Vec::new();
    // A server that keeps answering with the same `next` must not loop forever.
    let mut seen = std::collections::BTreeSet::new();
    while let Some(page_url) = next.take() {
        if !seen.insert(page_url.clone()) {
            break;
        }
        let doc: Value = transport.get_json(&page_url).await?;
        let urls = urls_in(&doc, url, name)?;
        let empty = urls.is_empty();
        all.extend(urls);
        next = Properties::new(url, doc).link("next").ok().filter(|_| !empty);
    }
    Ok(all)
}

fn urls_in(doc: &Value, url: &str, name: &str) -> Result<Vec<String>> {
    let list = doc.get(name).and_then(Value::as_array).ok_or_else(|| error::missing(url, name))?;
    list.iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| error::missing(url, name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_missing_links() {
        let p = Properties::new(
            "https://h/S/rest/core/jobs/1",
            serde_json::json!({"status": "RUNNING", "_links": {"self": {"href": "https://h/x"}, "bad": {}}}),
        );
        assert_eq!(p.link("self").unwrap(), "https://h/x");
        let e = p.link("action:start").unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Parse);
        assert!(e.to_string().contains("no \"action:start\" link"), "{e}");
        assert_eq!(p.links().len(), 1);
        assert!(p.require_str("exitCode").is_err());
        assert_eq!(Page::new(5, 10).tag("a").tag("b").params(true).len(), 4);
        assert!(urls_in(&serde_json::json!({"jobs": [1]}), "u", "jobs").is_err());
    }
}
