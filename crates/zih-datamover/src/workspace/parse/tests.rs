use super::*;

fn data(name: &str) -> String {
    let p = format!("{}/testdata/ws_list/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn t(text: &str) -> Option<WsTime> {
    Some(WsTime::parse_ctime(text).unwrap())
}

const H: u64 = 3600;

#[test]
fn v1_blocks_as_zih_printed_them() {
    let ws = parse_ws_list(&data("v1.txt"), false).unwrap();
    assert_eq!(ws.len(), 2);
    assert_eq!(ws[0].id, "my-workspace");
    assert_eq!(ws[0].directory, "/scratch/ws/0/username-my-workspace");
    assert_eq!(ws[0].remaining, Remaining::Left(Duration::from_secs(23 * H)));
    assert_eq!(ws[0].creation, t("Wed Aug 10 13:16:25 2022"));
    assert_eq!(ws[0].expiration, t("Thu Aug 11 13:16:25 2022"));
    assert_eq!(ws[0].filesystem.as_deref(), Some("scratch"));
    assert_eq!(ws[0].extensions, Some(10));
    assert_eq!(ws[0].comment, None);
    assert_eq!(ws[1].comment.as_deref(), Some("raw data: run 7"));
    assert_eq!(ws[1].group.as_deref(), Some("p_lab"));
    assert_eq!(ws[1].remaining.duration(), Duration::from_secs((29 * 24 + 4) * H));
    assert_eq!(ws[1].creation, t("Mon Jan  2 08:00:00 2023"));
}

#[test]
fn v1_verbose_and_terse() {
    let ws = parse_ws_list(&data("v1-verbose.txt"), false).unwrap();
    assert_eq!(ws[0].remaining, Remaining::Expired);
    assert_eq!(ws[0].acctcode.as_deref(), Some("p_lab"));
    assert_eq!(ws[0].reminder, t("Wed Aug 10 13:16:25 2022"));
    assert_eq!(ws[0].mail.as_deref(), Some("user@example.org"));
    let ws = parse_ws_list(&data("v1-terse.txt"), false).unwrap();
    assert_eq!(ws[0].remaining, Remaining::Left(Duration::from_secs(24 * H)));
    assert_eq!((ws[0].creation, ws[0].filesystem.as_deref()), (None, None));
    assert_eq!(ws[0].extensions, Some(3));
}

#[test]
fn v2_blocks_and_expired_listing() {
    let ws = parse_ws_list(&data("v2.txt"), false).unwrap();
    assert_eq!(ws[0].id, "test");
    assert_eq!(ws[0].remaining.duration(), Duration::from_secs((30 * 24 + 23) * H));
    assert_eq!(ws[0].expiration, t("Sun Apr  6 10:11:12 2025"));
    assert_eq!(ws[0].permissions.as_deref(), Some("rwx------"));
    assert_eq!(ws[0].mail.as_deref(), Some("a@b.c"));
    let ws = parse_ws_list(&data("v2-expired.txt"), false).unwrap();
    assert_eq!(ws[0].remaining, Remaining::Released);
    assert_eq!(ws[0].until_deletion, Some(Duration::from_secs((6 * 24 + 22) * H)));
    assert_eq!(ws[0].released, t("Fri Mar  7 10:51:12 2025"));
}

#[test]
fn v2_tables_with_wrapped_cells() {
    let ws = parse_ws_list(&data("v2-table.txt"), false).unwrap();
    assert_eq!(ws.len(), 2);
    assert_eq!(ws[0].directory, "/tmp/ws/ws1-ws/usera-test");
    assert_eq!(ws[0].remaining.duration(), Duration::from_secs(30 * 24 * H));
    assert_eq!(ws[0].extensions, Some(3));
    assert_eq!(ws[1].id, "a-workspace-name-longer-than-thirty");
    assert_eq!(ws[1].expiration, t("Sun Apr  6 10:11:12 2025"));
    let ws = parse_ws_list(&data("v2-table-terse.txt"), false).unwrap();
    assert_eq!((ws[0].id.as_str(), ws[0].expiration), ("test", None));
}

#[test]
fn short_lists_and_empty_output() {
    let ws = parse_ws_list("a\nb-c\n", true).unwrap();
    assert_eq!(ws.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(), ["a", "b-c"]);
    assert!(parse_ws_list("", false).unwrap().is_empty());
    assert!(parse_ws_list("\n  \n", false).unwrap().is_empty());
}

#[test]
fn garbage_gives_a_parse_error_with_all_the_raw_text() {
    for raw in [
        "Traceback (most recent call last):\n  File \"/usr/bin/ws_list\"\n",
        "id: x\n     remaining time       : soon\n     workspace directory  : /a\n",
        "id: x\n     creation time        : yesterday\n",
        "id: x\n     remaining time       : 1 days 2 hours\n",
        "     workspace directory  : /a\n",
        "ID PATH REMAINING\n=== ==== ===\nx /a\n",
        "ID PATH EXPIRATION EXTENSIONS REMAINING\n==\nx /a Sun Apr 6 10:11:12 2025 3 lots\n",
    ] {
        let e = parse_ws_list(raw, false).unwrap_err();
        assert!(matches!(&e, Error::Parse { line, .. } if line == raw), "{raw:?}: {e}");
    }
}

#[test]
fn allocate_output() {
    let a = parse_allocation(
        "/scratch/ws/0/u-x\n",
        "Info: creating workspace.\nremaining extensions  : 10\nremaining time in days: 30\n",
    )
    .unwrap();
    assert_eq!(a.directory, "/scratch/ws/0/u-x");
    assert_eq!((a.reused, a.extensions, a.remaining_days), (false, Some(10), Some(30)));
    let a = parse_allocation("/s/u-x\n", "Info: reusing workspace.\nremaining extensions  : 9\n")
        .unwrap();
    assert!(a.reused);
    assert!(parse_allocation("", "Error: could not create").is_err());
}

#[test]
fn restore_list() {
    let text = "scratch:\nu-old-1700000000\n\tunavailable since Tue Nov 14 22:13:20 2023\nu-b-1700000001\nbeegfs:\n";
    let r = parse_restorable(text).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].filesystem, "scratch");
    assert_eq!(r[0].id, "u-old-1700000000");
    assert_eq!(r[0].unavailable_since, t("Tue Nov 14 22:13:20 2023"));
    assert_eq!(r[1].unavailable_since, None);
    assert!(parse_restorable("u-x-1\n").is_err());
}

/// Found by the `workspace_outputs` fuzz target: day and hour counts that
/// overflow a number of seconds panicked (debug builds).
#[test]
fn huge_remaining_times_are_refused_not_a_panic() {
    assert_eq!(days_hours("18446744073709551615 days 2 hours"), None);
    assert_eq!(days_hours("1 days 18446744073709551615 hours"), None);
    assert_eq!(days_hours("1 days 2 hours"), Some(Duration::from_secs(86_400 + 2 * H)));
    let table = "ID PATH REMAINING\n=\nt /t 744073709551615\n";
    assert!(parse_ws_list(table, false).is_err());
    let blocks = "Id: w\n    workspace directory  : /ws/w\n    remaining time       : 1 days 6744073709551615 hours\n";
    let _ = parse_ws_list(blocks, false);
}
