//! [`Path`]: a normalised POSIX-style path on any file system.
//!
//! Paths are UTF-8 text with `/` as the separator, absolute (`/a/b`) or
//! relative (`a/b`). Construction normalises lexically: repeated and trailing
//! slashes and `.` elements vanish, `..` removes the element before it (and
//! stops at the root of an absolute path). Names that come from a server
//! (listing entries) are checked with [`validate_entry_name`] before they are
//! joined, so a hostile listing cannot climb out of a directory.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A normalised path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Path {
    absolute: bool,
    elements: Vec<String>,
}

impl Path {
    /// The root `/`.
    pub fn root() -> Self {
        Path { absolute: true, elements: Vec::new() }
    }

    /// Parse and normalise. Fails only on a NUL byte.
    pub fn new(text: &str) -> Result<Self> {
        if text.contains('\0') {
            return Err(Error::InvalidInput(format!("path {text:?} contains a NUL byte")));
        }
        let absolute = text.starts_with('/');
        let mut elements: Vec<String> = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => match elements.last() {
                    Some(last) if last != ".." => {
                        elements.pop();
                    }
                    _ if absolute => {}
                    _ => elements.push("..".into()),
                },
                name => elements.push(name.to_owned()),
            }
        }
        Ok(Path { absolute, elements })
    }

    /// Whether the path starts at the root.
    pub fn is_absolute(&self) -> bool {
        self.absolute
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.absolute && self.elements.is_empty()
    }

    /// The path's elements.
    pub fn elements(&self) -> &[String] {
        &self.elements
    }

    /// The last element, if any.
    pub fn file_name(&self) -> Option<&str> {
        self.elements.last().map(String::as_str).filter(|n| *n != "..")
    }

    /// The parent directory (`None` for `/` and for an empty relative path).
    pub fn parent(&self) -> Option<Path> {
        if self.elements.is_empty() {
            return None;
        }
        let mut p = self.clone();
        p.elements.pop();
        Some(p)
    }

    /// Join a relative path (normalised); an absolute `other` replaces `self`.
    pub fn join(&self, other: &str) -> Result<Path> {
        if other.starts_with('/') {
            return Path::new(other);
        }
        Path::new(&format!("{self}/{other}"))
    }

    /// Append one entry name from a listing, rejecting names that would leave
    /// this directory (see [`validate_entry_name`]).
    pub fn join_entry(&self, name: &str) -> Result<Path> {
        validate_entry_name(name)?;
        let mut p = self.clone();
        p.elements.push(name.to_owned());
        Ok(p)
    }

    /// Resolve against a working directory: absolute paths stay as they are.
    pub fn resolve(&self, cwd: &Path) -> Path {
        if self.absolute {
            return self.clone();
        }
        let mut p = cwd.clone();
        for e in &self.elements {
            if e == ".." {
                if p.elements.last().is_some_and(|l| l != "..") {
                    p.elements.pop();
                } else if !p.absolute {
                    p.elements.push("..".into());
                }
            } else {
                p.elements.push(e.clone());
            }
        }
        p
    }

    /// Whether `self` is `prefix` or lies below it (element-wise).
    pub fn starts_with(&self, prefix: &Path) -> bool {
        self.absolute == prefix.absolute
            && self.elements.len() >= prefix.elements.len()
            && self.elements.iter().zip(&prefix.elements).all(|(a, b)| a == b)
    }

    /// The part of `self` below `base` as a relative path, if `self` lies there.
    pub fn strip_prefix(&self, base: &Path) -> Option<Path> {
        self.starts_with(base).then(|| Path {
            absolute: false,
            elements: self.elements[base.elements.len()..].to_vec(),
        })
    }

    /// Number of elements.
    pub fn depth(&self) -> usize {
        self.elements.len()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.absolute {
            f.write_str("/")?;
        } else if self.elements.is_empty() {
            return f.write_str(".");
        }
        f.write_str(&self.elements.join("/"))
    }
}

impl std::str::FromStr for Path {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Path::new(s)
    }
}

impl TryFrom<String> for Path {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Path::new(&s)
    }
}

impl From<Path> for String {
    fn from(p: Path) -> String {
        p.to_string()
    }
}

/// Check one directory-entry name as a server sent it.
///
/// Rejects the empty name, `.` and `..`, and names with `/` or NUL: joining any
/// of these would address something other than a child of the directory.
pub fn validate_entry_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "is empty"
    } else if name == "." || name == ".." {
        "is a relative reference"
    } else if name.contains('/') {
        "contains '/'"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput(format!("directory entry {name:?} {reason}; refusing to use it")))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn p(s: &str) -> Path {
        Path::new(s).unwrap()
    }

    #[test]
    fn normalises() {
        for (input, want) in [
            ("/", "/"),
            ("", "."),
            (".", "."),
            ("//a//b/", "/a/b"),
            ("/a/./b/../c", "/a/c"),
            ("/../..", "/"),
            ("a/../../b", "../b"),
            ("../../x", "../../x"),
            ("a b/ü n", "a b/ü n"),
        ] {
            assert_eq!(p(input).to_string(), want, "{input}");
        }
        assert!(Path::new("a\0b").is_err());
    }

    #[test]
    fn join_and_resolve() {
        assert_eq!(p("/a").join("b/c").unwrap().to_string(), "/a/b/c");
        assert_eq!(p("/a").join("/x").unwrap().to_string(), "/x");
        assert_eq!(p("x/../y").resolve(&p("/home/u")).to_string(), "/home/u/y");
        assert_eq!(p("../../../z").resolve(&p("/h/u")).to_string(), "/z");
        assert_eq!(p("/a/b").parent().unwrap().to_string(), "/a");
        assert_eq!(p("/a/b").file_name(), Some("b"));
        assert!(p("/").parent().is_none());
        assert_eq!(p("/a/b/c").strip_prefix(&p("/a")).unwrap().to_string(), "b/c");
        assert!(p("/ab").strip_prefix(&p("/a")).is_none());
    }

    #[test]
    fn hostile_entry_names_are_rejected() {
        let dir = p("/target");
        for bad in ["", ".", "..", "a/b", "../etc", "x\0y", "/abs"] {
            assert!(dir.join_entry(bad).is_err(), "{bad:?}");
        }
        assert_eq!(dir.join_entry("..a").unwrap().to_string(), "/target/..a");
        assert_eq!(dir.join_entry(" sp ace ").unwrap().to_string(), "/target/ sp ace ");
    }

    proptest! {
        #[test]
        fn normalised_paths_are_fixed_points(s in "[a-z./]{0,20}") {
            let once = Path::new(&s).unwrap();
            let twice = Path::new(&once.to_string()).unwrap();
            prop_assert_eq!(&once, &twice);
        }

        #[test]
        fn joined_entries_stay_inside(names in proptest::collection::vec("[^\0]{0,8}", 1..5)) {
            let root = Path::new("/root").unwrap();
            let mut cur = root.clone();
            for n in &names {
                if let Ok(next) = cur.join_entry(n) {
                    cur = next;
                }
            }
            prop_assert!(cur.starts_with(&root));
        }
    }
}
