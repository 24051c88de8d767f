//! The POSIX shell programs the ssh adaptor runs on the job host, and the
//! per-job script generated from a [`JobDescription`].
//!
//! The programs are constants: every value reaches them as a positional
//! argument (quoted by the executor), never pasted into their text. The job
//! script is generated text, and there every value goes through
//! [`hpc_exec::quote`].
//!
//! Layout on the host, one directory per job under the job directory
//! (default `~/.hpckit/jobs`):
//!
//! | file | written by | content |
//! |---|---|---|
//! | `job` | submit | the job script |
//! | `name`, `submitted` | submit | job name, submit time (epoch seconds) |
//! | `pid`, `start`, `boot` | wrapper | process-group id, start time, kernel boot id |
//! | `log` | wrapper | the job script's own errors (before its output is redirected) |
//! | `end`, `exit` | wrapper | end time, exit code (shell convention: 128+N for signal N) |
//! | `cancelled` | cancel | marker: the job was cancelled |
//!
//! Files are written to a temporary name and renamed, so a reader never sees
//! half a value. `.seq` holds the last id given out; ids are claimed with
//! `mkdir`, which is atomic, so concurrent clients never share one.

use hpc_core::{JobDescription, JobPath};
use hpc_exec::quote::quote_str;

/// Exit code of the job script's `check` mode: the working directory is missing.
pub(crate) const CHECK_NO_WORKDIR: i32 = 81;
/// Exit code of the job script's `check` mode: the executable is missing.
pub(crate) const CHECK_NO_EXECUTABLE: i32 = 82;

/// Shell function shared by the programs: resolve the job directory
/// (relative: under `$HOME`) into `$base`, and claim the next id into `$n`
/// and `$d`, writing the job's script, name and submit time.
const COMMON: &str = r#"
abs() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$HOME" "$1" ;; esac; }
put() { printf '%s\n' "$2" > "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"; }
claim() {
  n=
  [ -r "$base/.seq" ] && read -r n < "$base/.seq"
  case $n in ''|*[!0-9]*) n=0 ;; esac
  while :; do
    n=$((n + 1))
    mkdir "$base/$n" 2>/dev/null && break
    [ -d "$base/$n" ] || { echo "error 91 cannot create $base/$n"; exit 0; }
  done
  put "$base/.seq" "$n"
  d=$base/$n
  printf '%s\n' "$1" > "$d/job"
  printf '%s' "$2" > "$d/name"
  put "$d/submitted" "$(date +%s)"
}
"#;

/// Runs the job script in its own session (it is started with `setsid`) and
/// records pid, times and exit code. Argument: the job directory.
pub(crate) const WRAPPER: &str = r#"
d=$1
put() { printf '%s\n' "$2" > "$1.tmp.$$" && mv -f "$1.tmp.$$" "$1"; }
put "$d/pid" "$$"
put "$d/start" "$(date +%s)"
b=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) && put "$d/boot" "$b"
# A cancel that came before the pid was written must still stop the job.
[ -e "$d/cancelled" ] && exit 0
# TERM/HUP reach the whole group: the job ends, this shell records how.
trap ':' TERM INT HUP
sh "$d/job" 2>"$d/log"
code=$?
put "$d/end" "$(date +%s)"
put "$d/exit" "$code"
"#;

