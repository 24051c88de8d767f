//! UFTP as an hpc-core `FileSystem` (`uftp-proto`'s adaptor on the UFTPD test
//! server, through its auth server): the shared file-system suite, each check
//! its own trial (`uftp::<check>`, `uftp-4-streams-aes::<check>`; skipped
//! ones name the capability they need). Needs `cargo xtask services up uftp`.

mod uftp_support;

use std::sync::Arc;

use hpc_core::{Error, Path};
use hpc_testkit::fs_conformance::{self, Declared, FsFixture, unique_name};
use hpc_testkit::trials::{self, make_fixture};
use uftp_proto::filesystem::capabilities;
use uftp_support::uftp;

fn setup(params: &'static str) -> trials::MakeFixture<FsFixture> {
    make_fixture(move || async move {
        let u = uftp();
        let fs = u.filesystem("/data", params).await?;
        let root = Path::root().join_entry(&unique_name("conformance"))?;
        let mut fx = FsFixture::new(fs, root);
        // A large file made beside the server's tree, read back over UFTP.
        let data = u.root.join("data");
        fx.sparse = Some(Arc::new(move |p: &Path, size: u64| {
            let file = data.join(p.to_string().trim_start_matches('/'));
            Box::pin(async move {
                let f = std::fs::File::create(&file).map_err(|e| Error::io("sparse file", e))?;
                f.set_len(size).map_err(|e| Error::io("sparse file", e))
            })
        }));
        Ok(fx)
    })
}

fn main() {
    let declared = Declared::new(capabilities()).with_sparse_files();
    let mut all = fs_conformance::trials("uftp", &declared, setup(""));
    all.extend(fs_conformance::trials(
        "uftp-4-streams-aes-gzip",
        &declared,
        setup("&streams=4&encrypt=aes&compress=true"),
    ));
    trials::run(all);
}
