//! Entry points for the fuzz targets of `crates/hpc-fuzz`: every parser of a
//! batch system's output, reachable from outside the crate without making
//! the parsers themselves public API. Not part of the stable interface.

use hpc_core::{JobDescription, JobId};

use crate::{at, batch, sge, slurm, ssh, torque};

const CMD: &str = "fuzz";

/// `sbatch`, `squeue`, `sacct`, `sinfo`, `scontrol` outputs (one text for all).
pub fn slurm_outputs(text: &str) {
    let id = JobId::new("1");
    let _ = slurm::parse::parse_sbatch(text);
    if let Ok(rows) = slurm::parse::parse_squeue(text) {
        let _ = slurm::parse::status_from_rows(&rows, &id);
        if let Some(row) = rows.first() {
            let _ = slurm::parse::status_from_rows(&rows, &JobId::new(row.job_id()));
        }
    }
    if let Ok(recs) = slurm::parse::parse_sacct(text) {
        let _ = slurm::parse::status_from_acct(&recs, &id);
        if let Some(rec) = recs.first() {
            let _ = slurm::parse::status_from_acct(&recs, &JobId::new(rec.job_id.clone()));
        }
    }
    if let Ok(mut queues) = slurm::parse::parse_sinfo(text) {
        let _ = slurm::parse::add_job_counts(&mut queues, text);
    }
    for line in text.lines() {
        if let Ok(map) = slurm::parse::parse_scontrol_line(line) {
            let _ = slurm::parse::status_from_scontrol(&map, &id);
        }
        let _ = slurm::parse::parse_mem(line);
        let _ = slurm::parse::split_exit_pair(line);
        let _ = slurm::parse::map_state(line);
        let _ = slurm::srun_stderr::is_exit_report(line.as_bytes());
    }
}

/// `qsub`, `qstat -xml`, `qstat -g c`-like summaries and `qacct` outputs of Grid Engine.
pub fn sge_outputs(text: &str) {
    let _ = sge::parse::parse_submit(CMD, text);
    if let Ok(entries) = sge::parse::parse_qstat(CMD, text) {
        for e in &entries {
            let _ = e.covers(Some(1));
            let _ = sge::parse::portable_state(&e.state);
        }
    }
    let _ = sge::parse::parse_queue_summary(CMD, text);
    let _ = sge::parse::parse_qacct(CMD, text);
    let _ = sge::parse::parse_qacct_batch(CMD, text);
    for line in text.lines() {
        let _ = sge::parse::SgeId::parse(line);
        if let Some(set) = sge::parse::TaskSet::parse(line) {
            let _ = set.contains(u32::MAX);
        }
    }
}

/// `qsub`, `qstat -x`, `qstat -Qf` and `qstat -Bf` outputs of Torque.
pub fn torque_outputs(text: &str) {
    let _ = torque::parse::parse_submit(CMD, text);
    let _ = torque::parse::parse_qstat(CMD, text);
    let _ = torque::parse::parse_full(CMD, text, "Server:");
    let _ = torque::parse::parse_queues(CMD, text);
    for line in text.lines() {
        let _ = torque::parse::seq_of(line);
        let _ = torque::parse::parse_hms(line);
    }
}

/// `atq` and the at adaptor's status program output.
pub fn at_outputs(text: &str) {
    let _ = at::parse::parse_atq(text);
    if let Ok((rows, recorded)) = at::parse::parse_status(text) {
        for row in &rows {
            let id = JobId::new(row.id.clone());
            let _ = at::parse::status_of(&id, &rows, recorded.get(&row.id));
        }
        for (id, rec) in &recorded {
            let _ = at::parse::status_of(&JobId::new(id.clone()), &rows, Some(rec));
        }
    }
}

/// The ssh adaptor's submit and status lines, and what every batch adaptor shares:
/// the chunked submit output, the XML reader, times and durations.
pub fn batch_outputs(text: &str) {
    for line in text.lines() {
        let _ = ssh::parse::status_line(CMD, line);
        let _ = ssh::parse::submit_line(CMD, line);
        let _ = batch::time::parse_utc(line);
        let _ = batch::time::parse_duration(line);
    }
    for count in [0, 1, 3] {
        let _ = batch::submit::parse(text.as_bytes(), count, CMD);
    }
    if let Err(e) = batch::xml::parse(text) {
        let _ = e.into_error(CMD, text);
    }
}

/// A job description (as a user wrote it) turned into the submission of every
/// batch adaptor: none may panic on what `validate` lets through.
pub fn job_submissions(job: &JobDescription) {
    if job.validate().is_err() {
        return;
    }
    let _ = job.total_processes();
    let _ = slurm::script::batch_submission(job, &slurm::SlurmConfig::default());
    let _ = slurm::script::interactive_argv(job, &slurm::SlurmConfig::default());
    let _ = sge::script::plan(job, &sge::SgeConfig::default());
    let _ = torque::script::plan(job, &torque::TorqueConfig::default());
    let _ = at::script::plan(job, &at::AtConfig::default());
    let _ = batch::script::body(job, "/bin/sh");
}