/// Submit jobs. Arguments: job directory, keep days (0: keep all), the
/// wrapper program, then pairs of (job script, name). Prints one line per
/// job: `ok ID` or `error CODE [message]`.
pub(crate) fn submit_program() -> String {
    format!(
        "{COMMON}{}",
        r#"
base=$(abs "$1"); keep=$2; wrapper=$3; shift 3
mkdir -p "$base" || { echo "error 90 cannot create $base"; exit 0; }
command -v setsid >/dev/null 2>&1 || { echo "error 92 setsid (util-linux) is not installed"; exit 0; }
if [ "$keep" -gt 0 ] 2>/dev/null; then
  find "$base" -type f -name exit -mtime +"$keep" 2>/dev/null |
    while IFS= read -r e; do rm -rf "${e%/exit}"; done
fi
while [ $# -ge 2 ]; do
  claim "$1" "$2"; shift 2
  sh "$d/job" check 2>/dev/null; rc=$?
  if [ "$rc" -ne 0 ]; then rm -rf "$d"; echo "error $rc"; continue; fi
  setsid sh -c "$wrapper" hpckit-job "$d" </dev/null >/dev/null 2>&1 &
  echo "ok $n"
done
"#
    )
}

/// Start an interactive job in the foreground. Arguments: job directory,
/// job script, name. Prints `ok ID` (or `error CODE`) as the first line of
/// stdout, then the job's own output follows; exits with the job's code.
pub(crate) fn interactive_program() -> String {
    format!(
        "{COMMON}{}",
        r#"
base=$(abs "$1")
mkdir -p "$base" || { echo "error 90 cannot create $base"; exit 0; }
claim "$2" "$3"
sh "$d/job" check 2>/dev/null; rc=$?
if [ "$rc" -ne 0 ]; then rm -rf "$d"; echo "error $rc"; exit 0; fi
put "$d/pid" "$(ps -o pgid= -p $$ 2>/dev/null | tr -d ' ' | grep . || echo $$)"
put "$d/start" "$(date +%s)"
b=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) && put "$d/boot" "$b"
echo "ok $n"
trap ':' TERM INT HUP
sh "$d/job"
code=$?
put "$d/end" "$(date +%s)"
put "$d/exit" "$code"
exit "$code"
"#
    )
}

/// Field separator of status lines (ASCII unit separator).
pub(crate) const SEP: char = '\x1f';

/// Print one status line per job. Arguments: job directory, then ids, or
/// `--all` for every job there. Fields (separated by [`SEP`]): id, `ok` or
/// `missing`, pid, alive (1/0), exit code, cancelled (1/0), submit, start
/// and end time, last line of the job's own error log, name.
pub(crate) const STATUS: &str = r#"
case $1 in /*) base=$1 ;; *) base=$HOME/$1 ;; esac; shift
now_boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)
val() { v=; [ -r "$1" ] && read -r v < "$1"; }
one() {
  d=$base/$1
  if [ ! -d "$d" ]; then printf '%s\037missing\n' "$1"; return; fi
  val "$d/pid"; pid=$v; val "$d/exit"; code=$v
  alive=0
  if [ -n "$pid" ] && [ -z "$code" ]; then
    val "$d/boot"
    if { [ -z "$v" ] || [ "$v" = "$now_boot" ]; } && kill -0 "$pid" 2>/dev/null; then
      alive=1
    else
      # It may have finished between the two reads.
      val "$d/exit"; code=$v
    fi
  fi
  c=0; [ -e "$d/cancelled" ] && c=1
  val "$d/submitted"; sub=$v; val "$d/start"; st=$v; val "$d/end"; en=$v
  err=
  [ -s "$d/log" ] && err=$(tail -n 1 "$d/log" | tr -d '\037')
  printf '%s\037ok\037%s\037%s\037%s\037%s\037%s\037%s\037%s\037%s\037' \
    "$1" "$pid" "$alive" "$code" "$c" "$sub" "$st" "$en" "$err"
  cat "$d/name" 2>/dev/null
  echo
}
if [ "$1" = --all ]; then
  for d in "$base"/[0-9]*; do
    if [ -d "$d" ]; then one "${d##*/}"; fi
  done
else
  for id in "$@"; do one "$id"; done
fi
"#;

