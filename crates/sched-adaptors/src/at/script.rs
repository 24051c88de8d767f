//! The shell programs of the at adaptor.
//!
//! A job is a wrapper script kept in its own directory under the state dir
//! (`~/.hpckit/at/job.XXXXXXXX/run`) plus a symlink named after the at job id.
//! The wrapper writes `start`, `child` (pid), `end` and `exit` there, so status
//! and exit codes survive a client restart and atd never mails output.
//! Every user-supplied word is quoted with `hpc_exec::quote`.

use hpc_core::{Error, JobDescription, Result};
use hpc_exec::Command;
use hpc_exec::quote::{command_line, quote};

use super::config::{AtConfig, valid_queue};
use crate::batch::submit::Submission;

fn q(s: &str) -> String {
    String::from_utf8_lossy(&quote(s.as_bytes())).into_owned()
}

/// The state dir as a shell word (`~/x` becomes `"$HOME"/'x'`).
pub(crate) fn state_dir_word(settings: &AtConfig) -> String {
    match settings.state_dir.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", q(rest)),
        None => q(&settings.state_dir),
    }
}

/// Reject what at cannot do instead of silently ignoring it.
fn check(job: &JobDescription) -> Result<()> {
    job.validate()?;
    let unsupported = |what: &str| {
        Err(Error::InvalidJobDescription(format!("{what} is not supported by the at adaptor")))
    };
    if job.array.is_some() {
        return unsupported("a job array");
    }
    if job.total_processes() > 1 || job.nodes.is_some_and(|n| n > 1) {
        return unsupported("more than one process");
    }
    for (what, set) in [
        ("memory", job.memory_mb.is_some()),
        ("GPUs", job.gpus_per_node.is_some()),
        ("an account", job.account.is_some()),
        ("a reservation", job.reservation.is_some()),
        ("a QoS", job.qos.is_some()),
        ("constraints", job.constraints.is_some()),
        ("exclusive nodes", job.exclusive),
    ] {
        if set {
            return unsupported(what);
        }
    }
    if let Some(queue) = &job.queue
        && !valid_queue(queue)
    {
        return Err(Error::InvalidJobDescription(format!("at queue {queue:?} is not one letter")));
    }
    Ok(())
}

/// The wrapper at runs: records start, pid, end and exit code in `$HPCKIT_AT_DIR`.
pub(crate) fn wrapper(job: &JobDescription, settings: &AtConfig) -> Result<String> {
    let mut payload = String::new();
    if let Some(dir) = job.working_directory.as_ref().or(settings.default_workdir.as_ref()) {
        payload.push_str(&format!("cd {} 2>\"$d/error\" || exit 1; ", q(dir.as_str())));
    }
    let file = |p: &Option<hpc_core::JobPath>| {
        q(p.as_ref().map_or("/dev/null", hpc_core::JobPath::as_str))
    };
    let mut redirect = vec![format!("<{}", file(&job.stdin))];
    redirect.push(format!(">{}", file(&job.stdout)));
    match (&job.stderr, &job.stdout) {
        (Some(e), Some(o)) if e == o => redirect.push("2>&1".into()),
        (Some(e), _) => redirect.push(format!("2>{}", q(e.as_str()))),
        (None, _) => redirect.push("2>/dev/null".into()),
    }
    payload.push_str(&format!("exec {} || exit 1; ", redirect.join(" ")));
    for (k, v) in &job.environment {
        payload.push_str(&format!("export {k}={}; ", q(v)));
    }
    let mut words: Vec<String> = Vec::new();
    if let Some(limit) = job.max_runtime {
        words.extend([
            "timeout".into(),
            "-s".into(),
            "TERM".into(),
            limit.as_secs().max(1).to_string(),
        ]);
    }
    words.push(job.executable.clone());
    words.extend(job.arguments.iter().cloned());
    payload.push_str("exec ");
    payload.push_str(&String::from_utf8_lossy(&command_line(&words)?));
    // A cancel touches `cancelled` and then kills the pid in `child`; the
    // wrapper writes `child` and then looks for `cancelled`: whichever comes
    // second sees the other, so a job cancelled while it starts never runs on.
    Ok(format!(
        "# hpckit at wrapper\n\
         d=$HPCKIT_AT_DIR\n\
         [ -f \"$d/cancelled\" ] && exit 0\n\
         date -u +%Y-%m-%dT%H:%M:%S >\"$d/start\"\n\
         ( {payload} ) </dev/null >/dev/null 2>&1 &\n\
         echo $! >\"$d/child\"\n\
         [ -f \"$d/cancelled\" ] && kill -TERM $! 2>/dev/null\n\
         wait $!\n\
         rc=$?\n\
         date -u +%Y-%m-%dT%H:%M:%S >\"$d/end\"\n\
         echo \"$rc\" >\"$d/exit.tmp\" && mv \"$d/exit.tmp\" \"$d/exit\"\n"
    ))
}

