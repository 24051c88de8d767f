//! Building the `qsub` command line and the job script from a
//! [`JobDescription`].
//!
//! Values travel in two ways, each chosen because it survives any byte:
//! * options Grid Engine parses itself (`-N`, `-wd`, `-q`, `-l`, `-pe`...) are
//!   separate argv words; hpc-exec quotes each one for the remote shell;
//! * environment values, the program, its arguments and the stdin/stdout/stderr
//!   paths go into the script, each quoted with [`quote_str`]. Grid Engine
//!   cannot carry them safely itself: `-v` splits values at commas, and
//!   `-o`/`-e`/`-i` split at commas and read `host:` prefixes.

use hpc_core::{Error, JobDescription, Result};

use super::config::SgeConfig;
use crate::batch::script;
use crate::batch::submit::Submission;

/// A job name Grid Engine accepts: it rejects whitespace, `/ : @ \ * ?`,
/// non-ASCII, a leading digit and the keywords `ALL`/`NONE`/`TEMPLATE`, and
/// prints `<` back as `%lt;`. Each such character becomes `_`.
pub(crate) fn job_name(name: &str) -> Option<String> {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '/' | ':' | '@' | '\\' | '*' | '?' | '<') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if matches!(out.as_str(), "ALL" | "NONE" | "TEMPLATE") {
        out.push('_');
    }
    Some(out)
}

fn unsupported(what: &str, hint: &str) -> Error {
    Error::InvalidJobDescription(format!("{what} is not supported by Grid Engine{hint}"))
}