/// Cancel jobs. Arguments: job directory, grace seconds, ids. Marks each
/// job cancelled, sends TERM to its process group and KILL after the grace
/// period. Prints `ID missing|done|ok` per job.
pub(crate) const CANCEL: &str = r#"
case $1 in /*) base=$1 ;; *) base=$HOME/$1 ;; esac; grace=$2; shift 2
for id in "$@"; do
  d=$base/$id
  if [ ! -d "$d" ]; then echo "$id missing"; continue; fi
  if [ -e "$d/exit" ]; then echo "$id done"; continue; fi
  : > "$d/cancelled"
  pid=; [ -r "$d/pid" ] && read -r pid < "$d/pid"
  if [ -n "$pid" ]; then
    kill -s TERM -- "-$pid" 2>/dev/null
    (sleep "$grace"; kill -s KILL -- "-$pid") </dev/null >/dev/null 2>&1 &
  fi
  echo "$id ok"
done
"#;

/// Where relative paths start: the scheduler's working directory.
#[derive(Debug, Clone)]
pub(crate) struct Paths<'a> {
    /// The scheduler's working directory (relative: under `$HOME`); `None`: `$HOME`.
    pub(crate) workdir: Option<&'a str>,
}

/// `cd` to `dir`; relative to `$HOME` when `from_home`, else to the current
/// directory. A leading `-` must not read as an option.
fn cd(dir: &str, from_home: bool) -> String {
    if dir.starts_with('/') {
        format!("cd {} || exit {CHECK_NO_WORKDIR}\n", quote_str(dir))
    } else if from_home {
        let rel = dir.strip_prefix("~/").unwrap_or(dir);
        format!("cd \"$HOME\"/{} || exit {CHECK_NO_WORKDIR}\n", quote_str(rel))
    } else {
        format!("cd ./{} || exit {CHECK_NO_WORKDIR}\n", quote_str(dir))
    }
}

/// The job script: go to the working directory, export the environment,
/// answer `check` (does the executable exist?), connect the files (batch
/// jobs), then become the job. Every value is quoted.
pub(crate) fn job_script(job: &JobDescription, paths: &Paths<'_>, batch: bool) -> String {
    let mut s = String::from("# hpckit job script\n");
    match paths.workdir {
        Some(w) => s.push_str(&cd(w, true)),
        None => s.push_str(&format!("cd \"$HOME\" || exit {CHECK_NO_WORKDIR}\n")),
    }
    if let Some(w) = &job.working_directory {
        s.push_str(&cd(w.as_str(), false));
    }
    for (k, v) in &job.environment {
        // Names are checked by JobDescription::validate (shell identifiers).
        s.push_str(&format!("export {k}={}\n", quote_str(v)));
    }
    let exe = quote_str(&job.executable);
    let test = if job.executable.contains('/') {
        format!("[ -f {exe} ] && [ -x {exe} ]")
    } else {
        format!("command -v {exe} >/dev/null 2>&1")
    };
    s.push_str(&format!(
        "if [ \"${{1-}}\" = check ]; then {test} || exit {CHECK_NO_EXECUTABLE}; exit 0; fi\n"
    ));
    if batch {
        let file = |f: &Option<JobPath>| quote_str(f.as_ref().map_or("/dev/null", JobPath::as_str));
        let err = if job.stdout.is_some() && job.stdout == job.stderr {
            "&1".to_owned()
        } else {
            file(&job.stderr)
        };
        s.push_str(&format!("exec <{} >{} 2>{err}\n", file(&job.stdin), file(&job.stdout)));
    }
    s.push_str("exec ");
    s.push_str(&exe);
    for a in &job.arguments {
        s.push(' ');
        s.push_str(&quote_str(a));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_quoted() {
        let job = JobDescription::new("my prog")
            .args(["a b", "it's", "$(id)"])
            .env("V", "`x` $y")
            .working_directory("-dir")
            .stdout("out file")
            .stderr("out file");
        let s = job_script(&job, &Paths { workdir: Some("work space") }, true);
        assert_eq!(
            s,
            "# hpckit job script\n\
             cd \"$HOME\"/'work space' || exit 81\n\
             cd ./-dir || exit 81\n\
             export V='`x` $y'\n\
             if [ \"${1-}\" = check ]; then command -v 'my prog' >/dev/null 2>&1 || exit 82; exit 0; fi\n\
             exec </dev/null >'out file' 2>&1\n\
             exec 'my prog' 'a b' 'it'\\''s' '$(id)'\n"
        );
        let s = job_script(&JobDescription::new("./x"), &Paths { workdir: None }, false);
        assert!(s.contains("[ -f ./x ] && [ -x ./x ]"), "{s}");
        assert!(!s.contains("exec <"), "interactive jobs keep their streams: {s}");
    }
}
