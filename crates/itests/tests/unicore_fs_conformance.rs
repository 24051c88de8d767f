//! UNICORE as an hpc-core `FileSystem` (`unicore-rest`'s adaptor on storage
//! `HOME` of the test server): the shared file-system suite, each check its
//! own trial (`unicore::<check>`; skipped ones name the capability they
//! need). Copies with the copy engine are in `unicore_filesystem.rs`. Needs
//! `cargo xtask services up unicore`.

mod unicore_support;

use std::path::PathBuf;
use std::sync::Arc;

use hpc_core::{Error, Path};
use hpc_testkit::fs_conformance::{self, Declared, FsFixture, unique_name};
use hpc_testkit::trials::{self, make_fixture};
use unicore_rest::filesystem::{UnicoreFileSystem, capabilities};
use unicore_support::unicore;

fn main() {
    let make = make_fixture(|| async {
        let u = unicore();
        let (loc, creds) = u.location("/storages/HOME");
        let fs = UnicoreFileSystem::open(&loc, &creds).await?;
        let root = Path::root().join_entry(&unique_name("conformance"))?;
        let mut fx = FsFixture::new(Arc::new(fs), root);
        // A large file made beside the server's storage, read back over REST.
        let home = PathBuf::from(u.env.var("HPCKIT_UNICORE_DATA")).join("storages/HOME");
        fx.sparse = Some(Arc::new(move |p: &Path, size: u64| {
            let file = home.join(p.to_string().trim_start_matches('/'));
            Box::pin(async move {
                let f = std::fs::File::create(&file).map_err(|e| Error::io("sparse file", e))?;
                f.set_len(size).map_err(|e| Error::io("sparse file", e))
            })
        }));
        Ok(fx)
    });
    // UNICORE storages are directory trees: the adaptor checks parents itself.
    let declared = Declared::new(capabilities()).with_sparse_files();
    trials::run(fs_conformance::trials("unicore", &declared, make));
}