/// `HH:MM:SS` for `-l h_rt`.
fn hms(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Whether the user's own scheduler arguments already request `opt`.
fn user_has(job: &JobDescription, opt: &str) -> bool {
    job.scheduler_arguments.iter().any(|a| a == opt)
}

/// The `qsub` command (program first) and the script for its stdin.
pub(crate) fn plan(job: &JobDescription, settings: &SgeConfig) -> Result<Submission> {
    job.validate()?;
    let mut args: Vec<String> =
        vec![settings.commands.qsub.clone(), "-terse".into(), "-S".into(), settings.shell.clone()];
    // Output goes through the script's redirections; without these Grid
    // Engine would drop `NAME.oID` files into the home directory.
    args.extend(["-o", "/dev/null", "-e", "/dev/null"].map(String::from));
    if let Some(name) = job.name.as_deref().and_then(job_name) {
        args.extend(["-N".into(), name]);
    }
    if let Some(dir) = job.working_directory.as_ref().or(settings.default_workdir.as_ref()) {
        args.extend(["-wd".into(), dir.to_string()]);
    }
    if let Some(q) = &job.queue {
        args.extend(["-q".into(), q.clone()]);
    }
    if let Some(t) = job.max_runtime {
        // Round up: a limit of 0.5 s must not become "no limit".
        let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
        args.extend(["-l".into(), format!("h_rt={}", hms(secs))]);
    }
    let cores = job.cores_per_task.unwrap_or(1);
    let slots = job.total_processes().saturating_mul(cores);
    let multi_node = job.nodes.is_some_and(|n| n > 1);
    if (slots > 1 || multi_node) && !user_has(job, "-pe") {
        let pe = settings.parallel_environment.as_ref().ok_or_else(|| {
            Error::InvalidJobDescription(format!(
                "a job with {slots} slots needs a parallel environment: set `parallel_environment` in the sge settings or pass `-pe NAME N` as a scheduler argument"
            ))
        })?;
        args.extend(["-pe".into(), pe.clone(), slots.to_string()]);
    }
    if let Some(mb) = job.memory_mb {
        let resource = settings.memory_resource.as_ref().ok_or_else(|| {
            unsupported("memory_mb", " without `memory_resource` in the sge settings")
        })?;
        // Grid Engine counts memory per slot; the description gives it per node.
        let per_node_slots = match (job.nodes, job.processes_per_node) {
            (Some(n), _) if n > 1 => job.processes_per_node.unwrap_or(1).saturating_mul(cores),
            _ => slots,
        }
        .max(1);
        let per_slot = mb.div_ceil(u64::from(per_node_slots));
        args.extend(["-l".into(), format!("{resource}={per_slot}M")]);
    }
    if let Some(g) = job.gpus_per_node {
        let resource = settings.gpu_resource.as_ref().ok_or_else(|| {
            unsupported("gpus_per_node", " without `gpu_resource` in the sge settings")
        })?;
        args.extend(["-l".into(), format!("{resource}={g}")]);
    }
    if job.exclusive {
        let resource = settings.exclusive_resource.as_ref().ok_or_else(|| {
            unsupported("exclusive", " without `exclusive_resource` in the sge settings")
        })?;
        args.extend(["-l".into(), format!("{resource}=true")]);
    }
    if let Some(a) = &job.account {
        args.extend(["-A".into(), a.clone()]);
    }
    if let Some(r) = &job.reservation {
        args.extend(["-ar".into(), r.clone()]);
    }
    if job.qos.is_some() {
        return Err(unsupported("qos", " (use scheduler arguments such as -P PROJECT)"));
    }
    if job.constraints.is_some() {
        return Err(unsupported("constraints", " (use scheduler arguments such as -l arch=...)"));
    }
    if let Some(a) = &job.array {
        if a.start == 0 {
            return Err(Error::InvalidJobDescription(
                "Grid Engine array task ids start at 1".into(),
            ));
        }
        args.extend(["-t".into(), format!("{}-{}:{}", a.start, a.end, a.step)]);
        if let Some(m) = a.max_concurrent {
            args.extend(["-tc".into(), m.to_string()]);
        }
    }
    args.extend(settings.qsub_args.iter().cloned());
    args.extend(job.scheduler_arguments.iter().cloned());
    Ok(Submission::new(args, script::body(job, &settings.shell)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hpc_core::ArraySpec;

    use super::*;

    fn settings() -> SgeConfig {
        SgeConfig { parallel_environment: Some("smp".into()), ..SgeConfig::default() }
    }

    #[test]
    fn names() {
        for (given, want) in [
            ("plain", Some("plain")),
            ("a b", Some("a_b")),
            ("a&b\"c'd$e`f`|g", Some("a&b\"c'd$e`f`|g")),
            ("x/y:z@w\\v*u?t<s>", Some("x_y_z_w_v_u_t_s>")),
            ("1abc", Some("_1abc")),
            ("ALL", Some("ALL_")),
            ("é\tx\n", Some("__x_")),
            ("", None),
        ] {
            assert_eq!(job_name(given).as_deref(), want, "{given:?}");
        }
    }

    #[test]
    fn full_plan() {
        let mut job = JobDescription::new("/bin/echo")
            .args(["a b", "it's", "$HOME", "`id`"])
            .name("my job")
            .working_directory("/tmp/we ird,dir:x")
            .queue("all.q")
            .max_runtime(Duration::from_millis(3_661_500))
            .env("V", "a,b 'c' $d")
            .stdout("out,file")
            .stderr("out,file");
        job.processes = Some(4);
        job.memory_mb = Some(1000);
        job.account = Some("proj".into());
        job.scheduler_arguments = vec!["-p".into(), "-5".into()];
        let mut s = settings();
        s.memory_resource = Some("h_vmem".into());
        s.qsub_args = vec!["-m".into(), "n".into()];
        let p = plan(&job, &s).unwrap();
        assert_eq!(p.argv[0], "qsub");
        assert_eq!(
            p.argv[1..].join(" "),
            "-terse -S /bin/sh -o /dev/null -e /dev/null -N my_job -wd /tmp/we ird,dir:x -q all.q \
             -l h_rt=1:01:02 -pe smp 4 -l h_vmem=250M -A proj -m n -p -5"
        );
        assert_eq!(
            String::from_utf8(p.script).unwrap(),
            "#!/bin/sh\n# job script generated by hpckit\nexport V='a,b '\\''c'\\'' $d'\n\
             exec /bin/echo 'a b' 'it'\\''s' '$HOME' '`id`' </dev/null >out,file 2>&1\n"
        );
    }

    #[test]
    fn arrays_and_rejections() {
        let job = JobDescription::new("true").array("2-8:3%2".parse().unwrap());
        let p = plan(&job, &settings()).unwrap();
        assert!(p.argv.join(" ").ends_with("-t 2-8:3 -tc 2"), "{:?}", p.argv);
        let zero = JobDescription::new("true").array(ArraySpec::range(0, 3));
        assert!(matches!(plan(&zero, &settings()), Err(Error::InvalidJobDescription(_))));

        let mut multi = JobDescription::new("true");
        multi.cores_per_task = Some(2);
        let e = plan(&multi, &SgeConfig::default()).unwrap_err();
        assert!(e.to_string().contains("parallel environment"), "{e}");
        multi.scheduler_arguments = vec!["-pe".into(), "mpi".into(), "2".into()];
        assert!(!plan(&multi, &SgeConfig::default()).unwrap().argv.contains(&"smp".to_string()));

        for job in [
            {
                let mut j = JobDescription::new("x");
                j.qos = Some("high".into());
                j
            },
            {
                let mut j = JobDescription::new("x");
                j.constraints = Some("avx".into());
                j
            },
            {
                let mut j = JobDescription::new("x");
                j.gpus_per_node = Some(1);
                j
            },
            {
                let mut j = JobDescription::new("x");
                j.exclusive = true;
                j
            },
            {
                let mut j = JobDescription::new("x");
                j.memory_mb = Some(1);
                j
            },
            JobDescription::new(""),
        ] {
            assert!(
                matches!(plan(&job, &settings()), Err(Error::InvalidJobDescription(_))),
                "{job:?}"
            );
        }
    }
}
