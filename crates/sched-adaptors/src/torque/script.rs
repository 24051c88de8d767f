//! Building the `qsub` command line and the job script from a
//! [`JobDescription`]. Same split as for Grid Engine: options Torque parses
//! are argv words; environment values, program, arguments and redirections
//! are quoted inside the script (Torque's `-v` splits values at commas, and
//! `-o`/`-e` are staged back only when the job ends).

use hpc_core::{Error, JobDescription, Result};

use super::config::TorqueConfig;
use crate::batch::script;
use crate::batch::submit::Submission;

/// A job name Torque accepts: no whitespace or `/ : @`, printable ASCII, at most
/// 230 characters (older servers cut at 15); each other character becomes `_`.
pub(crate) fn job_name(name: &str) -> Option<String> {
    let out: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '/' | ':' | '@' | '\\') { c } else { '_' })
        .take(230)
        .collect();
    (!out.is_empty()).then_some(out)
}

fn unsupported(what: &str, hint: &str) -> Error {
    Error::InvalidJobDescription(format!("{what} is not supported by the torque adaptor{hint}"))
}

fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The `qsub` command (program first) and the script for its stdin.
pub(crate) fn plan(job: &JobDescription, settings: &TorqueConfig) -> Result<Submission> {
    job.validate()?;
    let mut args: Vec<String> =
        vec![settings.commands.qsub.clone(), "-S".into(), settings.shell.clone()];
    // Output goes through the script's redirections (written while the job
    // runs, not staged back at the end).
    args.extend(["-o", "/dev/null", "-e", "/dev/null"].map(String::from));
    if let Some(name) = job.name.as_deref().and_then(job_name) {
        args.extend(["-N".into(), name]);
    }
    if let Some(dir) = job.working_directory.as_ref().or(settings.default_workdir.as_ref()) {
        args.extend(["-d".into(), dir.to_string()]);
    }
    if let Some(q) = job.queue.as_ref().or(settings.default_queue.as_ref()) {
        args.extend(["-q".into(), q.clone()]);
    }
    let mut resources = Vec::new();
    if let Some(t) = job.max_runtime {
        let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
        resources.push(format!("walltime={}", hms(secs)));
    }
    let cores = job.cores_per_task.unwrap_or(1);
    let nodes = job.nodes.unwrap_or(1);
    let ppn = match (job.nodes, job.processes_per_node) {
        (Some(n), Some(p)) if n > 1 => p,
        _ => job.total_processes().div_ceil(nodes.max(1)),
    }
    .saturating_mul(cores);
    if nodes > 1 || ppn > 1 || job.gpus_per_node.is_some() || job.constraints.is_some() {
        let mut spec = format!("nodes={nodes}:ppn={ppn}");
        if let Some(g) = job.gpus_per_node {
            spec.push_str(&format!(":gpus={g}"));
        }
        if let Some(c) = &job.constraints {
            // Node properties: `:`-separated, as in `nodes=2:ppn=12:infiniband`.
            for p in c.split([',', '&', ':']).map(str::trim).filter(|p| !p.is_empty()) {
                if !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                    return Err(Error::InvalidJobDescription(format!(
                        "node property {p:?} is not a plain word"
                    )));
                }
                spec.push(':');
                spec.push_str(p);
            }
        }
        resources.push(spec);
    }
    if let Some(mb) = job.memory_mb {
        // Torque's `mem` is for the whole job; the description gives it per node.
        resources.push(format!("mem={}mb", mb.saturating_mul(u64::from(nodes))));
    }
    for r in resources {
        args.extend(["-l".into(), r]);
    }
    if job.exclusive {
        args.push("-n".into());
    }
    if let Some(a) = &job.account {
        args.extend(["-A".into(), a.clone()]);
    }
    if job.reservation.is_some() {
        return Err(unsupported(
            "reservation",
            " (pass `-W x=FLAGS:ADVRES:name` as a scheduler argument)",
        ));
    }
    if job.qos.is_some() {
        return Err(unsupported("qos", " (pass `-W x=QOS:name` as a scheduler argument)"));
    }
    if job.array.is_some() {
        return Err(unsupported("job arrays", ""));
    }
    args.extend(settings.qsub_args.iter().cloned());
    args.extend(job.scheduler_arguments.iter().cloned());
    Ok(Submission::new(args, script::body(job, &settings.shell)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn full_plan() {
        let mut job = JobDescription::new("/bin/echo")
            .args(["a b", "$x"])
            .name("my job/1")
            .working_directory("/tmp/we ird")
            .max_runtime(Duration::from_secs(3661))
            .env("V", "a,b")
            .stdout("o.txt");
        job.nodes = Some(2);
        job.processes_per_node = Some(4);
        job.cores_per_task = Some(2);
        job.memory_mb = Some(1000);
        job.constraints = Some("infiniband,avx2".into());
        job.account = Some("proj".into());
        let p = plan(&job, &TorqueConfig::default()).unwrap();
        assert_eq!(p.argv[0], "qsub");
        assert_eq!(
            p.argv[1..].join(" "),
            "-S /bin/sh -o /dev/null -e /dev/null -N my_job_1 -d /tmp/we ird -l walltime=01:01:01 \
             -l nodes=2:ppn=8:infiniband:avx2 -l mem=2000mb -A proj"
        );
        let script = String::from_utf8(p.script).unwrap();
        assert!(
            script.contains("export V=a,b\nexec /bin/echo 'a b' '$x' </dev/null >o.txt\n"),
            "{script}"
        );
    }

    #[test]
    fn rejections() {
        for job in [
            {
                let mut j = JobDescription::new("x");
                j.qos = Some("q".into());
                j
            },
            {
                let mut j = JobDescription::new("x");
                j.reservation = Some("r".into());
                j
            },
            JobDescription::new("x").array("1-2".parse().unwrap()),
            {
                let mut j = JobDescription::new("x");
                j.constraints = Some("a b;c".into());
                j
            },
        ] {
            assert!(
                matches!(
                    plan(&job, &TorqueConfig::default()),
                    Err(Error::InvalidJobDescription(_))
                ),
                "{job:?}"
            );
        }
        assert_eq!(job_name(""), None);
        assert_eq!(job_name("a b").as_deref(), Some("a_b"));
    }
}