/// The program that submits one job: `sh -c SUBMIT hpckit-at-submit
/// STATE_DIR HAS_NAME NAME AT-ARGV...`, with the wrapper on standard input.
/// It keeps the wrapper in a new job directory, hands `at` the line that runs
/// it, links the directory under the at job id and prints the id last; on
/// failure it prints at's message and exits non-zero. Every value is a
/// positional parameter.
const SUBMIT: &str = r#"d=$1; has_name=$2; name=$3; shift 3
case $d in "~/"*) d=$HOME/${d#"~/"} ;; esac
mkdir -p "$d" || exit 97
t=$(mktemp -d "$d/job.XXXXXXXX") || exit 97
cat >"$t/run" || exit 97
if [ "$has_name" = 1 ]; then printf '%s' "$name" >"$t/name"; fi
HPCKIT_AT_DIR=$t; export HPCKIT_AT_DIR
out=$(echo 'exec /bin/sh "$HPCKIT_AT_DIR/run"' | "$@" 2>&1); rc=$?
if [ "$rc" -ne 0 ]; then rm -rf "$t"; printf '%s\n' "$out"; exit "$rc"; fi
id=$(printf '%s\n' "$out" | sed -n 's/^job \([0-9][0-9]*\) at .*/\1/p' | tail -n 1)
if [ -z "$id" ]; then printf '%s\n' "$out"; exit 98; fi
ln -sfn "${t##*/}" "$d/$id"
echo "$id""#;

/// The submission of one job: the [`SUBMIT`] program with the wrapper on its
/// standard input; errors name the `at` command it runs.
pub(crate) fn plan(job: &JobDescription, settings: &AtConfig) -> Result<Submission> {
    check(job)?;
    let run = wrapper(job, settings)?;
    let c = &settings.commands;
    let mut at = vec![c.at.clone(), "-M".into(), "-q".into()];
    at.push(job.queue.clone().unwrap_or_else(|| settings.queue.clone()));
    at.extend(job.scheduler_arguments.iter().cloned());
    at.push("now".into());
    let shown = Command::new(&at[0]).args(&at[1..]).display();
    // at has no job names: the name is kept beside the wrapper.
    let (has_name, name) = match &job.name {
        Some(n) => ("1", n.as_str()),
        None => ("0", ""),
    };
    let mut argv = vec![c.sh.clone(), "-c".into(), SUBMIT.into(), "hpckit-at-submit".into()];
    argv.extend([settings.state_dir.clone(), has_name.into(), name.into()]);
    argv.extend(at);
    Ok(Submission { argv, script: run.into_bytes(), shown })
}

/// `atq` as a shell snippet that retries a failed run a few times: Debian's
/// atq stats each job file it lists and gives up ("Cannot stat in
/// /var/spool/cron/atjobs") when atd removes a finished job in between. The
/// last try reports the real error.
pub(crate) fn atq_snippet(settings: &AtConfig) -> String {
    let atq = q(&settings.commands.atq);
    format!(
        "n=0\n\
         until atq_out=$({atq} 2>/dev/null); do\n\
         n=$((n+1))\n\
         if [ \"$n\" -ge 4 ]; then atq_out=$({atq}) || exit $?; break; fi\n\
         sleep 0.1\n\
         done\n\
         [ -z \"$atq_out\" ] || printf '%s\\n' \"$atq_out\"\n"
    )
}

/// Longest job name read back, in bytes.
const NAME_LIMIT: usize = 1024;

/// The `sh -s` program answering for `ids` (digits only): `atq`, then each
/// job's recorded files (the name hex-encoded, since it may hold any byte).
pub(crate) fn status_program(ids: &[&str], settings: &AtConfig) -> String {
    let dir = state_dir_word(settings);
    let atq = atq_snippet(settings);
    let list = ids.join(" ");
    format!(
        "d={dir}\n\
         {atq}\
         printf '\\036files\\n'\n\
         for id in {list}; do\n\
         printf '\\036job %s\\n' \"$id\"\n\
         if [ -d \"$d/$id\" ]; then\n\
         for f in start end exit cancelled child; do\n\
         [ -f \"$d/$id/$f\" ] && printf '%s=%s\\n' \"$f\" \"$(head -c 64 \"$d/$id/$f\" | tr -d '\\n')\"\n\
         done\n\
         [ -f \"$d/$id/name\" ] && printf 'name=%s\\n' \"$(head -c {NAME_LIMIT} \"$d/$id/name\" | od -An -v -tx1 | tr -d ' \\n')\"\n\
         else echo missing; fi\n\
         done\n\
         exit 0\n"
    )
}

/// The `sh -s` program cancelling `ids` (digits only), in one round trip.
/// Prints `missing ID` for each job neither the wrapper nor atq knows.
pub(crate) fn cancel_program(ids: &[&str], settings: &AtConfig) -> String {
    let dir = state_dir_word(settings);
    let atrm = q(&settings.commands.atrm);
    let list = ids.join(" ");
    format!(
        "d={dir}\n\
         for id in {list}; do\n\
         if [ ! -d \"$d/$id\" ]; then {atrm} \"$id\" 2>/dev/null || echo \"missing $id\"; continue; fi\n\
         [ -f \"$d/$id/exit\" ] && continue\n\
         touch \"$d/$id/cancelled\"\n\
         {atrm} \"$id\" 2>/dev/null\n\
         if [ -f \"$d/$id/child\" ]; then kill -TERM \"$(cat \"$d/$id/child\")\" 2>/dev/null; fi\n\
         done\n\
         exit 0\n"
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hpc_exec::{Command, Executor, LocalExecutor};

    use super::*;

    const NASTY: &str = "it's \"q\" $HOME `id` a|b\\c";

    /// A fake atq failing `fails` times the way Debian's does when atd
    /// removes a job file under it, then listing one job.
    async fn atq_after(fails: u32) -> hpc_exec::Output {
        let dir = tempfile::tempdir().unwrap();
        let atq = dir.path().join("atq");
        let count = dir.path().join("count");
        std::fs::write(
            &atq,
            format!(
                "#!/bin/sh\nn=$(cat {c} 2>/dev/null || echo 0); echo $((n+1)) >{c}\n\
                 if [ \"$n\" -lt {fails} ]; then echo 'Cannot stat in /var/spool/cron/atjobs' >&2; exit 1; fi\n\
                 printf '7\\tFri Nov 27 14:05:00 2026 = u\\n'\n",
                c = count.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&atq, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut settings = AtConfig::default();
        settings.commands.atq = atq.to_str().unwrap().to_owned();
        let program = atq_snippet(&settings);
        LocalExecutor::new()
            .run(&Command::new("sh").arg("-s").stdin(program.into_bytes()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn atq_is_retried_past_a_vanishing_job_file_but_not_forever() {
        let ok = atq_after(2).await;
        assert!(ok.status.success(), "{ok:?}");
        assert_eq!(ok.stdout_text(), "7\tFri Nov 27 14:05:00 2026 = u\n");
        let failed = atq_after(10).await;
        assert!(!failed.status.success());
        assert!(failed.stderr_text().contains("Cannot stat in"), "{failed:?}");
    }

    #[tokio::test]
    async fn wrapper_records_exit_code_and_passes_words_verbatim() {
        let dir = std::env::temp_dir().join(format!("hpckit-at-wrap-{}", std::process::id()));
        let work = dir.join(format!("w {NASTY}"));
        std::fs::create_dir_all(&work).unwrap();
        let job = JobDescription::new("sh")
            .args(["-c", "printf '%s|%s' \"$V\" \"$1\"; pwd >&2; exit 5", "sh", NASTY])
            .env("V", NASTY)
            .working_directory(work.to_str().unwrap())
            .stdout("out.txt")
            .stderr("err.txt");
        let run = wrapper(&job, &AtConfig::default()).unwrap();
        let out = LocalExecutor::new()
            .run(
                &Command::new("sh")
                    .arg("-s")
                    .stdin(run.into_bytes())
                    .env("HPCKIT_AT_DIR", dir.as_os_str()),
            )
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read_to_string(dir.join("exit")).unwrap().trim(), "5");
        assert!(
            dir.join("start").exists() && dir.join("end").exists() && dir.join("child").exists()
        );
        assert_eq!(
            std::fs::read_to_string(work.join("out.txt")).unwrap(),
            format!("{NASTY}|{NASTY}")
        );
        assert_eq!(
            std::fs::read_to_string(work.join("err.txt")).unwrap().trim(),
            work.to_str().unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unsupported_requests_are_rejected() {
        let s = AtConfig::default();
        let mut j = JobDescription::new("x");
        j.memory_mb = Some(5);
        assert!(plan(&j, &s).is_err());
        let j = JobDescription::new("x").array("1-2".parse().unwrap());
        assert!(plan(&j, &s).is_err());
        let j = JobDescription::new("x").queue("ab");
        assert!(plan(&j, &s).is_err());
        let j = JobDescription::new("x").max_runtime(Duration::from_secs(5));
        let p = plan(&j, &s).unwrap();
        let run = String::from_utf8(p.script).unwrap();
        assert!(run.contains("exec timeout -s TERM 5 x"), "{run}");
        assert_eq!(p.argv[p.argv.len() - 5..], ["at", "-M", "-q", "a", "now"]);
        assert_eq!(p.shown, "at -M -q a now");
    }

    /// The submit program against a fake `at`: the wrapper lands in a job
    /// directory linked under the id, the name beside it, the id comes last.
    #[tokio::test]
    async fn submit_program_keeps_the_wrapper_under_the_job_id() {
        let tmp = tempfile::tempdir().unwrap();
        let fake_at = tmp.path().join("at");
        std::fs::write(&fake_at, "#!/bin/sh\ncat >/dev/null\necho 'warning: commands will be executed using /bin/sh'\necho 'job 42 at Fri Nov 27 14:05:00 2026'\n").unwrap();
        std::fs::set_permissions(&fake_at, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let state = tmp.path().join("state dir");
        let mut s =
            AtConfig { state_dir: state.to_str().unwrap().to_owned(), ..AtConfig::default() };
        s.commands.at = fake_at.to_str().unwrap().to_owned();
        let p = plan(&JobDescription::new("true").name(NASTY), &s).unwrap();
        let script = p.script.clone();
        let cmd = Command::new(&p.argv[0]).args(&p.argv[1..]).stdin(p.script);
        let out = LocalExecutor::new().run(&cmd).await.unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout_text().lines().last(), Some("42"));
        assert_eq!(std::fs::read(state.join("42/run")).unwrap(), script);
        assert_eq!(std::fs::read_to_string(state.join("42/name")).unwrap(), NASTY);
    }

    #[test]
    fn state_dir_expands_home_only() {
        let mut s = AtConfig::default();
        assert_eq!(state_dir_word(&s), "\"$HOME\"/.hpckit/at");
        s.state_dir = "/var/tmp/a b".into();
        assert_eq!(state_dir_word(&s), "'/var/tmp/a b'");
    }
}
