//! The checked-in seed corpora: `fuzz/corpus/<target>/*`, one input per file
//! (shared with cargo-fuzz, which reads the same folders).

use std::path::{Path, PathBuf};

/// `fuzz/` of the workspace.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The seeds of `target`, sorted by file name (so runs are reproducible).
pub fn seeds(target: &str) -> std::io::Result<Vec<Vec<u8>>> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    files.retain(|p| p.is_file());
    files.sort();
    files.iter().map(std::fs::read).collect()
}
