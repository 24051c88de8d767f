//! The feature sets users can build a crate with, beyond the default one
//! the workspace build already covers: without default features, and with
//! each feature alone. A helper used only under two of four features is
//! dead code (a `-D warnings` error) under the other two; only building
//! each set shows that.

use std::path::Path;

use anyhow::{Context, Result};

/// One `cargo clippy -p <package> --no-default-features [--features <f>]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FeatureSet {
    /// The package name.
    pub(crate) package: String,
    /// The one feature turned on, or `None` for no features at all.
    pub(crate) feature: Option<String>,
}

impl FeatureSet {
    /// The cargo arguments that select this set.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = vec!["-p".into(), self.package.clone(), "--no-default-features".into()];
        if let Some(f) = &self.feature {
            args.extend(["--features".into(), f.clone()]);
        }
        args
    }
}

/// The sets of every crate under `crates/` of the workspace at `root`.
pub(crate) fn of_workspace(root: &Path) -> Result<Vec<FeatureSet>> {
    let mut manifests: Vec<_> = std::fs::read_dir(root.join("crates"))
        .context("cannot list crates/")?
        .filter_map(|e| Some(e.ok()?.path().join("Cargo.toml")))
        .filter(|p| p.is_file())
        .collect();
    manifests.sort();
    let mut sets = Vec::new();
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        sets.extend(of_manifest(&text));
    }
    Ok(sets)
}

/// The sets of one `Cargo.toml`: none at all and each feature alone, leaving
/// out the set the default build already is.
fn of_manifest(text: &str) -> Vec<FeatureSet> {
    let Some(package) = table(text, "package").find_map(|(k, v)| (k == "name").then_some(v)) else {
        return Vec::new();
    };
    let package = package.trim_matches('"').to_string();
    let features: Vec<(String, String)> = table(text, "features").collect();
    if features.is_empty() {
        return Vec::new();
    }
    let default: Vec<String> = features
        .iter()
        .find(|(k, _)| k == "default")
        .map(|(_, v)| {
            v.trim_matches(['[', ']'])
                .split(',')
                .map(|f| f.trim().trim_matches('"').to_string())
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let alone = features.iter().map(|(k, _)| k).filter(|k| *k != "default").cloned().map(Some);
    std::iter::once(None)
        .chain(alone)
        .filter(|f: &Option<String>| {
            let set: Vec<&String> = f.iter().collect();
            set != default.iter().collect::<Vec<_>>()
        })
        .map(|feature| FeatureSet { package: package.clone(), feature })
        .collect()
}

/// The one-line `key = value` entries of the TOML table `[name]`.
fn table<'a>(text: &'a str, name: &str) -> impl Iterator<Item = (String, String)> + 'a {
    let header = format!("[{name}]");
    text.lines()
        .skip_while(move |l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sets: &[FeatureSet]) -> Vec<String> {
        sets.iter()
            .map(|s| format!("{}:{}", s.package, s.feature.as_deref().unwrap_or("-")))
            .collect()
    }

    #[test]
    fn each_feature_alone_and_none_but_not_the_default_set_again() {
        let text = r#"
[package]
name = "fs-adaptors"
edition.workspace = true

[features]
default = ["sftp", "s3"]
## a comment
sftp = ["dep:russh-sftp"]
s3 = ["dep:rusty-s3", "tokio-util/rt"]
fuse = ["dep:fuser"]

[dependencies]
name = "not a feature"
"#;
        assert_eq!(
            names(&of_manifest(text)),
            ["fs-adaptors:-", "fs-adaptors:sftp", "fs-adaptors:s3", "fs-adaptors:fuse"]
        );
        // A default of one feature is that feature alone: built already.
        let one = "[package]\nname = \"cli\"\n[features]\ndefault = [\"fuse\"]\nfuse = []\n";
        assert_eq!(names(&of_manifest(one)), ["cli:-"]);
        // No default: no features is the default build.
        let none = "[package]\nname = \"kit\"\n[features]\nfuse = [\"x/fuse\"]\n";
        assert_eq!(names(&of_manifest(none)), ["kit:fuse"]);
        assert!(of_manifest("[package]\nname = \"plain\"\n[dependencies]\n").is_empty());
    }

    #[test]
    fn args_select_the_set() {
        let s = FeatureSet { package: "p".into(), feature: Some("ftp".into()) };
        assert_eq!(s.args(), ["-p", "p", "--no-default-features", "--features", "ftp"]);
        let none = FeatureSet { package: "p".into(), feature: None };
        assert_eq!(none.args(), ["-p", "p", "--no-default-features"]);
    }

    #[test]
    fn this_workspace_has_the_sets_of_its_optional_adaptors() {
        let sets = of_workspace(&crate::cmd::workspace_root()).unwrap();
        let names = names(&sets);
        for want in ["fs-adaptors:-", "fs-adaptors:s3", "fs-adaptors:ftp", "hpc-exec:-"] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
    }
}
