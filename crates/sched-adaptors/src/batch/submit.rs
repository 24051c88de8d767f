//! Many submissions in few round trips.
//!
//! [`submit_chunked`] holds the one `submit_many` policy of every adaptor
//! that batches submissions: plan each job (a bad description fails alone,
//! before anything is sent), cut the rest into chunks ([`Chunking`]), send a
//! few chunks at once, and return one result per job, in input order.
//!
//! [`program`] and [`parse`] are how the batch adaptors send a chunk: each job
//! becomes `SUBMIT-ARGV 2>&1 <<'DELIM'` + its script + `DELIM`, framed by
//! marker lines that start with the ASCII record separator (0x1e), which no
//! scheduler prints. The whole program is fed to `sh -s` on standard input,
//! so its size is not bound by the command-line limit, and one round trip
//! submits a whole chunk of jobs.

use std::future::Future;

use futures::StreamExt;
use hpc_core::{Error, JobId, Result};
use hpc_exec::Command;
use hpc_exec::quote::command_line;

const MARK: u8 = 0x1e;

/// One submission: the submit command's argv and the script it reads on stdin.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Program and arguments, e.g. `["sbatch", "--parsable", "--job-name=x"]`.
    pub argv: Vec<String>,
    /// The job script, fed to the command's standard input.
    pub script: Vec<u8>,
    /// The command errors name (the argv, unless the adaptor wraps the real
    /// submit command in a program of its own).
    pub shown: String,
}

impl Submission {
    /// A submission of `script` to `argv`, named by its own command line.
    pub fn new(argv: Vec<String>, script: impl Into<Vec<u8>>) -> Self {
        let shown = Command::new(&argv[0]).args(&argv[1..]).display();
        Submission { argv, script: script.into(), shown }
    }
}

/// How `submit_many` cuts jobs into round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    /// Most jobs in one round trip.
    pub size: usize,
    /// Most round trips at once.
    pub parallel: usize,
    /// Spread the jobs evenly over up to `parallel` round trips (each at most
    /// `size`) instead of filling chunks of `size` in order: a few jobs then
    /// travel side by side instead of in one chunk.
    pub spread: bool,
}

impl Chunking {
    /// The chunk lengths for `n` jobs, in order.
    fn lengths(self, n: usize) -> Vec<usize> {
        let size = self.size.max(1);
        let per = if self.spread {
            let shells = n.div_ceil(size).max(self.parallel.min(n)).max(1);
            n.div_ceil(shells).max(1)
        } else {
            size
        };
        let mut lengths = vec![per; n / per];
        if !n.is_multiple_of(per) {
            lengths.push(n % per);
        }
        lengths
    }
}

/// Submit `plans` (one per job: its submission, or why it cannot be
/// submitted) in chunks, `chunking.parallel` at once, each through
/// `run_chunk`. Returns one result per job, in input order.
///
/// A chunk that fails as a whole (the login was refused, the round trip
/// broke) gives its error to each of its jobs: [`Error`] is `Clone`, and a
/// copy shares the cause, so every job keeps the kind (and exit code) of
/// what happened. A job a successful round trip did not answer for is a
/// [`Error::Parse`]: it may or may not have been submitted.
pub async fn submit_chunked<T, F, Fut>(
    plans: Vec<Result<T>>,
    chunking: Chunking,
    run_chunk: F,
) -> Vec<Result<JobId>>
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<Result<JobId>>>>,
{
    let total = plans.len();
    // Job numbers (1-based, as messages show them) of the jobs to send.
    let mut ready: Vec<(usize, T)> = Vec::new();
    let mut rejected: Vec<Option<Error>> = Vec::with_capacity(total);
    for (i, plan) in plans.into_iter().enumerate() {
        match plan {
            Ok(item) => {
                ready.push((i + 1, item));
                rejected.push(None);
            }
            Err(e) => rejected.push(Some(e)),
        }
    }
    let mut items = ready.into_iter();
    let chunks: Vec<Vec<(usize, T)>> = chunking
        .lengths(items.len())
        .into_iter()
        .map(|n| items.by_ref().take(n).collect())
        .collect();
    // `buffered` keeps the chunks' order, so their results line up with the
    // jobs sent without bookkeeping.
    let sent: Vec<Result<JobId>> = futures::stream::iter(chunks.into_iter().map(|chunk| {
        let (numbers, items): (Vec<usize>, Vec<T>) = chunk.into_iter().unzip();
        let run = run_chunk(items);
        async move { chunk_results(&numbers, total, run.await) }
    }))
    .buffered(chunking.parallel.max(1))
    .collect::<Vec<Vec<Result<JobId>>>>()
    .await
    .into_iter()
    .flatten()
    .collect();
    let mut sent = sent.into_iter();
    rejected
        .into_iter()
        .enumerate()
        .map(|(i, rejected)| match rejected {
            Some(e) => Err(e),
            None => sent.next().unwrap_or_else(|| Err(no_result(i + 1, total, "it was not sent"))),
        })
        .collect()
}

