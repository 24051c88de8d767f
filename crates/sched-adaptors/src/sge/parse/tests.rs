use proptest::prelude::*;

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sge/", $name))
    };
}

const QSTAT: &str = "qstat -xml";

#[test]
fn ids() {
    assert_eq!(SgeId::parse("42"), Some(SgeId { job: 42, task: None }));
    assert_eq!(SgeId::parse("42.7"), Some(SgeId { job: 42, task: Some(7) }));
    for bad in [
        "",
        "0",
        "x",
        "4 2",
        "42.",
        ".7",
        "42.0",
        "42.7.1",
        "-3",
        "+3",
        "99999999999999999999",
        "１",
    ] {
        assert_eq!(SgeId::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn submit_output() {
    assert_eq!(parse_submit("qsub", "2\n").unwrap().as_str(), "2");
    assert_eq!(parse_submit("qsub", "3.1-3:1\n").unwrap().as_str(), "3");
    assert_eq!(parse_submit("qsub", "site notice\n\n5\n\n").unwrap().as_str(), "5");
    for bad in ["", "\n", "Your job 1 (\"x\") has been submitted\n", "abc", "0"] {
        let e = parse_submit("qsub -terse", bad).unwrap_err();
        assert!(matches!(e, Error::Parse { .. }), "{bad:?}: {e}");
    }
}

#[test]
fn task_sets() {
    let t = TaskSet::parse("1,3,6-20:2").unwrap();
    for (task, inside) in
        [(1, true), (2, false), (3, true), (6, true), (7, false), (20, true), (22, false)]
    {
        assert_eq!(t.contains(task), inside, "{task}");
    }
    for bad in ["", "a", "3-1", "1-4:0", "1-", "1,,2"] {
        assert_eq!(TaskSet::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn empty_qstat() {
    assert!(parse_qstat(QSTAT, fixture!("qstat-empty.xml")).unwrap().is_empty());
}

#[test]
fn running_pending_arrays_and_pe() {
    let e = parse_qstat(QSTAT, fixture!("qstat-running-pending.xml")).unwrap();
    assert_eq!(e.len(), 6);
    // Three running tasks of array job 3, each its own entry.
    let arr: Vec<_> = e.iter().filter(|e| e.job == 3).collect();
    assert_eq!(arr.len(), 3);
    assert!(arr.iter().all(|e| e.list == ListKind::Running && e.state == "r"));
    assert!(arr[1].covers(Some(2)) && !arr[1].covers(Some(1)));
    assert_eq!(arr[0].queue.as_deref(), Some("all.q"));
    assert_eq!(arr[0].queue_instance.as_deref(), Some("all.q@localhost"));
    let pe = e.iter().find(|e| e.job == 5).unwrap();
    assert_eq!((pe.name.as_str(), pe.slots, pe.tasks.as_ref()), ("pejob", Some(2), None));
    let held = e.iter().find(|e| e.job == 2).unwrap();
    assert_eq!(
        (held.state.as_str(), &held.list, held.queue.as_ref()),
        ("hqw", &ListKind::Pending, None)
    );
    assert_eq!(held.time.as_deref(), Some("2026-11-27T13:21:57"));
    let held_array = e.iter().find(|e| e.job == 4).unwrap();
    assert!(held_array.covers(Some(4)) && !held_array.covers(Some(5)));
}

#[test]
fn names_are_unescaped() {
    let e = parse_qstat(QSTAT, fixture!("qstat-names.xml")).unwrap();
    let names: Vec<&str> = e.iter().map(|e| e.name.as_str()).collect();
    for n in ["a&b", "a\"b", "a'b", "a$b", "a`b`", "a|b", "a;b", "-x"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    // Grid Engine 8.1.9 escapes `<` as `%lt;` (sic): kept verbatim, never misread.
    assert!(names.contains(&"a%lt;b>"), "{names:?}");
}

#[test]
fn deleting_suspended_error_and_zombie_states() {
    let e = parse_qstat(QSTAT, fixture!("qstat-deleting.xml")).unwrap();
    assert!(e.iter().any(|e| e.state == "dr"));
    let e = parse_qstat(QSTAT, fixture!("qstat-states-zombies.xml")).unwrap();
    let state = |job: u64| e.iter().find(|e| e.job == job).map(|e| e.state.as_str());
    assert_eq!(state(41), Some("s"));
    assert_eq!(state(39), Some("Eqw"));
    assert_eq!(state(40), Some("qw"));
    let zombies = e.iter().filter(|e| e.list == ListKind::Zombie).count();
    assert!(zombies >= 20, "{zombies}");
    assert!(e.iter().filter(|e| e.list == ListKind::Zombie).all(|e| e.state == "z"));
}

#[test]
fn partly_running_array() {
    let e = parse_qstat(QSTAT, fixture!("qstat-array-partly-running.xml")).unwrap();
    let pending = e.iter().find(|e| e.list == ListKind::Pending).unwrap();
    assert!(pending.covers(Some(6)) && pending.covers(Some(20)) && !pending.covers(Some(5)));
    assert_eq!(e.iter().filter(|e| e.list == ListKind::Running).count(), 5);
}

#[test]
fn state_letters() {
    for (letters, want) in [
        ("qw", JobState::Pending),
        ("hqw", JobState::Pending),
        ("hRwq", JobState::Pending),
        ("t", JobState::Running),
        ("r", JobState::Running),
        ("Rr", JobState::Running),
        ("dr", JobState::Running),
        ("dt", JobState::Running),
        ("s", JobState::Suspended),
        ("S", JobState::Suspended),
        ("Tr", JobState::Suspended),
        ("Eqw", JobState::Failed),
        ("dEqw", JobState::Failed),
        ("z", JobState::Unknown),
        ("x", JobState::Unknown),
    ] {
        assert_eq!(portable_state(letters), want, "{letters}");
    }
}

#[test]
fn queue_summary() {
    let q = parse_queue_summary("qstat -g c -xml", fixture!("qstat-g-c.xml")).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].name, "all.q");
    assert_eq!(q[0].state.as_deref(), Some("enabled"));
    assert_eq!(q[0].info.get("total").map(String::as_str), Some("16"));
    assert_eq!(q[0].info.get("available").map(String::as_str), Some("16"));
}

#[test]
fn garbage_and_truncation_are_parse_errors_with_the_fragment() {
    let full = fixture!("qstat-running-pending.xml");
    for (bad, needle) in [
        ("", ""),
        ("error: commlib error: got select error (Connection refused)\n", "commlib"),
        (&full[..full.len() / 2], "<"),
        ("<?xml version='1.0'?>\n<other/>\n", "<other/>"),
        ("<job_info><job_list state=\"running\"><state>r</state></job_list></job_info>", "<state>"),
        (
            "<job_info><job_list><JB_job_number>x</JB_job_number><state>r</state></job_list></job_info>",
            "JB_job_number",
        ),
        (
            "<job_info><job_list><JB_job_number>1</JB_job_number><state>r1</state></job_list></job_info>",
            "state",
        ),
        (
            "<job_info><job_list><JB_job_number>1</JB_job_number><state>r</state><tasks>4-1</tasks></job_list></job_info>",
            "tasks",
        ),
    ] {
        match parse_qstat(QSTAT, bad).unwrap_err() {
            Error::Parse { command, line, .. } => {
                assert_eq!(command, QSTAT);
                assert!(line.contains(needle), "{line:?} lacks {needle:?}");
            }
            e => panic!("{e}"),
        }
    }
}

#[test]
fn accounting_records() {
    let r = parse_qacct("qacct -j 37", fixture!("qacct-exit3.txt")).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].job, r[0].task, r[0].failed, r[0].exit_status), (37, None, 0, 3));
    assert_eq!(r[0].fields.get("jobname").map(String::as_str), Some("e3"));
    let (wall, cpu) = r[0].usage();
    assert!(wall.is_some() && cpu.is_some());

    let r = parse_qacct("qacct -j 5", fixture!("qacct-qdel-running-pe.txt")).unwrap();
    assert_eq!(
        (r[0].failed, r[0].failed_reason.as_str(), r[0].exit_status),
        (100, "assumedly after job", 137)
    );
    assert_eq!(r[0].fields.get("granted_pe").map(String::as_str), Some("smp"));
    assert_eq!(r[0].usage().0, Some(Duration::from_secs(22)));

    let r = parse_qacct("qacct -j 3", fixture!("qacct-array.txt")).unwrap();
    assert_eq!(r.iter().map(|r| r.task).collect::<Vec<_>>(), vec![Some(1), Some(2), Some(3)]);

    let r = parse_qacct("qacct -j 39", fixture!("qacct-bad-workdir.txt")).unwrap();
    assert_eq!(
        (r[0].failed, r[0].failed_reason.as_str(), r[0].exit_status),
        (28, "changing into working directory", 0)
    );

    let r = parse_qacct("qacct -j 38", fixture!("qacct-self-sigkill.txt")).unwrap();
    assert_eq!((r[0].failed, r[0].exit_status), (100, 137));
}

#[test]
fn bad_accounting_records() {
    let sep = RECORD_SEPARATOR;
    for bad in [
        "jobnumber 3\n".to_owned(),
        format!("{sep}\njobnumber x\nfailed 0\nexit_status 0\n"),
        format!("{sep}\njobnumber 3\nfailed 0\n"),
        format!("{sep}\njobnumber 3\nfailed none\nexit_status 0\n"),
        format!("{sep}\njobnumber 3\ntaskid seven\nfailed 0\nexit_status 0\n"),
        format!("{sep}\n!!! 3\n"),
    ] {
        assert!(matches!(parse_qacct("qacct", &bad), Err(Error::Parse { .. })), "{bad}");
    }
}

fn batch(sections: &[(u64, &str, i32)]) -> String {
    sections
        .iter()
        .map(|(id, body, rc)| format!("\n{QACCT_BEGIN}{id}\n{body}{QACCT_END}{rc}\n"))
        .collect()
}

#[test]
fn batched_accounting() {
    let out = batch(&[
        (37, fixture!("qacct-exit3.txt"), 0),
        (99999, "error: job id 99999 not found\n", 1),
        (
            7,
            "/var/lib/gridengine/default/common/accounting: No such file or directory\nno jobs running since startup\n",
            1,
        ),
        (3, fixture!("qacct-array.txt"), 0),
    ]);
    let m = parse_qacct_batch("sh -c qacct", &out).unwrap();
    assert!(matches!(&m[&37], AcctLookup::Found(r) if r[0].exit_status == 3));
    assert_eq!(m[&99999], AcctLookup::Missing);
    assert_eq!(m[&7], AcctLookup::Missing);
    assert!(matches!(&m[&3], AcctLookup::Found(r) if r.len() == 3));

    let e = parse_qacct_batch(
        "q",
        &batch(&[(5, "error: can't open accounting file: Permission denied\n", 1)]),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::CommandFailed { stderr, .. } if stderr.contains("Permission denied")),
        "{e}"
    );
    // A record that belongs to another job is not taken.
    assert!(parse_qacct_batch("q", &batch(&[(38, fixture!("qacct-exit3.txt"), 0)])).is_err());
    // Truncated output.
    let cut = batch(&[(37, fixture!("qacct-exit3.txt"), 0)]);
    assert!(parse_qacct_batch("q", &cut[..cut.len() / 2]).is_err());
    assert!(parse_qacct_batch("q", "bash: qacct: command not found\n").is_err());
}

proptest! {
    #[test]
    fn qstat_never_panics(out in ".{0,400}") {
        let _ = parse_qstat(QSTAT, &out);
        let _ = parse_queue_summary(QSTAT, &out);
    }

    #[test]
    fn accounting_never_panics(out in "(=|[a-z_]{1,8}| |[0-9]|\n|#hpckit-(qacct|rc) ){0,80}") {
        let _ = parse_qacct("qacct", &out);
        let _ = parse_qacct_batch("qacct", &out);
    }

    /// A qstat output cut anywhere either fails to parse or is the whole
    /// document: a truncated listing never passes for "fewer jobs".
    #[test]
    fn truncated_qstat_is_never_a_shorter_listing(cut in 0usize..2400) {
        let full = fixture!("qstat-running-pending.xml");
        let cut = cut.min(full.len());
        if let Ok(entries) = parse_qstat(QSTAT, &full[..cut]) {
            prop_assert_eq!(entries.len(), 6);
        }
    }

    /// One byte of the output changed: no panic, and if it still parses,
    /// no job number appears that was not there.
    #[test]
    fn corrupted_qstat(pos in 0usize..2316, byte in proptest::char::range(' ', '~')) {
        let full = fixture!("qstat-running-pending.xml");
        let pos = pos.min(full.len() - 1);
        let mut s = full.to_owned();
        s.replace_range(pos..pos + 1, &byte.to_string());
        if let Ok(entries) = parse_qstat(QSTAT, &s) {
            prop_assert!(entries.len() <= 6);
        }
    }
}

#[test]
fn qdel_says_what_became_of_each_job() {
    let text = "hpctest has registered the job 12 for deletion\n\
                hpctest has deleted job 1\n\
                denied: job \"123\" does not exist\n\
                something else about job 7\n";
    let o = qdel_outcomes(text);
    assert_eq!(o.len(), 3, "{o:?}");
    assert_eq!(o[&12], QdelOutcome::Registered);
    assert_eq!(o[&1], QdelOutcome::Deleted);
    assert_eq!(o[&123], QdelOutcome::Missing);
}

/// Found by the `sge_outputs` fuzz target: the record quoted in an error was
/// cut at byte 300, inside a multi-byte character.
#[test]
fn a_bad_record_with_long_multibyte_fields_is_an_error_not_a_panic() {
    let text = format!("{RECORD_SEPARATOR}\nexit_status x\nqname {}\n", "\u{e9}".repeat(200));
    let e = parse_qacct("qacct -j 1", &text).unwrap_err();
    assert!(matches!(e, Error::Parse { .. }), "{e}");
}
