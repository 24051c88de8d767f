//! The FileSystem conformance suite (`hpc_testkit::fs_conformance`) against
//! every adaptor on a real server, one trial per check and setup, named
//! `<setup>::<check>`: `cargo nextest run -p itests --test fs_conformance --
//! sftp_sshd::rename` runs one. Needs `cargo xtask services up sshd ftp
//! webdav s3`; a setup whose service is missing fails all its trials.

mod fs_support;

use std::sync::Arc;

use fs_adaptors::sftp::SftpTuning;
use fs_support::{ftp, s3, webdav};
use hpc_core::{FileSystem, Path};
use hpc_testkit::fs_conformance::{self, Declared, FsFixture, unique_name};
use hpc_testkit::trials::{self, Trial, make_fixture};

fn main() {
    let mut all: Vec<Trial> = Vec::new();
    all.extend(sftp_pipes());
    all.extend(sftp_pipes_unpipelined());
    all.extend(sftp_sshd());
    all.extend(ftp_suite("ftp", false));
    all.extend(ftp_suite("ftps", true));
    all.extend(webdav_suite());
    // s3s-fs keeps objects as files: a directory marker is an empty
    // directory that listings do not show and a HEAD of it answers 500, so
    // the suite runs on moto only (fs_s3.rs covers s3s-fs's signatures).
    all.extend(s3_moto());
    trials::run(all);
}

fn sftp_declared() -> Declared {
    Declared::new(fs_adaptors::sftp::capabilities()).with_sparse_files()
}

/// OpenSSH's `sftp-server` as a child process (its pipes are the stream),
/// with this host's executor for checksums on the "server".
fn sftp_pipes() -> Vec<Trial> {
    let make = make_fixture(|| async {
        let fs = fs_support::sftp_via_local_server(SftpTuning::default()).await;
        Ok(fs_support::fixture(fs, fs_support::local_root("hpckit-fs-sftp")))
    });
    fs_conformance::trials("sftp_pipes", &sftp_declared(), make)
}

/// One request in flight and tiny chunks: exercises chunk boundaries and
/// short reads that the pipelined default never hits.
fn sftp_pipes_unpipelined() -> Vec<Trial> {
    let make = make_fixture(|| async {
        let tuning = SftpTuning { in_flight: 1, chunk: 4096, ..SftpTuning::default() };
        let fs = fs_support::sftp_via_local_server(tuning).await;
        Ok(fs_support::fixture(fs, fs_support::local_root("hpckit-fs-sftp-slow")))
    });
    let checks =
        ["write_and_read", "read_ranges", "append", "empty_files", "failed_write_leaves_no_file"];
    fs_conformance::trials_of("sftp_pipes_unpipelined", &sftp_declared(), &checks, make)
}

/// The real sshd (SFTP over SSH as `SftpFileSystem::open` runs it, on a
/// connection per trial).
fn sftp_sshd() -> Vec<Trial> {
    let make = make_fixture(|| async {
        let sshd = fs_support::Sshd::from_env();
        let fs = sshd.sftp_unshared().await?;
        let root = sshd.scratch_path("suite");
        Ok(fs_support::fixture(fs, root))
    });
    fs_conformance::trials("sftp_sshd", &sftp_declared(), make)
}

/// vsftpd, in plain FTP or with explicit TLS.
fn ftp_suite(suite: &'static str, tls: bool) -> Vec<Trial> {
    let make = make_fixture(move || async move {
        let f = ftp::ftp();
        let url = if tls { f.ftps_url_with_ca() } else { f.url.clone() };
        let fs = ftp::open_url(&url, &f.user, &f.password).await?;
        let root = Path::new(&f.root)?.join_entry(&unique_name("conformance"))?;
        let mut fx = FsFixture::new(Arc::new(fs), root);
        fx.sparse = Some(f.sparse());
        Ok(fx)
    });
    let declared = Declared::new(fs_adaptors::ftp::capabilities()).with_sparse_files();
    fs_conformance::trials(suite, &declared, make)
}

/// Apache mod_dav.
fn webdav_suite() -> Vec<Trial> {
    let make = make_fixture(|| async {
        let d = webdav::dav();
        let fs = webdav::open_as(&d.url, &d.user, &d.password).await?;
        let root = fs.info().working_directory.join_entry(&unique_name("conformance"))?;
        let mut fx = FsFixture::new(Arc::new(fs), root);
        fx.sparse = Some(d.sparse());
        Ok(fx)
    });
    let declared = Declared::new(fs_adaptors::webdav::capabilities()).with_sparse_files();
    fs_conformance::trials("webdav", &declared, make)
}

/// A bucket of moto: object stores have no real directories (writes need no
/// parent) and no way to make a sparse object.
fn s3_moto() -> Vec<Trial> {
    let make = make_fixture(|| async {
        let s = s3::moto();
        let fs: Arc<dyn FileSystem> = Arc::new(s3::open_url(&s.url, &s.key, &s.secret).await?);
        Ok(FsFixture::new(fs, Path::root().join_entry(&unique_name("conformance"))?))
    });
    let declared = Declared::new(fs_adaptors::s3::capabilities()).without_real_directories();
    fs_conformance::trials("s3_moto", &declared, make)
}
