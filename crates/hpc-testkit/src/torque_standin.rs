//! A Torque stand-in: `qsub`, `qstat`, `qdel` and `pbsnodes` that print
//! exactly Torque's formats (facts in `shared/reference/SCHEDULERS.md`) while
//! really running the jobs as background processes on this host.
//!
//! Torque cannot be installed on our machines (not in Debian 12, not in any
//! reachable registry), so the torque adaptor is tested against this program.
//! Design and limits: `docs/adr/0452-torque-stand-in.md`. In short:
//!
//! * one binary, multi-call by `argv[0]` (`qsub`, `qstat`, `qdel`,
//!   `pbsnodes`), or `torque-standin qsub ...`;
//! * state is a directory (`$TORQUE_STANDIN_HOME`, else `../` of the
//!   directory holding the invoked `qsub` link): `config.json`, `spool/seq`,
//!   one `spool/jobs/<seq>/` per job, world-writable (sticky) so any user
//!   submits, and each job directory owned by its submitter;
//! * `qsub` parses its options and the script's `#PBS` lines (`-N -o -e -j -d
//!   -v -V -l walltime=... -q`), writes the job and starts a detached runner
//!   (`torque-standin __run <jobdir>`) that waits for a free slot (`np`),
//!   runs the script in its own process group, enforces the walltime, shows
//!   `E` for `exiting_seconds`, then records `exit_status` (256 + signal when
//!   killed) and `comp_time`;
//! * finished jobs stay visible as `C` for `keep_completed` seconds, then
//!   vanish, as in Torque;
//! * `qstat -x` prints the one-line XML of Torque 6.1+ (`version = "6.1"`) or
//!   of 6.0 and older (`"6.0"`: no declaration, empty stdout without jobs).
//!
//! Deliberate differences from Torque: one node (this host); output files are
//! written while the job runs instead of being staged out at the end; no job
//! arrays, holds, dependencies or `qsub -I`.
#![allow(clippy::disallowed_methods, reason = "a stand-in for daemons spawns its own processes")]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The stand-in's configuration (`<home>/config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Server name: job ids are `<seq>.<server_name>`.
    pub server_name: String,
    /// Queues (execution queues, all enabled and started).
    pub queues: Vec<QueueConfig>,
    /// Queue of jobs that name none.
    pub default_queue: String,
    /// Seconds a finished job stays visible as `C` (Torque 6: 300; 5.1 and older: 0).
    pub keep_completed: u64,
    /// Jobs that may run at once.
    pub np: u32,
    /// Output flavour: `"6.1"` (XML declaration, empty `<Data>`) or `"6.0"`.
    pub version: String,
    /// How long a job shows `E` between its end and `C`.
    pub exiting_seconds: f64,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue name.
    pub name: String,
    /// `resources_max.walltime` in seconds, if limited.
    pub max_walltime: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_name: "standin.localdomain".into(),
            queues: vec![
                QueueConfig { name: "batch".into(), max_walltime: None },
                QueueConfig { name: "short".into(), max_walltime: Some(3600) },
            ],
            default_queue: "batch".into(),
            keep_completed: 300,
            np: 16,
            version: "6.1".into(),
            exiting_seconds: 0.3,
        }
    }
}

/// What a job is, written once by `qsub` (`<jobdir>/job.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobSpec {
    seq: u64,
    name: String,
    owner: String,
    uid: u32,
    home: String,
    queue: String,
    submit_host: String,
    submit_args: String,
    init_work_dir: String,
    work_dir: String,
    output_path: String,
    error_path: String,
    join: String,
    walltime: Option<u64>,
    resources: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
    shell: String,
    ctime: u64,
}

/// Entry point: dispatch on `argv[0]` (or the first argument after
/// `torque-standin`). Returns the process exit code.
pub fn main_with(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = args.into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let invoked = args.first().cloned().unwrap_or_default();
    let base = Path::new(&invoked)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (cmd, rest) = if matches!(base.as_str(), "qsub" | "qstat" | "qdel" | "pbsnodes") {
        (base.clone(), args[1..].to_vec())
    } else if args.len() >= 2 {
        (args[1].clone(), args[2..].to_vec())
    } else {
        eprintln!("usage: torque-standin qsub|qstat|qdel|pbsnodes [args]");
        return 2;
    };
    if cmd == "__install" {
        let Some(home) = rest.first() else {
            eprintln!("usage: torque-standin __install HOME");
            return 2;
        };
        let me = std::env::current_exe().unwrap_or_default();
        return match install(Path::new(home), &me, &Config::default()) {
            Ok(bin) => {
                println!("{}", bin.display());
                0
            }
            Err(e) => {
                eprintln!("torque-standin: cannot install into {home}: {e}");
                1
            }
        };
    }
    if cmd == "__run" {
        return match rest.first() {
            Some(dir) => run_job(Path::new(dir)),
            None => 2,
        };
    }
    let home = match home_dir(&invoked) {
        Some(h) => h,
        None => {
            eprintln!(
                "{cmd}: cannot find the stand-in's state directory (set TORQUE_STANDIN_HOME)"
            );
            return 2;
        }
    };
    let config = match load_config(&home) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{cmd}: {e}");
            return 2;
        }
    };
    let st = Standin { home, config };
    match cmd.as_str() {
        "qsub" => st.qsub(&rest),
        "qstat" => st.qstat(&rest),
        "qdel" => st.qdel(&rest),
        "pbsnodes" => st.pbsnodes(&rest),
        other => {
            eprintln!("torque-standin: unknown command {other:?}");
            2
        }
    }
}

