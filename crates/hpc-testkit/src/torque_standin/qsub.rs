//! `qsub`: options from the command line and the script's `#PBS` lines,
//! the job's record, and its runner started in the background.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Standin;
use super::host::*;
use super::job::*;
use super::text::*;

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
    pub(super) fn qsub(&self, args: &[String]) -> i32 {
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
}
