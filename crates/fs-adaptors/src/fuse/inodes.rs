//! Inode numbers for the paths the kernel has looked up. Root is 1; a
//! number stays with its path across renames, and goes when the path is
//! removed.

use std::collections::HashMap;

use hpc_core::Path;

/// The kernel's inode numbers for the paths it has looked up. Root is 1.
pub(super) struct Inodes {
    by_ino: HashMap<u64, Path>,
    by_path: HashMap<Path, u64>,
    next: u64,
}

impl Inodes {
    pub(super) fn new(root: Path) -> Self {
        let mut i = Inodes { by_ino: HashMap::new(), by_path: HashMap::new(), next: 2 };
        i.by_ino.insert(1, root.clone());
        i.by_path.insert(root, 1);
        i
    }

    pub(super) fn path(&self, ino: u64) -> Option<Path> {
        self.by_ino.get(&ino).cloned()
    }

    pub(super) fn ino(&mut self, path: &Path) -> u64 {
        if let Some(i) = self.by_path.get(path) {
            return *i;
        }
        let i = self.next;
        self.next += 1;
        self.by_ino.insert(i, path.clone());
        self.by_path.insert(path.clone(), i);
        i
    }

    /// A path and everything below it moved (keeps inode numbers stable).
    pub(super) fn renamed(&mut self, from: &Path, to: &Path) {
        if let Some(i) = self.by_path.remove(to) {
            self.by_ino.remove(&i);
        }
        let moved: Vec<(Path, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.starts_with(from))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (old, i) in moved {
            let Some(rel) = old.strip_prefix(from) else { continue };
            let mut new = to.clone();
            for e in rel.elements() {
                // Elements came from earlier, checked paths.
                new = new.join_entry(e).unwrap_or_else(|_| new.clone());
            }
            self.by_path.remove(&old);
            self.by_path.insert(new.clone(), i);
            self.by_ino.insert(i, new);
        }
    }

    pub(super) fn removed(&mut self, path: &Path) {
        if let Some(i) = self.by_path.remove(path) {
            self.by_ino.remove(&i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_move_descendants() {
        let p = |s: &str| Path::new(s).unwrap();
        let mut i = Inodes::new(p("/r"));
        let a = i.ino(&p("/r/a"));
        let b = i.ino(&p("/r/a/b"));
        let c = i.ino(&p("/r/c"));
        let sibling = i.ino(&p("/r/ab"));
        i.renamed(&p("/r/a"), &p("/r/c"));
        assert_eq!(i.path(sibling), Some(p("/r/ab")), "/r/ab is not below /r/a");
        assert_eq!(i.path(a), Some(p("/r/c")));
        assert_eq!(i.path(b), Some(p("/r/c/b")));
        assert_eq!(i.path(c), None, "the replaced target is gone");
        assert_eq!(i.ino(&p("/r/c/b")), b);
        i.removed(&p("/r/c/b"));
        assert_eq!(i.path(b), None);
        // Onto a path nobody looked up yet.
        i.renamed(&p("/r/c"), &p("/r/new"));
        assert_eq!(i.path(a), Some(p("/r/new")));
    }

    #[test]
    fn numbers_are_stable_and_unique() {
        let p = |s: &str| Path::new(s).unwrap();
        let mut i = Inodes::new(p("/r"));
        assert_eq!(i.ino(&p("/r")), 1, "the root is inode 1");
        let a = i.ino(&p("/r/a"));
        let b = i.ino(&p("/r/b"));
        assert!(a > 1 && b > 1 && a != b);
        assert_eq!(i.ino(&p("/r/a")), a, "looking a path up again gives the same number");
        assert_eq!(i.path(a), Some(p("/r/a")));
        assert_eq!(i.path(99), None);
        i.removed(&p("/r/a"));
        let again = i.ino(&p("/r/a"));
        assert!(again != a && again != b, "a removed number is not handed out again");
    }
}
