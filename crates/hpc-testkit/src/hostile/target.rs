//! [`TargetRoot`]: where a hostile-server test copies to, and the check that
//! nothing was written outside it; [`one_line`]: the check of an error's text.

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// A temporary directory with the target root two levels down
/// (`<tmp>/a/b/copy`, not created), so that a name climbing twice out of the
/// root still lands inside the temporary directory, where it is seen.
pub struct TargetRoot {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl TargetRoot {
    /// A fresh temporary directory.
    pub fn new() -> TargetRoot {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path().join("a/b/copy");
        std::fs::create_dir_all(root.parent().expect("a parent")).expect("create <tmp>/a/b");
        TargetRoot { dir, root }
    }

    /// The target root (as text, for `hpc_core::Path::new`).
    pub fn root(&self) -> &str {
        self.root.to_str().expect("a UTF-8 temporary path")
    }

    /// Panics if anything was written outside the root.
    pub fn assert_nothing_outside(&self) {
        let outside: Vec<PathBuf> = tree(self.dir.path())
            .into_iter()
            .filter(|p| !p.starts_with(&self.root) && !self.root.starts_with(p))
            .collect();
        assert!(outside.is_empty(), "written outside the target root: {outside:?}");
    }

    /// Every file and directory below the root, relative to it.
    pub fn inside(&self) -> Vec<String> {
        if !self.root.exists() {
            return Vec::new();
        }
        let mut out: Vec<String> = tree(&self.root)
            .iter()
            .map(|p| p.strip_prefix(&self.root).unwrap_or(p).display().to_string())
            .collect();
        out.sort();
        out
    }
}

impl Default for TargetRoot {
    fn default() -> Self {
        TargetRoot::new()
    }
}

/// Every file and directory below `root`.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read a temporary directory") {
            let p = e.expect("a directory entry").path();
            if p.is_dir() && !p.is_symlink() {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

/// `error`'s text, after checking that it is one line without NUL (what a
/// hostile name could otherwise smuggle into a log or a terminal).
pub fn one_line(error: &impl Display) -> String {
    let text = error.to_string();
    assert!(!text.contains(['\n', '\r', '\0']), "not one clean line: {text:?}");
    text
}
