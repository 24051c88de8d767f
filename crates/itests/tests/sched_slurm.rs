//! The Slurm adaptor against the real Slurm 22.05 clusters of
//! `cargo xtask services up slurm slurm-acct`: one without accounting
//! (squeue/scontrol path) and one with slurmdbd (sacct path). Jobs are
//! submitted as the ordinary test user: locally through
//! `LocalExecutor::as_user`, and over SSH as that user (see `sched_slurm_ssh.rs`).

#[path = "slurm_fixture/mod.rs"]
mod slurm_fixture;

use slurm_fixture::Fixture;

async fn local(service: &str) -> Fixture {
    Fixture::local(service)
}

slurm_fixture::cases::suite!(plain, "slurm", crate::local);
slurm_fixture::cases::suite!(acct, "slurm-acct", crate::local);

/// slurmctld down (here: a copy of the cluster's configuration whose
/// controller port nobody listens on): the real commands' complaint is a
/// temporary error of the slurm service, which a wait's poll loop rides out,
/// not a failed command.
#[tokio::test]
async fn a_controller_that_does_not_answer_is_a_temporary_error() {
    use std::sync::Arc;

    use hpc_core::{Error, JobDescription, Scheduler};
    use hpc_exec::LocalExecutor;
    use hpc_testkit::scratch::ScratchDir;
    use sched_adaptors::slurm::{SlurmConfig, SlurmScheduler};

    let conf = std::path::PathBuf::from(slurm_fixture::service_var("slurm", "HPCKIT_SLURM_CONF"));
    let copy = ScratchDir::new("hpckit-itest-slurm-down", None);
    // Slurm reads cgroup.conf and the like beside slurm.conf.
    for entry in std::fs::read_dir(conf.parent().unwrap()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
    }
    let dead_port =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = std::fs::read_to_string(&conf).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim_start().to_ascii_lowercase().starts_with("slurmctldport"))
        .map(str::to_owned)
        .collect();
    lines.push(format!("SlurmctldPort={dead_port}"));
    let copied_conf = copy.join(conf.file_name().unwrap());
    std::fs::write(&copied_conf, lines.join("\n") + "\n").unwrap();

    let user = slurm_fixture::service_var("slurm", "HPCKIT_SLURM_USER");
    let (uid, gid) = slurm_fixture::user_ids(&user);
    let mut config = SlurmConfig::default();
    config.env.insert("SLURM_CONF".into(), copied_conf.to_string_lossy().into_owned());
    let sched = SlurmScheduler::new(Arc::new(LocalExecutor::as_user(uid, gid)), config).unwrap();

    let queues = sched.queue_names().await.unwrap_err();
    let submit = sched.submit_batch(&JobDescription::new("/bin/true")).await.unwrap_err();
    for e in [queues, submit] {
        assert!(matches!(&e, Error::Remote { service, .. } if service == "slurm"), "{e:?}");
        assert!(e.is_retryable(), "{e:?}");
        assert!(e.to_string().contains("the controller did not answer"), "{e}");
    }
}
