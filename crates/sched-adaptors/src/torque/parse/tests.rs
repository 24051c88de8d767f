use hpc_core::{JobState, JobStatus};
use proptest::prelude::*;

use super::*;
use crate::torque::backend::job_status;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/torque/", $name))
    };
}

const Q: &str = "qstat -x";

#[test]
fn sequence_numbers() {
    for (id, seq) in [
        ("8921165.batch1.lisa.example.org", Some(8921165)),
        ("12", Some(12)),
        ("12[].server", Some(12)),
        ("12[3].server", Some(12)),
        ("x12", None),
        ("", None),
        ("12 .s", None),
        ("12abc", None),
        ("99999999999999999999999", None),
    ] {
        assert_eq!(seq_of(id), seq, "{id}");
    }
}

#[test]
fn submit_output() {
    assert_eq!(
        parse_submit("qsub", "4711.hpc-head.example.org\n").unwrap().as_str(),
        "4711.hpc-head.example.org"
    );
    assert_eq!(
        parse_submit("qsub", "Note: site policy\n\n12[].srv\n").unwrap().as_str(),
        "12[].srv"
    );
    for bad in ["", "qsub: submit error (Unknown queue)", "job submitted"] {
        assert!(matches!(parse_submit("qsub", bad), Err(Error::Parse { .. })), "{bad}");
    }
}

#[test]
fn both_empty_forms() {
    assert!(parse_qstat(Q, "").unwrap().is_empty());
    assert!(parse_qstat(Q, "\n").unwrap().is_empty());
    assert!(parse_qstat(Q, fixture!("qstat-x-6.1-empty.xml")).unwrap().is_empty());
    assert!(parse_qstat(Q, "<Data/>").unwrap().is_empty());
}

#[test]
fn one_line_61_with_every_state() {
    let jobs = parse_qstat(Q, fixture!("qstat-x-6.1-oneline.xml")).unwrap();
    let states: String = jobs.iter().map(|j| j.state).collect();
    assert_eq!(states, "QRECCCC");
    assert_eq!(jobs[0].name.as_deref(), Some("prep&run"));
    assert_eq!(jobs[1].name.as_deref(), Some("sim<3>"));
    assert_eq!(jobs[2].name.as_deref(), Some("it's"));
    assert_eq!(jobs[0].fields.get("Resource_List.nodes").map(String::as_str), Some("1:ppn=4"));
    assert_eq!(jobs[1].fields.get("Walltime.Remaining").map(String::as_str), Some("35699"));
    let exits: Vec<Option<i32>> = jobs.iter().map(|j| j.exit_status).collect();
    assert_eq!(exits, [None, None, None, Some(0), Some(271), Some(3), Some(-11)]);

    let st: Vec<JobStatus> =
        jobs.iter().map(|j| job_status(&JobId::new(j.id.clone()), j, false)).collect();
    let portable: Vec<JobState> = st.iter().map(|s| s.state).collect();
    use JobState::*;
    assert_eq!(portable, [Pending, Running, Running, Completed, Failed, Failed, Failed]);
    assert_eq!((st[4].exit_code, st[4].signal), (Some(271), Some(15)));
    assert_eq!(st[5].exit_code, Some(3));
    assert!(st[6].error.as_deref().unwrap().contains("walltime"), "{:?}", st[6]);
    assert_eq!(st[1].usage.as_ref().unwrap().elapsed, Some(Duration::from_secs(301)));
    // Deleted through this client: the signal means cancelled.
    let cancelled = job_status(&JobId::new("4715"), &jobs[4], true);
    assert_eq!(cancelled.state, Cancelled);
}

#[test]
fn pretty_printed_60() {
    let jobs = parse_qstat(Q, fixture!("qstat-x-6.0-pretty.xml")).unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!((jobs[0].seq, jobs[0].state), (8921165, 'Q'));
    assert_eq!(jobs[0].fields.get("Resource_List.walltime").map(String::as_str), Some("50:00:00"));
    assert_eq!(jobs[1].fields.get("resources_used.walltime").map(String::as_str), Some("76:01:56"));
    assert_eq!(jobs[1].queue.as_deref(), Some("parallel"));
}

#[test]
fn garbage_and_truncation() {
    let full = fixture!("qstat-x-6.1-oneline.xml");
    for bad in [
        &full[..full.len() / 2],
        "qstat: cannot connect to server hpc-head (errno=111) Connection refused",
        "<Data><Job><Job_Name>x</Job_Name><job_state>R</job_state></Job></Data>",
        "<Data><Job><Job_Id>1.s</Job_Id><job_state>RR</job_state></Job></Data>",
        "<Data><Job><Job_Id>1.s</Job_Id><job_state>Z</job_state></Job></Data>",
        "<Data><Job><Job_Id>1.s</Job_Id><job_state>C</job_state><exit_status>x</exit_status></Job></Data>",
        "<Other/>",
    ] {
        match parse_qstat(Q, bad) {
            Err(Error::Parse { command, line, .. }) => {
                assert_eq!(command, Q);
                assert!(!line.is_empty(), "{bad}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn queue_and_server_listings() {
    let q = parse_queues("qstat -Qf", fixture!("qstat-Qf.txt")).unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(
        (q[0].name.as_str(), q[0].pending_jobs, q[0].running_jobs),
        ("batch", Some(1), Some(2))
    );
    assert!(q[0].info["acl_users"].ends_with("niaj,oscar,peggy"), "{:?}", q[0].info);
    assert_eq!(q[1].state.as_deref(), Some("disabled"));
    assert_eq!(q[1].max_runtime, Some(Duration::from_secs(3600)));
    let s = parse_full("qstat -Bf", fixture!("qstat-Bf.txt"), "Server:").unwrap();
    assert_eq!(s[0].1["default_queue"], "batch");
    assert!(parse_full("qstat -Qf", "    enabled = True\n", "Queue:").is_err());
    assert!(parse_full("qstat -Qf", "Queue: a\n    nonsense\n", "Queue:").is_err());
    assert!(parse_queues("qstat -Qf", "Queue: a\n    state_count = Queued:x\n").is_err());
}

proptest! {
    #[test]
    fn never_panics(out in ".{0,300}") {
        let _ = parse_qstat(Q, &out);
        let _ = parse_queues(Q, &out);
        let _ = parse_submit(Q, &out);
    }

    #[test]
    fn truncated_listing_is_never_shorter(cut in 0usize..3200) {
        let full = fixture!("qstat-x-6.1-oneline.xml");
        let cut = cut.min(full.len());
        if let Ok(jobs) = parse_qstat(Q, &full[..cut]) {
            // Only the empty prefix or the whole document parse.
            prop_assert!(jobs.is_empty() || jobs.len() == 7);
            prop_assert!(!jobs.is_empty() || full[..cut].trim().is_empty() || full[..cut].trim() == "<?xml version=\"1.0\"?>");
        }
    }
}

/// Found by the `torque_outputs` fuzz target: state counts whose sum passes
/// u32::MAX overflowed (a panic in debug builds).
#[test]
fn huge_state_counts_saturate() {
    let out = "Queue: batch\n    state_count = Transit:4294967295 Queued:1 Running:7 Exiting:1\n";
    let q = &parse_queues("qstat -Qf", out).unwrap()[0];
    assert_eq!((q.pending_jobs, q.running_jobs), (Some(u32::MAX), Some(8)));
}
