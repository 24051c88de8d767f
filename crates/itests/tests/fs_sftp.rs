//! The sftp adaptor against OpenSSH: its `sftp-server` over pipes, and the
//! real sshd started by `cargo xtask services up sshd`.

mod fs_support;

use fs_adaptors::sftp::SftpTuning;
use hpc_testkit::fs_conformance::run_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_server_over_pipes_passes_the_conformance_suite() {
    let (_keep, root) = fs_support::scratch();
    let fs = fs_support::sftp_via_local_server(SftpTuning::default()).await;
    run_all(&fs_support::fixture(fs, &root, "suite")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_without_pipelining_also_conforms() {
    // One request in flight and tiny chunks: exercises chunk boundaries and
    // short reads that the pipelined default never hits.
    let (_keep, root) = fs_support::scratch();
    let tuning = SftpTuning { in_flight: 1, chunk: 4096, ..SftpTuning::default() };
    let fs = fs_support::sftp_via_local_server(tuning).await;
    let fx = fs_support::fixture(fs, &root, "slow");
    hpc_testkit::fs_conformance::run_selected(&fx, |n| {
        ["write_and_read", "read_ranges", "append", "empty_files", "failed_write_leaves_no_file"]
            .contains(&n)
    })
    .await;
}
