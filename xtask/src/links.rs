//! The link half of `cargo xtask tidy`: every relative link of the
//! repository's Markdown points to a file or folder that exists, and a
//! `#fragment` to a heading of the Markdown file it names.
//!
//! Checked files: [`TOP_LEVEL`], everything below `docs/`, and the README of
//! every crate. Links with a scheme (`https:`, `mailto:`) are left to the
//! reader; links inside code blocks and code spans are not links.
//! Fragments follow GitHub's heading anchors (lower case, punctuation but `-`
//! and `_` dropped, blanks become `-`, repeats get `-1`, `-2`, ...).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Markdown files at the root of the workspace that are checked.
const TOP_LEVEL: &[&str] = &["README.md", "ARCHITECTURE.md", "CHANGELOG.md", "xtask/README.md"];

/// Every broken link below `root`, one line each (`file:line: ...`), paths
/// relative to `root`.
pub(crate) fn problems(root: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for file in markdown_files(root)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        for link in links(&text) {
            if let Some(why) = broken(root, &file, &text, &link.target)? {
                out.push(format!("{shown}:{}: link `{}` {why}", link.line, link.target));
            }
        }
    }
    Ok(out)
}

/// The Markdown files the rule covers, sorted.
fn markdown_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> =
        TOP_LEVEL.iter().map(|f| root.join(f)).filter(|p| p.is_file()).collect();
    let docs = root.join("docs");
    if docs.is_dir() {
        collect_markdown(&docs, &mut files)?;
    }
    let crates = root.join("crates");
    if crates.is_dir() {
        for krate in sorted_entries(&crates)? {
            let readme = krate.join("README.md");
            if readme.is_file() {
                files.push(readme);
            }
        }
    }
    Ok(files)
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            collect_markdown(&entry, out)?;
        } else if entry.extension().is_some_and(|e| e == "md") {
            out.push(entry);
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// A link target and the (1-based) line it is on.
#[derive(Debug, PartialEq)]
struct Link {
    line: usize,
    target: String,
}

/// The inline links `[text](target)` and reference definitions
/// `[label]: target` of `text`, outside code.
fn links(text: &str) -> Vec<Link> {
    let mut out = Vec::new();
    for (line, prose) in prose_lines(text) {
        if let Some(target) = reference_definition(&prose) {
            out.push(Link { line, target });
        }
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = closing_paren(after) else { break };
            let target = link_destination(&after[..end]);
            if !target.is_empty() {
                out.push(Link { line, target });
            }
            rest = &after[end..];
        }
    }
    out
}

/// Lines outside fenced code blocks, with code spans blanked out.
fn prose_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => out.push((i + 1, without_code_spans(line))),
            _ => {}
        }
    }
    out
}

/// `line` with every `` `code` `` span replaced by blanks.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// The target of `[label]: target` at the start of a line.
fn reference_definition(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (label, rest) = rest.split_once("]:")?;
    if label.is_empty() || label.contains(']') {
        return None;
    }
    Some(link_destination(rest)).filter(|t| !t.is_empty())
}

/// Where the `(` opened just before `s` closes (nested parentheses count).
fn closing_paren(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return Some(i),
            ')' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The destination of a link body: `<dest>` or the first word, without a title.
fn link_destination(body: &str) -> String {
    let body = body.trim();
    if let Some(rest) = body.strip_prefix('<') {
        return rest.split('>').next().unwrap_or_default().to_owned();
    }
    body.split_whitespace().next().unwrap_or_default().to_owned()
}

/// Why `target`, a link in `file` (whose text is `text`), is broken; `None`
/// when it is fine or not ours to check.
fn broken(root: &Path, file: &Path, text: &str, target: &str) -> Result<Option<String>> {
    if has_scheme(target) {
        return Ok(None);
    }
    let (path, fragment) = match target.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (target, None),
    };
    let path = path.split('?').next().unwrap_or_default();
    let resolved = if path.is_empty() {
        file.to_path_buf()
    } else if let Some(from_root) = path.strip_prefix('/') {
        root.join(from_root)
    } else {
        file.parent().unwrap_or(root).join(path)
    };
    if !resolved.exists() {
        return Ok(Some(format!("points to {}, which does not exist", path)));
    }
    let Some(fragment) = fragment.filter(|f| !f.is_empty()) else { return Ok(None) };
    if resolved.extension().is_none_or(|e| e != "md") || resolved.is_dir() {
        return Ok(None);
    }
    let target_text = if resolved == file {
        text.to_owned()
    } else {
        std::fs::read_to_string(&resolved)
            .with_context(|| format!("cannot read {}", resolved.display()))?
    };
    if anchors(&target_text).contains(fragment) {
        Ok(None)
    } else {
        Ok(Some(format!("names #{fragment}, which is no heading there")))
    }
}