/// One result per job of a chunk (`numbers`): its answer, or the error of a
/// chunk that failed as a whole.
fn chunk_results(
    numbers: &[usize],
    total: usize,
    outcome: Result<Vec<Result<JobId>>>,
) -> Vec<Result<JobId>> {
    match outcome {
        Ok(answers) => {
            let mut answers = answers.into_iter();
            numbers
                .iter()
                .map(|&i| {
                    answers.next().unwrap_or_else(|| {
                        Err(no_result(i, total, "the submit command printed nothing for it"))
                    })
                })
                .collect()
        }
        Err(e) => numbers.iter().map(|_| Err(e.clone())).collect(),
    }
}

/// Job `i` of `n` got no result: it may or may not have been submitted.
fn no_result(i: usize, n: usize, why: &str) -> Error {
    Error::parse(
        "submit",
        format!("no result for submission {i} of {n}; it may or may not have been submitted"),
        why,
    )
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
pub fn program<'a>(items: impl IntoIterator<Item = &'a Submission>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
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
            r.ok_or_else(|| {
                let n = i + 1;
                Error::parse(
                    command,
                    format!(
                        "no result for submission {n} of {count}; it may or may not have been submitted"
                    ),
                    tail.clone(),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use hpc_exec::{Command, Executor, LocalExecutor};

    use super::*;

    fn item(argv: &[&str], script: &str) -> Submission {
        Submission::new(argv.iter().map(|a| (*a).to_owned()).collect(), script)
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

    #[test]
    fn chunks_fill_in_order_or_spread_over_the_round_trips() {
        let fixed = Chunking { size: 25, parallel: 4, spread: false };
        assert_eq!(fixed.lengths(60), [25, 25, 10]);
        assert_eq!(fixed.lengths(3), [3]);
        assert_eq!(fixed.lengths(0), Vec::<usize>::new());
        let spread = Chunking { spread: true, ..fixed };
        assert_eq!(spread.lengths(3), [1, 1, 1]);
        assert_eq!(spread.lengths(10), [3, 3, 3, 1]);
        assert_eq!(spread.lengths(120), [24, 24, 24, 24, 24]);
    }

    #[tokio::test]
    async fn one_result_per_job_in_input_order_and_failures_keep_their_kind() {
        // Jobs are numbers; 0 cannot be planned; a chunk holding 13 fails as a
        // whole; a chunk holding 21 answers for its first job only.
        let plans: Vec<Result<u32>> = (0..24)
            .map(|n| if n == 0 { Err(Error::InvalidJobDescription("zero".into())) } else { Ok(n) })
            .collect();
        let chunking = Chunking { size: 5, parallel: 2, spread: false };
        let results = submit_chunked(plans, chunking, |chunk: Vec<u32>| async move {
            if chunk.contains(&13) {
                return Err(Error::Authentication {
                    user: "u".into(),
                    host: "h".into(),
                    reason: "no".into(),
                });
            }
            let n = if chunk.contains(&21) { 1 } else { chunk.len() };
            Ok(chunk.iter().take(n).map(|j| Ok(JobId::new(j.to_string()))).collect())
        })
        .await;
        assert_eq!(results.len(), 24);
        assert!(matches!(results[0], Err(Error::InvalidJobDescription(_))));
        for j in (1..=10).chain(16..=21) {
            assert_eq!(results[j].as_ref().unwrap().as_str(), j.to_string());
        }
        // Jobs 11..=15 went together: each has the refused login itself.
        for (j, r) in results.iter().enumerate().take(16).skip(11) {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.kind(), hpc_core::ErrorKind::Authentication, "{j}: {e}");
        }
        // Jobs 22 and 23 went in a round trip that answered for job 21 only.
        for (j, r) in results.iter().enumerate().skip(22) {
            let e = r.as_ref().unwrap_err();
            assert!(e.to_string().contains("may or may not have been submitted"), "{j}: {e}");
        }
        assert!(
            results[22].as_ref().unwrap_err().to_string().contains("submission 23 of 24"),
            "numbered from 1, as shown"
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), n in 0usize..5) {
            let r = parse(&bytes, n, "x");
            proptest::prop_assert_eq!(r.len(), n);
        }
    }
}