/// `$TORQUE_STANDIN_HOME`, else the parent of the directory the command was
/// invoked from (`<home>/bin/qsub`), found via `PATH` for a bare name.
fn home_dir(invoked: &str) -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("TORQUE_STANDIN_HOME") {
        return Some(PathBuf::from(h));
    }
    let path = if invoked.contains('/') {
        PathBuf::from(invoked)
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(invoked))
            .find(|p| p.exists())?
    };
    let home = path.parent()?.parent()?.to_path_buf();
    home.join("config.json").exists().then_some(home)
}

fn load_config(home: &Path) -> Result<Config, String> {
    let text = fs::read_to_string(home.join("config.json"))
        .map_err(|e| format!("cannot read {}: {e}", home.join("config.json").display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("bad {}: {e}", home.join("config.json").display()))
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn now_f64() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Name and home of a uid, from /etc/passwd.
fn user_of(uid: u32) -> (String, String) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[2].parse() == Ok(uid) {
            return (f[0].to_owned(), f[5].to_owned());
        }
    }
    (uid.to_string(), "/".into())
}

/// Write a file atomically (readers never see half of it).
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, text)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))?;
    fs::rename(&tmp, path)
}

/// `[[H:]MM:]SS` (Torque also takes plain seconds).
fn parse_walltime(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut total = 0u64;
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        total = total.checked_mul(60)?.checked_add(p.parse().ok()?)?;
    }
    Some(total)
}

fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Split a `#PBS` line's options like a shell would (quotes, no expansion).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Escape the five characters Torque escapes in XML values.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

struct Standin {
    home: PathBuf,
    config: Config,
}

/// Options collected from `#PBS` lines and the command line.
#[derive(Default)]
struct Opts {
    name: Option<String>,
    output: Option<String>,
    error: Option<String>,
    join: Option<String>,
    dir: Option<String>,
    vars: Vec<String>,
    all_env: bool,
    resources: Vec<String>,
    queue: Option<String>,
    script: Option<String>,
}

impl Opts {
    /// Apply options; `Err` is qsub's usage error text.
    fn apply(&mut self, args: &[String], allow_script: bool) -> Result<(), String> {
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            let takes_value = matches!(
                a.as_str(),
                "-N" | "-o"
                    | "-e"
                    | "-j"
                    | "-d"
                    | "-w"
                    | "-v"
                    | "-l"
                    | "-q"
                    | "-S"
                    | "-A"
                    | "-m"
                    | "-M"
                    | "-W"
                    | "-p"
                    | "-r"
                    | "-k"
            );
            if takes_value {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| format!("qsub: option requires an argument -- '{}'", &a[1..]))?
                    .clone();
                match a.as_str() {
                    "-N" => self.name = Some(v),
                    "-o" => self.output = Some(v),
                    "-e" => self.error = Some(v),
                    "-j" => self.join = Some(v),
                    "-d" | "-w" => self.dir = Some(v),
                    "-v" => self.vars.push(v),
                    "-l" => self.resources.push(v),
                    "-q" => self.queue = Some(v),
                    // Accepted and ignored, as a site without these features would.
                    _ => {}
                }
                i += 2;
            } else if a == "-V" {
                self.all_env = true;
                i += 1;
            } else if a == "-t" || a == "-I" || a == "-h" || a == "-a" {
                return Err(format!("qsub: option {a} is not supported by the Torque stand-in"));
            } else if a.starts_with('-') && a.len() > 1 {
                return Err(format!("qsub: invalid option -- '{}'", &a[1..]));
            } else if allow_script && self.script.is_none() {
                self.script = Some(a.clone());
                i += 1;
            } else {
                return Err(format!("qsub: unexpected argument {a:?}"));
            }
        }
        Ok(())
    }
}

impl Standin {
    fn spool(&self) -> PathBuf {
        self.home.join("spool")
    }

    fn jobs_dir(&self) -> PathBuf {
        self.spool().join("jobs")
    }

