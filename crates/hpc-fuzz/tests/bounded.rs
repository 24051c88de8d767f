//! Every target on its seed corpus and on a fixed number of mutated inputs
//! from a fixed seed, under an allocation cap: a bounded, reproducible fuzz
//! run that `cargo test` (and so `cargo xtask test`) does on every change.

use hpc_fuzz::runner::{Budget, fuzz};
use hpc_fuzz::{TARGETS, corpus};

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Mutated inputs per target.
const MUTATIONS: u64 = 3000;

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    // One limit for the whole test binary (tests run on several threads):
    // far above what parsing 64 KiB inputs needs, far below what a
    // believed length field asks for.
    ALLOCATOR.set_limit(ALLOCATOR.allocated() + 1024 * 1024 * 1024).unwrap();
    let mut failures = Vec::new();
    for t in TARGETS {
        let seeds = corpus::seeds(t.name).unwrap_or_else(|e| panic!("corpus of {}: {e}", t.name));
        assert!(!seeds.is_empty(), "fuzz/corpus/{} has no seed", t.name);
        let out = fuzz(t, &seeds, Budget::Count(MUTATIONS), 0x5eed, |_| {});
        assert_eq!(out.execs, seeds.len() as u64 + MUTATIONS);
        for c in out.crashes {
            failures.push(format!(
                "{}: panic at {}: {}\n  input: {:?}",
                t.name,
                c.place,
                c.message,
                String::from_utf8_lossy(&c.input)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_target_has_a_cargo_fuzz_entry() {
    let dir = corpus::fuzz_dir().join("fuzz_targets");
    let manifest = std::fs::read_to_string(corpus::fuzz_dir().join("Cargo.toml")).unwrap();
    for t in TARGETS {
        let file = dir.join(format!("{}.rs", t.name));
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            src.contains(&format!("hpc_fuzz::{}(", t.name)),
            "{} calls another target",
            file.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", t.name)),
            "fuzz/Cargo.toml lacks {}",
            t.name
        );
    }
}
