//! `qstat`: jobs (`-x` XML, `-f`), queues (`-Q`, `-Qf`) and the server (`-B`).

use std::collections::BTreeMap;
use std::path::Path;

use super::Standin;
use super::config::QueueConfig;
use super::host::*;
use super::job::*;
use super::text::*;

impl Standin {
    pub(super) fn qstat(&self, args: &[String]) -> i32 {
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

    pub(super) fn job_xml(&self, dir: &Path, spec: &JobSpec) -> String {
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

    pub(super) fn job_full(&self, dir: &Path, spec: &JobSpec) -> String {
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

    pub(super) fn queue_counts(&self) -> BTreeMap<String, BTreeMap<char, u32>> {
        let mut counts: BTreeMap<String, BTreeMap<char, u32>> = BTreeMap::new();
        for (_, dir, spec) in self.jobs() {
            *counts.entry(spec.queue.clone()).or_default().entry(job_state(&dir).0).or_default() +=
                1;
        }
        counts
    }

    pub(super) fn qstat_queues(&self, full: bool, names: &[String]) -> i32 {
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

    pub(super) fn qstat_server(&self, full: bool) -> i32 {
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
}