    fn next_seq(&self) -> std::io::Result<u64> {
        let path = self.spool().join("seq");
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        f.lock()?;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let seq = text.trim().parse::<u64>().unwrap_or(0) + 1;
        f.set_len(0)?;
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(0))?;
        f.write_all(seq.to_string().as_bytes())?;
        f.sync_all()?;
        Ok(seq)
    }

    fn job_id(&self, seq: u64) -> String {
        format!("{seq}.{}", self.config.server_name)
    }

    fn qsub(&self, args: &[String]) -> i32 {
        let mut cli = Opts::default();
        if let Err(e) = cli.apply(args, true) {
            eprintln!("{e}");
            return 2;
        }
        let script = match &cli.script {
            Some(p) => match fs::read_to_string(p) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!(
                        "qsub: script file cannot be loaded - No such file or directory ({p}: {e})"
                    );
                    return 1;
                }
            },
            None => {
                let mut s = String::new();
                if std::io::stdin().read_to_string(&mut s).is_err() {
                    eprintln!("qsub: cannot read the script from standard input");
                    return 1;
                }
                s
            }
        };
        // `#PBS` directives come first; the command line overrides them.
        let mut opts = Opts::default();
        for line in script.lines() {
            let t = line.trim_start();
            if t.is_empty() || (t.starts_with('#') && !t.starts_with("#PBS")) {
                continue;
            }
            let Some(rest) = t.strip_prefix("#PBS") else { break };
            if let Err(e) = opts.apply(&split_words(rest), false) {
                eprintln!("{e}");
                return 2;
            }
        }
        let cli_set = |a: &mut Option<String>, b: &Option<String>| {
            if b.is_some() {
                a.clone_from(b);
            }
        };
        cli_set(&mut opts.name, &cli.name);
        cli_set(&mut opts.output, &cli.output);
        cli_set(&mut opts.error, &cli.error);
        cli_set(&mut opts.join, &cli.join);
        cli_set(&mut opts.dir, &cli.dir);
        cli_set(&mut opts.queue, &cli.queue);
        opts.vars.extend(cli.vars);
        opts.resources.extend(cli.resources);
        opts.all_env |= cli.all_env;

        let queue = opts.queue.clone().unwrap_or_else(|| self.config.default_queue.clone());
        let Some(qconf) = self.config.queues.iter().find(|q| q.name == queue) else {
            eprintln!("qsub: submit error (Unknown queue MSG=cannot locate queue)");
            return 170;
        };
        let mut resources = BTreeMap::new();
        for list in &opts.resources {
            for item in list.split(',') {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                resources.insert(k.to_owned(), v.to_owned());
            }
        }
        let walltime = match resources.get("walltime") {
            Some(w) => match parse_walltime(w) {
                Some(s) => Some(s),
                None => {
                    eprintln!(
                        "qsub: submit error (Illegal attribute or resource value MSG=illegal value for walltime)"
                    );
                    return 2;
                }
            },
            None => qconf.max_walltime,
        };
        if let (Some(w), Some(max)) = (walltime, qconf.max_walltime)
            && w > max
        {
            eprintln!(
                "qsub: submit error (Job exceeds queue resource limits MSG=cannot satisfy queue max walltime requirement)"
            );
            return 188;
        }
        let uid = rustix::process::getuid().as_raw();
        let (owner, user_home) = user_of(uid);
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| user_home.clone());
        let name = opts.name.clone().unwrap_or_else(|| match &cli.script {
            Some(p) => Path::new(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "STDIN".into()),
            None => "STDIN".into(),
        });
        if name.is_empty()
            || name.len() > 230
            || name.contains(char::is_whitespace)
            || name.contains('/')
        {
            eprintln!("qsub: illegal -N value");
            return 2;
        }
        let seq = match self.next_seq() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("qsub: cannot allocate a job id: {e}");
                return 1;
            }
        };
        let absolute =
            |p: &str| if p.starts_with('/') { p.to_owned() } else { format!("{cwd}/{p}") };
        // Torque's `-o`/`-e` take `[host:]path`.
        let strip_host = |p: &str| match p.split_once(':') {
            Some((h, rest)) if !h.contains('/') && rest.starts_with('/') => rest.to_owned(),
            _ => p.to_owned(),
        };
        let output_path =
            absolute(&strip_host(&opts.output.clone().unwrap_or_else(|| format!("{name}.o{seq}"))));
        let error_path =
            absolute(&strip_host(&opts.error.clone().unwrap_or_else(|| format!("{name}.e{seq}"))));
        let submit_env: BTreeMap<String, String> = std::env::vars().collect();
        let mut env = BTreeMap::new();
        if opts.all_env {
            env.extend(submit_env.clone());
        }
        for list in &opts.vars {
            // As in Torque, the list splits at every comma.
            for item in list.split(',').filter(|i| !i.is_empty()) {
                match item.split_once('=') {
                    Some((k, v)) => env.insert(k.to_owned(), v.to_owned()),
                    None => env
                        .insert(item.to_owned(), submit_env.get(item).cloned().unwrap_or_default()),
                };
            }
        }
        let host = hostname();
        for (k, v) in [
            ("PBS_O_HOME", user_home.clone()),
            ("PBS_O_LOGNAME", owner.clone()),
            ("PBS_O_PATH", submit_env.get("PATH").cloned().unwrap_or_default()),
            ("PBS_O_SHELL", submit_env.get("SHELL").cloned().unwrap_or_else(|| "/bin/sh".into())),
            ("PBS_O_HOST", host.clone()),
            ("PBS_O_WORKDIR", cwd.clone()),
            ("PBS_O_QUEUE", queue.clone()),
        ] {
            env.insert(k.into(), v);
        }
        let shell = script
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#!"))
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        let spec = JobSpec {
            seq,
            name,
            owner,
            uid,
            home: user_home.clone(),
            queue,
            submit_host: host,
            submit_args: args.join(" "),
            init_work_dir: cwd.clone(),
            work_dir: opts.dir.clone().map(|d| absolute(&d)).unwrap_or(user_home),
            output_path,
            error_path,
            join: opts.join.clone().unwrap_or_else(|| "n".into()),
            walltime,
            resources,
            env,
            shell,
            ctime: now(),
        };
        let dir = self.jobs_dir().join(seq.to_string());
        let written = fs::create_dir(&dir)
            .and_then(|_| fs::write(dir.join("script"), &script))
            .and_then(|_| {
                fs::set_permissions(dir.join("script"), fs::Permissions::from_mode(0o700))
            })
            .and_then(|_| {
                write_atomic(
                    &dir.join("job.json"),
                    &serde_json::to_string(&spec).unwrap_or_default(),
                )
            });
        if let Err(e) = written {
            eprintln!("qsub: cannot queue the job: {e}");
            return 1;
        }
        let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("torque-standin"));
        let started = Command::new(me)
            .arg("__run")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        if let Err(e) = started {
            eprintln!("qsub: cannot start the job runner: {e}");
            return 1;
        }
        println!("{}", self.job_id(seq));
        0
    }

    /// Every job directory, oldest first; finished jobs past
    /// `keep_completed` are purged on the way.
    fn jobs(&self) -> Vec<(u64, PathBuf, JobSpec)> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(self.jobs_dir()) else { return out };
        for e in entries.flatten() {
            let Ok(seq) = e.file_name().to_string_lossy().parse::<u64>() else { continue };
            let dir = e.path();
            let Some(spec) = fs::read_to_string(dir.join("job.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<JobSpec>(&t).ok())
            else {
                continue;
            };
            if let Some(done) = read_num(&dir.join("comp_time"))
                && now().saturating_sub(done as u64) >= self.config.keep_completed
            {
                // Whoever may remove it (owner or root) does; others just skip it.
                if fs::remove_dir_all(&dir).is_ok() || !dir.exists() {
                    continue;
                }
                continue;
            }
            out.push((seq, dir, spec));
        }
        out.sort_by_key(|(s, _, _)| *s);
        out
    }

    /// The sequence number in a job id (`12`, `12.server`, `12.short`).
    fn seq_of(id: &str) -> Option<u64> {
        let num = id.split('.').next()?;
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        num.parse().ok()
    }

    fn qstat(&self, args: &[String]) -> i32 {
        let mut xml = false;
        let mut queues = false;
        let mut full = false;
        let mut server = false;
        let mut ids = Vec::new();
        for a in args {
            match a.as_str() {
                "-x" => xml = true,
                "-Q" => queues = true,
                "-Qf" | "-fQ" => {
                    queues = true;
                    full = true;
                }
                "-f" => full = true,
                "-B" => server = true,
                "-Bf" | "-fB" => {
                    server = true;
                    full = true;
                }
                "-1" => {}
                a if a.starts_with('-') => {
                    eprintln!("qstat: invalid option -- '{}'", &a[1..]);
                    eprintln!(
                        "usage: qstat [-f [-1]] [-x] [job_identifier...] | -Q [-f] | -B [-f]"
                    );
                    return 2;
                }
                _ => ids.push(a.clone()),
            }
        }
        if server {
            return self.qstat_server(full);
        }
        if queues {
            return self.qstat_queues(full, &ids);
        }
        let jobs = self.jobs();
        let mut rc = 0;
        let mut selected = Vec::new();
        if ids.is_empty() {
            selected.extend(jobs.iter());
        } else {
            for id in &ids {
                match Self::seq_of(id).and_then(|s| jobs.iter().find(|(seq, _, _)| *seq == s)) {
                    Some(j) => selected.push(j),
                    None => {
                        eprintln!("qstat: Unknown Job Id Error {id}");
                        rc = 153;
                    }
                }
            }
        }
        if xml {
            let body: String =
                selected.iter().map(|(_, dir, spec)| self.job_xml(dir, spec)).collect();
            if self.config.version.as_str() >= "6.1" {
                println!("<?xml version=\"1.0\"?><Data>{body}</Data>");
            } else if !body.is_empty() {
                println!("<Data>{body}</Data>");
            }
        } else if full {
            for (_, dir, spec) in &selected {
                print!("{}", self.job_full(dir, spec));
            }
        } else if !selected.is_empty() {
            println!("Job ID                    Name             User            Time Use S Queue");
            println!("------------------------- ---------------- --------------- -------- - -----");
            for (_, dir, spec) in &selected {
                let (state, ..) = job_state(dir);
                let short: String = self.job_id(spec.seq).chars().take(25).collect();
                let name: String = spec.name.chars().take(16).collect();
                println!(
                    "{short:<25} {name:<16} {:<15} {:>8} {state} {}",
                    spec.owner, "0", spec.queue
                );
            }
        }
        rc
    }

    fn job_xml(&self, dir: &Path, spec: &JobSpec) -> String {
        let (state, start, comp, exit) = job_state(dir);
        let host = &spec.submit_host;
        let mut x = String::from("<Job>");
        el(&mut x, "Job_Id", &self.job_id(spec.seq));
        el(&mut x, "Job_Name", &spec.name);
        el(&mut x, "Job_Owner", &format!("{}@{host}", spec.owner));
        if let Some(start) = start {
            let used = comp.unwrap_or_else(now_f64) - start;
            x.push_str(&format!(
                "<resources_used><cput>00:00:00</cput><energy_used>0</energy_used><mem>0kb</mem><vmem>0kb</vmem><walltime>{}</walltime></resources_used>",
                hms(used.max(0.0) as u64)
            ));
        }
        el(&mut x, "job_state", &state.to_string());
        el(&mut x, "queue", &spec.queue);
        el(&mut x, "server", &self.config.server_name);
        el(&mut x, "Checkpoint", "u");
        el(&mut x, "ctime", &spec.ctime.to_string());
        el(&mut x, "Error_Path", &format!("{host}:{}", spec.error_path));
        if start.is_some() {
            el(&mut x, "exec_host", &format!("{host}/0"));
        }
        el(&mut x, "Hold_Types", "n");
        el(&mut x, "Join_Path", &spec.join);
        el(&mut x, "Keep_Files", "n");
        el(&mut x, "Mail_Points", "a");
        el(&mut x, "mtime", &(comp.or(start).map(|t| t as u64).unwrap_or(spec.ctime)).to_string());
        el(&mut x, "Output_Path", &format!("{host}:{}", spec.output_path));
        el(&mut x, "Priority", "0");
        el(&mut x, "qtime", &spec.ctime.to_string());
        el(&mut x, "Rerunable", "True");
        x.push_str("<Resource_List>");
        let mut res = spec.resources.clone();
        res.entry("nodes".into()).or_insert_with(|| "1".into());
        res.entry("nodect".into()).or_insert_with(|| "1".into());
        if let Some(w) = spec.walltime {
            res.insert("walltime".into(), hms(w));
        }
        for (k, v) in &res {
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                x.push_str(&format!("<{k}>{}</{k}>", xml_escape(v)));
            }
        }
        x.push_str("</Resource_List>");
        if start.is_some() {
            el(&mut x, "session_id", &read_num(&dir.join("pid")).unwrap_or(0.0).to_string());
        }
        let vars: Vec<String> = spec
            .env
            .iter()
            .filter(|(k, _)| k.starts_with("PBS_O_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        el(&mut x, "Variable_List", &vars.join(","));
        el(&mut x, "euser", &spec.owner);
        el(&mut x, "egroup", &spec.owner);
        el(&mut x, "queue_type", "E");
        el(&mut x, "etime", &spec.ctime.to_string());
        if let Some(code) = exit {
            el(&mut x, "exit_status", &code.to_string());
        }
        el(&mut x, "submit_args", &spec.submit_args);
        if let Some(s) = start {
            el(&mut x, "start_time", &(s as u64).to_string());
        }
        if let (Some(s), None, Some(w)) = (start, comp, spec.walltime) {
            let remaining = (w as f64 - (now_f64() - s)).max(0.0) as u64;
            x.push_str(&format!("<Walltime><Remaining>{remaining}</Remaining></Walltime>"));
        }
        if start.is_some() {
            el(&mut x, "start_count", "1");
        }
        el(&mut x, "fault_tolerant", "False");
        if let Some(c) = comp {
            el(&mut x, "comp_time", &(c as u64).to_string());
        }
        el(&mut x, "job_radix", "0");
        el(&mut x, "submit_host", &spec.submit_host);
        el(&mut x, "init_work_dir", &spec.init_work_dir);
        el(&mut x, "request_version", "1");
        x.push_str("</Job>");
        x
    }

    fn job_full(&self, dir: &Path, spec: &JobSpec) -> String {
        let (state, _, _, exit) = job_state(dir);
        let mut s = format!("Job Id: {}\n", self.job_id(spec.seq));
        s.push_str(&format!("    Job_Name = {}\n", spec.name));
        s.push_str(&format!("    Job_Owner = {}@{}\n", spec.owner, spec.submit_host));
        s.push_str(&format!("    job_state = {state}\n"));
        s.push_str(&format!("    queue = {}\n", spec.queue));
        s.push_str(&format!("    server = {}\n", self.config.server_name));
        if let Some(code) = exit {
            s.push_str(&format!("    exit_status = {code}\n"));
        }
        s.push('\n');
        s
    }

    fn queue_counts(&self) -> BTreeMap<String, BTreeMap<char, u32>> {
        let mut counts: BTreeMap<String, BTreeMap<char, u32>> = BTreeMap::new();
        for (_, dir, spec) in self.jobs() {
            *counts.entry(spec.queue.clone()).or_default().entry(job_state(&dir).0).or_default() +=
                1;
        }
        counts
    }

    fn qstat_queues(&self, full: bool, names: &[String]) -> i32 {
        let counts = self.queue_counts();
        let mut rc = 0;
        let mut shown = Vec::new();
        if names.is_empty() {
            shown.extend(self.config.queues.iter());
        } else {
            for n in names {
                match self.config.queues.iter().find(|q| &q.name == n) {
                    Some(q) => shown.push(q),
                    None => {
                        eprintln!("qstat: Unknown queue MSG=cannot locate queue {n}");
                        rc = 170;
                    }
                }
            }
        }
        let c = |q: &QueueConfig, s: char| {
            counts.get(&q.name).and_then(|m| m.get(&s)).copied().unwrap_or(0)
        };
        if full {
            for q in shown {
                let total: u32 = "TQHWREC".chars().map(|s| c(q, s)).sum();
                println!("Queue: {}", q.name);
                println!("    queue_type = Execution");
                println!("    total_jobs = {total}");
                println!(
                    "    state_count = Transit:{} Queued:{} Held:{} Waiting:{} Running:{} Exiting:{} Complete:{} ",
                    c(q, 'T'),
                    c(q, 'Q'),
                    c(q, 'H'),
                    c(q, 'W'),
                    c(q, 'R'),
                    c(q, 'E'),
                    c(q, 'C')
                );
                if let Some(m) = q.max_walltime {
                    println!("    resources_max.walltime = {}", hms(m));
                }
                println!("    mtime = {}", now());
                println!("    keep_completed = {}", self.config.keep_completed);
                println!("    enabled = True");
                println!("    started = True");
                println!();
            }
        } else if !shown.is_empty() {
            println!(
                "Queue              Max    Tot   Ena   Str   Que   Run   Hld   Wat   Trn   Ext T   Cpt"
            );
            println!(
                "----------------   ---   ----    --    --   ---   ---   ---   ---   ---   --- -   ---"
            );
            for q in shown {
                let total: u32 = "TQHWREC".chars().map(|s| c(q, s)).sum();
                println!(
                    "{:<16}     0 {:>6}   yes   yes {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} E {:>5}",
                    q.name,
                    total,
                    c(q, 'Q'),
                    c(q, 'R'),
                    c(q, 'H'),
                    c(q, 'W'),
                    c(q, 'T'),
                    c(q, 'E'),
                    c(q, 'C')
                );
            }
        }
        rc
    }

    fn qstat_server(&self, full: bool) -> i32 {
        let counts = self.queue_counts();
        let total: u32 = counts.values().flat_map(|m| m.values()).sum();
        if full {
            println!("Server: {}", self.config.server_name);
            println!("    server_state = Active");
            println!("    total_jobs = {total}");
            println!("    default_queue = {}", self.config.default_queue);
            println!("    keep_completed = {}", self.config.keep_completed);
            println!(
                "    pbs_version = {}",
                if self.config.version.as_str() >= "6.1" { "6.1.3" } else { "6.0.4" }
            );
            println!();
        } else {
            println!("Server             Max   Tot   Que   Run   Hld   Wat   Trn   Ext Status");
            println!(
                "---------------- ----- ----- ----- ----- ----- ----- ----- ----- -----------"
            );
            println!(
                "{:<16}     0 {total:>5}     0     0     0     0     0     0 Active",
                self.config.server_name
            );
        }
        0
    }

    fn qdel(&self, args: &[String]) -> i32 {
        let ids: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        if ids.is_empty() {
            eprintln!(
                "usage: qdel [{{ -a | -c | -p | -t | -W delay | -m message}}] <JOBID>[ <JOBID>]... | 'all' | 'ALL'"
            );
            return 2;
        }
        let jobs = self.jobs();
        let uid = rustix::process::getuid().as_raw();
        let mut rc = 0;
        for id in ids {
            let Some(seq) = Self::seq_of(id) else {
                eprintln!("qdel: illegally formed job identifier: {id}");
                rc = 1;
                continue;
            };
            let Some((_, dir, spec)) = jobs.iter().find(|(s, _, _)| *s == seq) else {
                eprintln!("qdel: nonexistent job id: {id}");
                rc = 153;
                continue;
            };
            if uid != 0 && uid != spec.uid {
                eprintln!("qdel: Unauthorized Request  MSG=operation not permitted {id}");
                rc = 159;
                continue;
            }
            match job_state(dir).0 {
                'C' => {
                    eprintln!(
                        "qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE {id}"
                    );
                    rc = 170;
                }
                state => {
                    let _ = write_atomic(&dir.join("deleted"), &now().to_string());
                    if matches!(state, 'R' | 'E')
                        && let Some(pid) = read_num(&dir.join("pid")).map(|p| p as i32)
                        && let Some(pid) = rustix::process::Pid::from_raw(pid)
                    {
                        let _ =
                            rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
                    }
                }
            }
        }
        rc
    }

    fn pbsnodes(&self, _args: &[String]) -> i32 {
        let host = hostname();
        let running: Vec<String> = self
            .jobs()
            .iter()
            .filter(|(_, d, _)| job_state(d).0 == 'R')
            .enumerate()
            .map(|(i, (s, _, _))| format!("{i}/{}", self.job_id(*s)))
            .collect();
        let state = if running.len() as u32 >= self.config.np { "job-exclusive" } else { "free" };
        println!("{host}");
        println!("     state = {state}");
        println!("     power_state = Running");
        println!("     np = {}", self.config.np);
        println!("     ntype = cluster");
        if !running.is_empty() {
            println!("     jobs = {}", running.join(","));
        }
        println!("     status = rectime={},state={state},ncpus={}", now(), self.config.np);
        println!("     mom_service_port = 15002");
        println!("     mom_manager_port = 15003");
        println!("     gpus = 0");
        println!();
        0
    }
}

fn el(x: &mut String, name: &str, value: &str) {
    x.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
}

fn read_num(path: &Path) -> Option<f64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// State letter, start time, completion time, exit status.
fn job_state(dir: &Path) -> (char, Option<f64>, Option<f64>, Option<i64>) {
    let start = read_num(&dir.join("start_time"));
    let comp = read_num(&dir.join("comp_time"));
    let exit = read_num(&dir.join("exit_status")).map(|e| e as i64);
    let state = if comp.is_some() {
        'C'
    } else if dir.join("exiting").exists() {
        'E'
    } else if start.is_some() {
        'R'
    } else {
        'Q'
    };
    (state, start, comp, exit)
}

/// The detached runner of one job: wait for a slot, run, record the end.
fn run_job(dir: &Path) -> i32 {
    let Some(spec) = fs::read_to_string(dir.join("job.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<JobSpec>(&t).ok())
    else {
        return 1;
    };
    let home = dir
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let np = load_config(&home).map(|c| (c.np, c.exiting_seconds)).unwrap_or((1, 0.0));
    let slots = home.join("spool").join("slots");
    let finish = |exit: Option<i64>| {
        if let Some(code) = exit {
            let _ = write_atomic(&dir.join("exit_status"), &code.to_string());
        }
        let _ = write_atomic(&dir.join("comp_time"), &format!("{:.3}", now_f64()));
    };
    // Queued until one of `np` slot locks is free (or the job is deleted).
    let _slot = loop {
        if dir.join("deleted").exists() {
            finish(None);
            return 0;
        }
        let free = (0..np.0.max(1)).find_map(|i| {
            let f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(slots.join(i.to_string()))
                .ok()?;
            let _ =
                fs::set_permissions(slots.join(i.to_string()), fs::Permissions::from_mode(0o666));
            f.try_lock().ok().map(|_| f)
        });
        match free {
            Some(f) => break f,
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let jobid =
        format!("{}.{}", spec.seq, load_config(&home).map(|c| c.server_name).unwrap_or_default());
    let open = |p: &str| fs::OpenOptions::new().write(true).create(true).truncate(true).open(p);
    let (out, err) = match (open(&spec.output_path), spec.join.as_str()) {
        (Ok(o), "oe") => {
            let e = o.try_clone();
            (Ok(o), e)
        }
        (o, _) => (o, open(&spec.error_path)),
    };
    let mut cmd = Command::new(&spec.shell);
    cmd.arg(dir.join("script"))
        .env_clear()
        .envs(&spec.env)
        .env("HOME", &spec.home)
        .env("USER", &spec.owner)
        .env("LOGNAME", &spec.owner)
        .env("SHELL", &spec.shell)
        .env(
            "PATH",
            spec.env.get("PATH").cloned().unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        )
        .env("PBS_JOBID", &jobid)
        .env("PBS_JOBNAME", &spec.name)
        .env("PBS_QUEUE", &spec.queue)
        .env("PBS_ENVIRONMENT", "PBS_BATCH")
        .env("PBS_NUM_NODES", "1")
        .env("PBS_NP", "1")
        .stdin(Stdio::null())
        .process_group(0);
    match (out, err) {
        (Ok(o), Ok(e)) => {
            cmd.stdout(o).stderr(e);
        }
        _ => {
            // Torque reports -1 ("job exec failed, before files") for this.
            let _ = write_atomic(&dir.join("start_time"), &format!("{:.3}", now_f64()));
            finish(Some(-1));
            return 0;
        }
    }
    if std::env::set_current_dir(&spec.work_dir).is_err() {
        let _ = write_atomic(&dir.join("start_time"), &format!("{:.3}", now_f64()));
        finish(Some(-1));
        return 0;
    }
    let started = std::time::Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(_) => {
            let _ = write_atomic(&dir.join("start_time"), &format!("{:.3}", now_f64()));
            finish(Some(-1));
            return 0;
        }
    };
    let _ = write_atomic(&dir.join("pid"), &child.id().to_string());
    let _ = write_atomic(&dir.join("start_time"), &format!("{:.3}", now_f64()));
    let pgid = rustix::process::Pid::from_raw(child.id() as i32);
    let mut over_limit = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        if let Some(w) = spec.walltime
            && !over_limit
            && started.elapsed() > Duration::from_secs(w)
        {
            over_limit = true;
            if let Some(p) = pgid {
                let _ = rustix::process::kill_process_group(p, rustix::process::Signal::TERM);
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    // The job's process group may have stragglers: end them with it.
    if let Some(p) = pgid {
        let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
    }
    let code = match status {
        _ if over_limit => -11,
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => i64::from(c),
            (None, Some(sig)) => 256 + i64::from(sig),
            _ => -1,
        },
        None => -1,
    };
    if np.1 > 0.0 {
        let _ = write_atomic(&dir.join("exiting"), "");
        std::thread::sleep(Duration::from_secs_f64(np.1.min(60.0)));
    }
    finish(Some(code));
    0
}

/// Prepare a stand-in home: `bin/` with the binary and its command links,
/// `spool/` writable by every user, and `config.json`. Used by the xtask
/// service and by tests.
pub fn install(home: &Path, binary: &Path, config: &Config) -> std::io::Result<PathBuf> {
    let bin = home.join("bin");
    fs::create_dir_all(&bin)?;
    let target = bin.join("torque-standin");
    let tmp = bin.join("torque-standin.tmp");
    fs::copy(binary, &tmp)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
    fs::rename(&tmp, &target)?;
    for cmd in ["qsub", "qstat", "qdel", "pbsnodes"] {
        let link = bin.join(cmd);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink("torque-standin", &link)?;
    }
    for d in ["spool", "spool/jobs", "spool/slots"] {
        let p = home.join(d);
        fs::create_dir_all(&p)?;
        // Sticky and world-writable, like /tmp: every user queues jobs, and
        // only a job's owner (or root) removes its directory.
        fs::set_permissions(&p, fs::Permissions::from_mode(0o1777))?;
    }
    let seq = home.join("spool/seq");
    if !seq.exists() {
        fs::write(&seq, "0")?;
    }
    fs::set_permissions(&seq, fs::Permissions::from_mode(0o666))?;
    for d in [home.to_path_buf(), bin.clone()] {
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755))?;
    }
    write_atomic(
        &home.join("config.json"),
        &serde_json::to_string_pretty(config).unwrap_or_default(),
    )?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walltimes() {
        assert_eq!(parse_walltime("10"), Some(10));
        assert_eq!(parse_walltime("1:30"), Some(90));
        assert_eq!(parse_walltime("01:00:05"), Some(3605));
        for bad in ["", "a", "1:2:3:4", "1::2", "-1"] {
            assert_eq!(parse_walltime(bad), None, "{bad}");
        }
        assert_eq!(hms(3605), "01:00:05");
    }

    #[test]
    fn directive_words() {
        assert_eq!(
            split_words(" -N  x -l 'walltime=1:00' \"a b\""),
            vec!["-N", "x", "-l", "walltime=1:00", "a b"]
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(xml_escape("a&b<c>\"d'e"), "a&amp;b&lt;c&gt;&quot;d&apos;e");
    }

    #[test]
    fn ids() {
        assert_eq!(Standin::seq_of("12.server.example"), Some(12));
        assert_eq!(Standin::seq_of("12"), Some(12));
        assert_eq!(Standin::seq_of("x12"), None);
        assert_eq!(Standin::seq_of(""), None);
    }
}
