//! `cargo xtask codegen [--check]`: the generated sections of the docs.
//!
//! The data lives in the crates (capabilities, clap definitions), so xtask
//! does not depend on them: it builds and runs their generator, the example
//! `docgen` of hpckit-cli, which prints each section between its markers,
//!
//! ```text
//! <!-- generated:begin NAME (cargo xtask codegen) -->
//! ...
//! <!-- generated:end NAME -->
//! ```
//!
//! and puts each section's text between the same markers in every Markdown
//! file of the workspace that carries them. `--check` writes nothing and
//! fails when a file differs (CI runs it). A marker without a generated
//! section, or a section no file carries, is an error too.
//!
//! The example is built with the package selection of the unit-test step of
//! `cargo xtask test` (`--workspace --exclude itests`): same features, so
//! the libraries it links are the ones that step builds anyway, and the
//! check costs one link, not a second build of the workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// The example that prints every generated section.
const GENERATOR: &str = "docgen";

/// Section name to text (each line ending in `\n`).
type Sections = BTreeMap<String, String>;

/// `cargo xtask codegen`; with `check`, only compare.
pub(crate) fn run(check: bool) -> Result<()> {
    let root = cmd::workspace_root();
    let generator = build_generator()?;
    let out = cmd::output(std::process::Command::new(&generator).current_dir(&root))?;
    let sections = parse_sections(&out).with_context(|| format!("output of {GENERATOR}"))?;
    sync(&root, &sections, check)
}

/// Puts `sections` into the Markdown files below `root`; with `check`, only
/// compares and names the files and sections that differ.
fn sync(root: &Path, sections: &Sections, check: bool) -> Result<()> {
    let mut used = BTreeSet::new();
    let mut stale = Vec::new();
    for file in markdown_files(root)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        let (new, names) = splice(&text, sections).with_context(|| shown.clone())?;
        if new != text {
            if check {
                let changed: Vec<&str> = names
                    .iter()
                    .filter(|(name, old)| sections[name] != *old)
                    .map(|(n, _)| n.as_str())
                    .collect();
                stale.push(format!("{shown} (section {})", changed.join(", ")));
            } else {
                std::fs::write(&file, &new).with_context(|| format!("cannot write {shown}"))?;
                println!("codegen: wrote {shown}");
            }
        }
        used.extend(names.into_iter().map(|(n, _)| n));
    }
    let unused: Vec<&str> =
        sections.keys().filter(|n| !used.contains(*n)).map(String::as_str).collect();
    if !unused.is_empty() {
        bail!(
            "no Markdown file carries the markers of generated section(s) {}; put \
             `<!-- generated:begin NAME (cargo xtask codegen) -->` and \
             `<!-- generated:end NAME -->` where each belongs",
            unused.join(", ")
        );
    }
    if !stale.is_empty() {
        bail!(
            "generated docs are out of date: {}; run `cargo xtask codegen` and commit the result",
            stale.join("; ")
        );
    }
    Ok(())
}

/// Builds the generator and returns the path of its executable.
fn build_generator() -> Result<PathBuf> {
    let mut build = cmd::cargo();
    // The whole workspace, as the test steps select it: the same feature
    // resolution reuses what they built (a narrower one rebuilt a minute's worth).
    build.args(["build", "--workspace", "--example", GENERATOR]);
    build.args(["--message-format", "json-render-diagnostics"]);
    // Compiler output and errors go to the terminal; stdout is cargo's JSON.
    let out = build
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start `{}`", cmd::display(&build)))?;
    if !out.status.success() {
        bail!("`{}` failed ({})", cmd::display(&build), out.status);
    }
    let json = String::from_utf8_lossy(&out.stdout);
    executable_of(&json, GENERATOR).with_context(|| {
        format!("`{}` named no executable for example {GENERATOR}", cmd::display(&build))
    })
}

/// The `executable` of the artifact message for example `name` in cargo's
/// JSON messages (one object a line).
fn executable_of(messages: &str, name: &str) -> Option<PathBuf> {
    let name = format!("\"name\":\"{name}\"");
    let line = messages.lines().find(|l| {
        l.contains("\"reason\":\"compiler-artifact\"")
            && l.contains("\"kind\":[\"example\"]")
            && l.contains(&name)
    })?;
    let rest = &line[line.find("\"executable\":\"")? + "\"executable\":\"".len()..];
    let path = &rest[..rest.find('"')?];
    // An escaped character would need JSON decoding; no path here has one.
    (!path.contains('\\')).then(|| PathBuf::from(path))
}

/// `NAME` of a begin marker line.
fn begin_name(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("<!-- generated:begin ")?
        .strip_suffix(" (cargo xtask codegen) -->")
        .filter(|n| !n.is_empty() && !n.contains(' '))
}

/// `NAME` of an end marker line.
fn end_name(line: &str) -> Option<&str> {
    line.trim().strip_prefix("<!-- generated:end ")?.strip_suffix(" -->")
}

/// The blocks between markers in `text`: `(name, begin line index, end line
/// index)`; unbalanced or nested markers are errors.
fn blocks(lines: &[&str]) -> Result<Vec<(String, usize, usize)>> {
    let mut out = Vec::new();
    let mut open: Option<(&str, usize)> = None;
    for (i, line) in lines.iter().enumerate() {
        match (open, begin_name(line), end_name(line)) {
            (None, Some(name), _) => open = Some((name, i)),
            (Some((name, _)), Some(_), _) => {
                bail!("line {}: a section begins inside {name}", i + 1)
            }
            (Some((name, start)), None, Some(end)) if end == name => {
                out.push((name.to_owned(), start, i));
                open = None;
            }
            (_, None, Some(end)) => bail!("line {}: end of {end} without its begin", i + 1),
            _ => {}
        }
        let marker = line.trim_start().starts_with("<!-- generated:");
        if marker && begin_name(line).is_none() && end_name(line).is_none() {
            bail!("line {}: malformed marker {:?}", i + 1, line.trim());
        }
    }
    if let Some((name, start)) = open {
        bail!("line {}: section {name} has no end marker", start + 1);
    }
    Ok(out)
}

