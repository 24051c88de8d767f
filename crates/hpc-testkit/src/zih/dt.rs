//! The `dt*` front-ends: submit the tool to the datamover partition.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::config::StandinConfig;

/// What the datamover adds to the tool's own options.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct DtOptions {
    pub(super) blocking: bool,
    pub(super) time: Option<String>,
    pub(super) account: Option<String>,
    pub(super) help: bool,
}

/// Takes the datamover's options out of `args` (wherever they stand).
pub(super) fn split_options(args: Vec<String>) -> (DtOptions, Vec<String>) {
    let mut o = DtOptions::default();
    let mut rest = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--blocking" {
            o.blocking = true;
        } else if let Some(t) = a.strip_prefix("--time=") {
            o.time = Some(t.to_owned());
        } else if a == "--time" {
            o.time = it.next();
        } else if let Some(t) = a.strip_prefix("--account=") {
            o.account = Some(t.to_owned());
        } else if a == "--account" {
            o.account = it.next();
        } else {
            if a == "--help" || a == "--version" {
                o.help = true;
            }
            rest.push(a);
        }
    }
    (o, rest)
}

/// The tool a transfer command runs.
fn tool(cmd: &str) -> Option<&'static str> {
    Some(match cmd {
        "dtcp" => "cp",
        "dtls" => "ls",
        "dtmv" => "mv",
        "dtrm" => "rm",
        "dtrsync" => "rsync",
        "dttar" => "tar",
        "dtwget" => "wget",
        _ => return None,
    })
}

pub(super) fn main(home: &Path, config: &StandinConfig, cmd: &str, args: Vec<String>) -> i32 {
    let user = super::user_name();
    let part = config.partition.as_str();
    let mut c = match cmd {
        "dtinfo" => {
            let mut c = Command::new("sinfo");
            c.args(["--partition", part]);
            c
        }
        "dtqueue" | "dtq" => {
            let mut c = Command::new("squeue");
            c.args(["--all", "--partition", part, "--user", &user]);
            c
        }
        "dtcancel" => {
            let mut c = Command::new("scancel");
            c.args(["--partition", part]);
            c
        }
        _ => match transfer(home, config, cmd, args.clone()) {
            Ok(c) => return exec(c, cmd),
            Err(code) => return code,
        },
    };
    c.args(args);
    exec(c, cmd)
}

fn transfer(
    home: &Path,
    config: &StandinConfig,
    cmd: &str,
    args: Vec<String>,
) -> Result<Command, i32> {
    let Some(tool) = tool(cmd) else {
        eprintln!("{cmd}: not a datamover command");
        return Err(2);
    };
    let (opts, args) = split_options(args);
    if opts.help {
        // Help needs no transfer node: answered at once.
        let mut c = Command::new(tool);
        c.args(args);
        return Ok(c);
    }
    let gate = home.join("libexec/dtexec");
    let time = opts.time.unwrap_or_else(|| config.default_time.clone());
    let mut slurm = vec![
        format!("--partition={}", config.partition),
        format!("--job-name={cmd}"),
        format!("--time={time}"),
    ];
    if let Some(a) = opts.account {
        slurm.push(format!("--account={a}"));
    }
    if opts.blocking || cmd == "dtls" {
        let mut c = Command::new("srun");
        c.arg("--pty").args(&slurm).arg(&gate).arg(tool).args(&args);
        return Ok(c);
    }
    let mut argv = vec![gate.to_string_lossy().into_owned(), tool.to_owned()];
    argv.extend(args);
    let Ok(line) = hpc_exec::quote::command_line(&argv) else {
        eprintln!("{cmd}: an argument contains a NUL byte");
        return Err(2);
    };
    let mut c = Command::new("sbatch");
    c.args(&slurm).arg(format!("--wrap={}", String::from_utf8_lossy(&line)));
    Ok(c)
}

fn exec(mut c: Command, cmd: &str) -> i32 {
    let e = c.exec();
    eprintln!("{cmd}: cannot run {:?}: {e}", c.get_program());
    127
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datamover_options_are_taken_out_anywhere() {
        let a = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (o, rest) =
            split_options(a(&["-r", "--time=1:00", "a b", "--blocking", "--account", "p_x", "c"]));
        assert_eq!(
            o,
            DtOptions {
                blocking: true,
                time: Some("1:00".into()),
                account: Some("p_x".into()),
                help: false
            }
        );
        assert_eq!(rest, a(&["-r", "a b", "c"]));
        let (o, rest) = split_options(a(&["--help", "--blocking"]));
        assert!(o.help && o.blocking);
        assert_eq!(rest, a(&["--help"]));
    }
}
