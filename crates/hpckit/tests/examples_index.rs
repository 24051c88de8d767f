//! The examples' index (`examples/README.md`), the example programs, their
//! `[[example]]` entries, the test that runs them and the migration guides
//! agree: every indexed program exists, is declared, is run by
//! `crates/itests/tests/seed_examples.rs` and is linked from its guide, and
//! every program is indexed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (seed, program) of every table row that names a program.
fn indexed() -> Vec<(String, String)> {
    let index = read(&crate_dir().join("examples/README.md"));
    let mut rows = Vec::new();
    for line in index.lines().filter(|l| l.starts_with("| 0")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (seed, program) = (cells[1], cells[3]);
        if let Some(rest) = program.strip_prefix('[') {
            let (name, link) = rest.split_once("](").expect("a markdown link");
            assert_eq!(link, format!("{name}.rs)"), "{line}");
            rows.push((seed.to_owned(), name.to_owned()));
        } else {
            assert!(program.starts_with("— ("), "a row without a program says why: {line}");
        }
    }
    rows
}

#[test]
fn every_indexed_program_exists_and_every_program_is_indexed() {
    let rows = indexed();
    let names: BTreeSet<String> = rows.iter().map(|(_, n)| n.clone()).collect();
    assert_eq!(names.len(), rows.len(), "one program per example");
    let on_disk: BTreeSet<String> = std::fs::read_dir(crate_dir().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, on_disk, "examples/README.md against examples/*.rs");
    let manifest = read(&crate_dir().join("Cargo.toml"));
    for name in &names {
        let prefix = name.split('_').next().unwrap();
        let seed = rows.iter().find(|(_, n)| n == name).unwrap().0.as_str();
        assert!(seed.contains(prefix), "{name} is named after its seed {seed}");
        if prefix != "pyxenon" {
            let entry = format!("[[example]]\nname = \"{name}\"\nrequired-features = [");
            assert!(manifest.contains(&entry), "Cargo.toml declares {name} with its feature");
        }
    }
}

#[test]
fn every_program_is_run_by_the_integration_test() {
    let itest = read(&crate_dir().join("../itests/tests/seed_examples.rs"));
    for (_, name) in indexed() {
        let needle = format!("\"{name}\"");
        assert!(itest.contains(&needle), "seed_examples.rs never runs {name}");
    }
}

#[test]
fn every_program_is_linked_from_its_migration_guide() {
    let guides = crate_dir().join("../../docs/migration");
    for (seed, name) in indexed() {
        let guide = match seed.as_str() {
            "000-pyunicore" => "from-pyunicore.md",
            "002-pyxenon" => "from-pyxenon.md",
            "003-picasclient" => "from-picas.md",
            "004-taurus-datamover" => "from-taurus-datamover.md",
            other => panic!("unknown seed {other}"),
        };
        let link = format!("../../crates/hpckit/examples/{name}.rs");
        assert!(read(&guides.join(guide)).contains(&link), "{guide} does not link {link}");
    }
}
