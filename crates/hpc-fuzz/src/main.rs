//! `hpc-fuzz`: the runner `cargo xtask fuzz` starts.
//!
//! `hpc-fuzz list` prints the targets; `hpc-fuzz run NAME --seconds N --out
//! DIR [--seed S]` fuzzes one target and writes each distinct crash to
//! `DIR/crashes/NAME/<place>.bin` (with a `.txt` beside it), keeping the
//! input being run in `DIR/NAME.current`: if the process dies without a
//! panic (an allocation above the cap aborts), that file names the input.
//! The last line is `NAME execs=E crashes=C`; the exit code is 1 with crashes.
//! `hpc-fuzz replay NAME FILE` runs one input with the panic (and its
//! backtrace) shown as usual.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hpc_fuzz::runner::{Budget, fuzz};
use hpc_fuzz::{TARGETS, corpus, target};

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// No single input may make a target hold more than this (the inputs are
/// at most 64 KiB): more means a length field was believed.
const ALLOCATION_CAP: usize = 256 * 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for t in TARGETS {
                println!("{}\t{}", t.name, t.about);
            }
            ExitCode::SUCCESS
        }
        Some("run") => match run(&args[1..]) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("hpc-fuzz: {e}");
                ExitCode::from(2)
            }
        },
        Some("replay") if args.len() == 3 => {
            let Some(t) = target(&args[1]) else {
                eprintln!("hpc-fuzz: no target {:?}", args[1]);
                return ExitCode::from(2);
            };
            match std::fs::read(&args[2]) {
                Ok(input) => {
                    (t.run)(&input);
                    println!("{}: no panic", t.name);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("hpc-fuzz: {}: {e}", args[2]);
                    ExitCode::from(2)
                }
            }
        }
        _ => {
            eprintln!(
                "usage: hpc-fuzz list | hpc-fuzz run NAME --seconds N --out DIR [--seed S] | hpc-fuzz replay NAME FILE"
            );
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let name = args.first().ok_or("run: which target?")?;
    let t = target(name).ok_or_else(|| format!("no target {name:?}"))?;
    let mut seconds = 10u64;
    let mut out = PathBuf::from("target/fuzz");
    let mut seed = 0x4850_4346_555a_5a31; // "HPCFUZZ1"
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => seconds = value.parse().map_err(|_| "--seconds: a number")?,
            "--out" => out = PathBuf::from(value),
            "--seed" => seed = value.parse().map_err(|_| "--seed: a number")?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let seeds = corpus::seeds(t.name).map_err(|e| format!("corpus of {}: {e}", t.name))?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let current_path = out.join(format!("{}.current", t.name));
    let current =
        File::create(&current_path).map_err(|e| format!("{}: {e}", current_path.display()))?;
    ALLOCATOR
        .set_limit(ALLOCATOR.allocated() + ALLOCATION_CAP)
        .map_err(|()| "cannot set the allocation cap")?;
    let outcome = fuzz(t, &seeds, Budget::Time(Duration::from_secs(seconds)), seed, |input| {
        // Two system calls per input; worth it to name the input of an abort.
        let _ = current.set_len(0).and_then(|()| current.write_all_at(input, 0));
    });
    drop(current);
    let _ = std::fs::remove_file(&current_path);
    let _ = ALLOCATOR.set_limit(usize::MAX);
    let crash_dir = out.join("crashes").join(t.name);
    for crash in &outcome.crashes {
        std::fs::create_dir_all(&crash_dir).map_err(|e| format!("{}: {e}", crash_dir.display()))?;
        let stem: String = crash
            .place
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' })
            .collect();
        let bin = crash_dir.join(format!("{stem}.bin"));
        std::fs::write(&bin, &crash.input).map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut txt = File::create(crash_dir.join(format!("{stem}.txt")))
            .map_err(|e| format!("{}: {e}", crash_dir.display()))?;
        let _ =
            writeln!(txt, "{}\n{}\ninput: {:?}", crash.place, crash.message, text(&crash.input));
        println!("CRASH {} at {}: {}", t.name, crash.place, crash.message);
        println!("  input ({} bytes): {:?}", crash.input.len(), text(&crash.input));
        println!("  saved as {}", bin.display());
    }
    println!("{} execs={} crashes={}", t.name, outcome.execs, outcome.crashes.len());
    Ok(if outcome.crashes.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn text(input: &[u8]) -> String {
    let t = String::from_utf8_lossy(input);
    if t.len() > 300 { format!("{}…", &t[..t.floor_char_boundary(300)]) } else { t.into_owned() }
}
