//! `qdel`: signal a running job, forget a queued one.

use super::Standin;
use super::host::*;
use super::job::*;

impl Standin {
    pub(super) fn qdel(&self, args: &[String]) -> i32 {
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
}
