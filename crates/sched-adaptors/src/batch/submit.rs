//! Many submissions in one remote shell.
//!
//! Each job becomes `SUBMIT-ARGV 2>&1 <<'DELIM'` + its script + `DELIM`,
//! framed by marker lines that start with the ASCII record separator (0x1e),
//! which no scheduler prints. The whole program is fed to `sh -s` on standard
//! input, so its size is not bound by the command-line limit, and one round
//! trip submits a whole chunk of jobs.

use hpc_core::{Error, Result};
use hpc_exec::quote::command_line;

const MARK: u8 = 0x1e;

/// One submission: the submit command's argv and the script it reads on stdin.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Program and arguments, e.g. `["sbatch", "--parsable", "--job-name=x"]`.
    pub argv: Vec<Vec<u8>>,
    /// The job script, fed to the command's standard input.
    pub script: Vec<u8>,
}

/// What one submit command printed (stdout and stderr merged) and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutput {
    /// Exit code of the submit command.
    pub exit_code: i32,
    /// Its output, stdout and stderr merged in order.
    pub output: String,
}

/// The `sh` program that runs every submission in order.
pub fn program(items: &[Submission]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let delim = delimiter(&item.script);
        out.extend_from_slice(format!("printf '\\036begin {i}\\n'\n").as_bytes());
        out.extend_from_slice(&command_line(&item.argv)?);
        out.extend_from_slice(format!(" 2>&1 <<'{delim}'\n").as_bytes());
        out.extend_from_slice(&item.script);
        if !item.script.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.extend_from_slice(delim.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(format!("printf '\\036end {i} %d\\n' $?\n").as_bytes());
    }
    Ok(out)
}

/// A here-document delimiter that is not a line of `script`.
pub(crate) fn delimiter(script: &[u8]) -> String {
    let mut n = 0u32;
    loop {
        let d = format!("HPCKIT_END_OF_SCRIPT_{n}");
        if !script.split(|&b| b == b'\n').any(|l| l == d.as_bytes()) {
            return d;
        }
        n += 1;
    }
}

/// Split the program's output into one result per submission. A submission
/// without an end marker (the connection broke, the shell died) gives a
/// [`Error::Parse`]: it may or may not have been submitted.
pub fn parse(output: &[u8], count: usize, command: &str) -> Vec<Result<SubmitOutput>> {
    let text = String::from_utf8_lossy(output);
    let mut results: Vec<Option<SubmitOutput>> = vec![None; count];
    let mut current: Option<(usize, String)> = None;
    for line in text.split_inclusive('\n') {
        let Some(marker) = line.strip_prefix(MARK as char) else {
            if let Some((_, buf)) = &mut current {
                buf.push_str(line);
            }
            continue;
        };
        let mut words = marker.split_whitespace();
        match (words.next(), words.next().and_then(|w| w.parse::<usize>().ok())) {
            (Some("begin"), Some(i)) if i < count => current = Some((i, String::new())),
            (Some("end"), Some(i)) if i < count => {
                let code = words.next().and_then(|w| w.parse::<i32>().ok());
                if let (Some((j, buf)), Some(code)) = (current.take(), code)
                    && j == i
                {
                    results[i] = Some(SubmitOutput { exit_code: code, output: buf });
                }
            }
            _ => {}
        }
    }
    let tail = text.lines().last().unwrap_or("").to_owned();
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.ok_or_else(|| Error::Parse {
                command: command.to_owned(),
                reason: format!(
                    "no result for submission {} of {count}; it may or may not have been submitted",
                    i + 1
                ),
                line: tail.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use hpc_exec::{Command, Executor, LocalExecutor};

    use super::*;

    fn item(argv: &[&str], script: &str) -> Submission {
        Submission {
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            script: script.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn runs_each_command_with_its_script_on_stdin() {
        let items = vec![
            item(&["cat"], "echo 'a b'\nHPCKIT_END_OF_SCRIPT_0\n$x `y`"),
            item(&["sh", "-c", "cat >/dev/null; echo nope >&2; exit 3"], "ignored\n"),
            item(&["wc", "-l"], "1\n2\n"),
        ];
        let prog = program(&items).unwrap();
        let out =
            LocalExecutor::new().run(&Command::new("sh").arg("-s").stdin(prog)).await.unwrap();
        let r = parse(&out.stdout, 3, "sh");
        let r: Vec<SubmitOutput> = r.into_iter().map(Result::unwrap).collect();
        assert_eq!(r[0].output, "echo 'a b'\nHPCKIT_END_OF_SCRIPT_0\n$x `y`\n");
        assert_eq!(r[0].exit_code, 0);
        assert_eq!(r[1], SubmitOutput { exit_code: 3, output: "nope\n".into() });
        assert_eq!(r[2].output.trim(), "2");
    }

    #[test]
    fn truncated_output_is_a_parse_error_per_missing_job() {
        let out = b"\x1ebegin 0\n12\n\x1eend 0 0\n\x1ebegin 1\n13\n";
        let r = parse(out, 3, "sh -s");
        assert_eq!(r[0].as_ref().unwrap().output, "12\n");
        for e in &r[1..] {
            assert!(matches!(e, Err(Error::Parse { .. })), "{e:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), n in 0usize..5) {
            let r = parse(&bytes, n, "x");
            proptest::prop_assert_eq!(r.len(), n);
        }
    }
}