/// The sections a generator printed.
fn parse_sections(output: &str) -> Result<Sections> {
    let lines: Vec<&str> = output.lines().collect();
    let mut sections = Sections::new();
    for (name, start, end) in blocks(&lines).context("generator output")? {
        let text: String = lines[start + 1..end].iter().map(|l| format!("{l}\n")).collect();
        if sections.insert(name.clone(), text).is_some() {
            bail!("section {name} printed twice");
        }
    }
    Ok(sections)
}

/// `text` with every marked section replaced by its generated text, and the
/// sections it carries with their text before (name, old text).
fn splice(text: &str, sections: &Sections) -> Result<(String, Vec<(String, String)>)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut carried = Vec::new();
    let mut next = 0;
    for (name, start, end) in blocks(&lines)? {
        let Some(body) = sections.get(&name) else {
            bail!("line {}: no generator prints section {name}", start + 1);
        };
        out.extend(lines[next..=start].iter().copied());
        out.push_str(body);
        next = end;
        carried.push((name, lines[start + 1..end].concat()));
    }
    out.extend(lines[next..].iter().copied());
    Ok((out, carried))
}

/// Every `*.md` below `root`, but not in `target/` or hidden folders.
fn markdown_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {dir:?}"))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    dirs.push(path);
                }
            } else if name.ends_with(".md") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "<!-- generated:begin table (cargo xtask codegen) -->\n| a |\n\
                          <!-- generated:end table -->\n";

    #[test]
    fn sections_are_put_between_their_markers() {
        let sections = parse_sections(OUTPUT).unwrap();
        assert_eq!(sections["table"], "| a |\n");
        let doc = "# T\n<!-- generated:begin table (cargo xtask codegen) -->\nold\nrows\n\
                   <!-- generated:end table -->\ntail\n";
        let (new, names) = splice(doc, &sections).unwrap();
        assert_eq!(
            new,
            "# T\n<!-- generated:begin table (cargo xtask codegen) -->\n| a |\n\
             <!-- generated:end table -->\ntail\n"
        );
        assert_eq!(names, [("table".to_owned(), "old\nrows\n".to_owned())]);
        // Up to date: nothing changes; no markers: nothing to do.
        assert_eq!(splice(&new, &sections).unwrap().0, new);
        assert_eq!(splice("plain\n", &sections).unwrap(), ("plain\n".to_owned(), vec![]));
    }

    #[test]
    fn bad_markers_are_errors() {
        let sections = parse_sections(OUTPUT).unwrap();
        let begin = "<!-- generated:begin table (cargo xtask codegen) -->\n";
        for (doc, needle) in [
            (format!("{begin}x\n"), "has no end marker"),
            ("<!-- generated:end table -->\n".to_owned(), "without its begin"),
            (format!("{begin}{begin}<!-- generated:end table -->\n"), "begins inside table"),
            (
                "<!-- generated:begin other (cargo xtask codegen) -->\n<!-- generated:end other -->\n"
                    .to_owned(),
                "no generator prints section other",
            ),
            ("<!-- generated:begin table -->\n".to_owned(), "malformed marker"),
        ] {
            let e = format!("{:#}", splice(&doc, &sections).unwrap_err());
            assert!(e.contains(needle), "{doc:?}: {e}");
        }
        assert!(parse_sections(&format!("{OUTPUT}{OUTPUT}")).is_err());
    }

    #[test]
    fn check_names_the_stale_file_and_the_fix_and_writing_fixes_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        let doc = "<!-- generated:begin table (cargo xtask codegen) -->\nold\n\
                   <!-- generated:end table -->\n";
        std::fs::write(root.join("docs/t.md"), doc).unwrap();
        // Build output is not looked at.
        std::fs::write(root.join("target/x.md"), "<!-- generated:end x -->\n").unwrap();
        let sections = parse_sections(OUTPUT).unwrap();
        let e = format!("{:#}", sync(root, &sections, true).unwrap_err());
        assert!(e.contains("docs/t.md (section table)"), "{e}");
        assert!(e.contains("run `cargo xtask codegen`"), "{e}");
        assert_eq!(std::fs::read_to_string(root.join("docs/t.md")).unwrap(), doc, "check writes");
        sync(root, &sections, false).unwrap();
        sync(root, &sections, true).unwrap();
        assert!(std::fs::read_to_string(root.join("docs/t.md")).unwrap().contains("| a |"));
        // A section that no file carries is an error, not silently dropped.
        let mut more = sections.clone();
        more.insert("cli".into(), "x\n".into());
        let e = format!("{:#}", sync(root, &more, true).unwrap_err());
        assert!(e.contains("generated section(s) cli"), "{e}");
    }

    #[test]
    fn the_generator_is_found_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"docgen"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["example"],"crate_types":["bin"],"name":"docgen","src_path":"/w/examples/docgen.rs"},"executable":"/w/target/debug/examples/docgen"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            executable_of(messages, "docgen"),
            Some(PathBuf::from("/w/target/debug/examples/docgen"))
        );
        assert_eq!(executable_of(messages, "other"), None);
    }
}
