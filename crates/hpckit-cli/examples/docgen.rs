//! Prints every generated section of the docs between its markers;
//! `cargo xtask codegen` puts each into the files that carry its markers
//! (`--check`: fails where one is out of date).
//!
//! A section is `<!-- generated:begin NAME (cargo xtask codegen) -->`, the
//! text, `<!-- generated:end NAME -->`.

use hpckit::core::caps::markdown_table;

fn main() {
    #[allow(unused_mut)]
    let mut schedulers: Vec<_> = hpckit::sched_adaptors::all_capabilities()
        .into_iter()
        .map(|(name, caps)| (name, caps.rows()))
        .collect();
    #[allow(unused_mut)]
    let mut filesystems: Vec<_> = hpckit::fs_adaptors::all_capabilities()
        .into_iter()
        .map(|(name, caps)| (name, caps.rows()))
        .collect();
    // The adaptors of domain crates, after those of the adaptor crates.
    #[cfg(feature = "unicore")]
    {
        schedulers.push(("unicore", hpckit::unicore::scheduler::capabilities().rows()));
        filesystems.push(("unicore", hpckit::unicore::filesystem::capabilities().rows()));
    }
    #[cfg(feature = "uftp")]
    filesystems.push(("uftp", hpckit::uftp::filesystem::capabilities().rows()));
    filesystems.push(("ws", hpckit::datamover::filesystem::capabilities().rows()));
    let sections = [
        ("scheduler-capabilities", markdown_table(&schedulers)),
        ("filesystem-capabilities", markdown_table(&filesystems)),
        ("cli-reference", hpckit_cli::reference()),
    ];
    for (name, text) in sections {
        println!("<!-- generated:begin {name} (cargo xtask codegen) -->");
        print!("{text}");
        println!("<!-- generated:end {name} -->");
    }
}
