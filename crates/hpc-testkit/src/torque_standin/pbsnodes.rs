//! `pbsnodes`: the one node (this host).

use super::Standin;
use super::host::*;
use super::job::*;

impl Standin {
    pub(super) fn pbsnodes(&self, _args: &[String]) -> i32 {
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
