//! The handles a client holds (schedulers, file systems, copies), by id.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::errors::XenonError;

/// Objects of one kind, each under an id this server made up.
#[derive(Debug)]
pub(crate) struct Registry<T> {
    kind: &'static str,
    items: Mutex<(u64, BTreeMap<String, Arc<T>>)>,
}

impl<T> Registry<T> {
    pub(crate) fn new(kind: &'static str) -> Self {
        Registry { kind, items: Mutex::new((0, BTreeMap::new())) }
    }

    /// Stores `make(id)` under a fresh id that starts with `prefix`.
    pub(crate) fn insert_with(&self, prefix: &str, make: impl FnOnce(String) -> T) -> Arc<T> {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.0 += 1;
        let id = format!("{prefix}#{}", items.0);
        let item = Arc::new(make(id.clone()));
        items.1.insert(id, Arc::clone(&item));
        item
    }

    /// The item under `id`, or Xenon's error for a handle it does not know.
    pub(crate) fn get(&self, id: &str) -> Result<Arc<T>, XenonError> {
        let items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.1.get(id).cloned().ok_or_else(|| XenonError::no_such(self.kind, id))
    }

    /// Forgets `id`, returning what was stored.
    pub(crate) fn remove(&self, id: &str) -> Result<Arc<T>, XenonError> {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.1.remove(id).ok_or_else(|| XenonError::no_such(self.kind, id))
    }

    /// Whether `id` is known.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).1.contains_key(id)
    }

    /// Every id, in order of creation within each prefix.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).1.keys().cloned().collect()
    }

    /// Every item whose `keep` is true.
    pub(crate) fn find(&self, keep: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        let items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.1.values().filter(|t| keep(t)).cloned().collect()
    }
}