/// `https:`, `mailto:` and the like: a scheme of letters before a colon.
fn has_scheme(target: &str) -> bool {
    target.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !scheme.contains('/')
    })
}

/// The anchors GitHub gives the headings of `text`.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => {
                if let Some(heading) = heading_text(line) {
                    let slug = slug(heading);
                    let mut unique = slug.clone();
                    let mut n = 0;
                    while out.contains(&unique) {
                        n += 1;
                        unique = format!("{slug}-{n}");
                    }
                    out.insert(unique);
                }
            }
            _ => {}
        }
    }
    out
}

/// The text of an ATX heading (`## Text ##`).
fn heading_text(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = &line[hashes..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some(rest.trim().trim_end_matches('#').trim_end())
}

/// GitHub's anchor of a heading.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real tree keeps the rule.
    #[test]
    fn markdown_links_of_the_workspace_resolve() {
        let root = crate::cmd::workspace_root();
        let files = markdown_files(&root).unwrap();
        // A checker that reads nothing passes anything.
        assert!(files.iter().any(|f| f.ends_with("docs/guide.md")), "{files:?}");
        assert!(files.iter().any(|f| f.ends_with("crates/hpc-core/README.md")), "{files:?}");
        let problems = problems(&root).unwrap();
        assert!(problems.is_empty(), "broken Markdown links:\n{}", problems.join("\n"));
    }

    #[test]
    fn finds_links_outside_code() {
        let text = "See [a](a.md) and [b](<b c.md> \"title\") and `[no](x.md)`.\n\
                    ```\n[no](y.md)\n```\n\
                    [ref]: docs/r.md#part\n\
                    [`Intra`] and [x] are not file links; [f](f(1).md).\n";
        let found: Vec<_> = links(text).into_iter().map(|l| (l.line, l.target)).collect();
        assert_eq!(
            found,
            [
                (1, "a.md".to_owned()),
                (1, "b c.md".to_owned()),
                (5, "docs/r.md#part".to_owned()),
                (6, "f(1).md".to_owned()),
            ]
        );
    }

    #[test]
    fn anchors_follow_github() {
        let text = "# hpckit guide\n## Errors and exit codes\n```\n# not a heading\n```\n\
                    ## `ws://` and `dm://`\n## Errors and exit codes\n#hashtag\n";
        let a = anchors(text);
        for want in
            ["hpckit-guide", "errors-and-exit-codes", "ws-and-dm", "errors-and-exit-codes-1"]
        {
            assert!(a.contains(want), "{want} not in {a:?}");
        }
        assert!(!a.contains("not-a-heading") && !a.contains("hashtag"), "{a:?}");
    }

    #[test]
    fn reports_missing_files_and_anchors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("docs/adr")).unwrap();
        std::fs::create_dir_all(root.join("crates/a")).unwrap();
        std::fs::write(root.join("docs/adr/0001-x.md"), "# X\n## Why not\n").unwrap();
        std::fs::write(
            root.join("README.md"),
            "[ok](docs/adr/0001-x.md#why-not) [dir](docs/) [web](https://example.invalid/x)\n\
             [gone](docs/missing.md)\n[bad anchor](docs/adr/0001-x.md#why)\n[self](#nowhere)\n",
        )
        .unwrap();
        std::fs::write(root.join("crates/a/README.md"), "[up](../../README.md) [no](../b/x.md)\n")
            .unwrap();
        let found = problems(root).unwrap();
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].starts_with("README.md:2: link `docs/missing.md`"), "{found:#?}");
        assert!(found[1].contains("#why, which is no heading"), "{found:#?}");
        assert!(found[2].starts_with("README.md:4:"), "{found:#?}");
        assert!(found[3].starts_with("crates/a/README.md:1: link `../b/x.md`"), "{found:#?}");
    }
}
