//! The shared FileSystem conformance suite against the local adaptor, one
//! trial per check (`cargo test -p fs-adaptors --test local_conformance --
//! local::rename` runs one).

use std::sync::Arc;

use fs_adaptors::LocalFileSystem;
use hpc_core::{Error, FileSystem, Path};
use hpc_testkit::fs_conformance::{self, Declared, FsFixture, SparseMaker, unique_name};
use hpc_testkit::trials::{self, make_fixture};

fn main() {
    let make = make_fixture(|| async {
        let tmp = std::env::temp_dir();
        let tmp = tmp.to_str().ok_or_else(|| Error::InvalidInput("temp dir not UTF-8".into()))?;
        let root = Path::new(tmp)?.join_entry(&unique_name("hpckit-local-conformance"))?;
        let fs: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new()?);
        let mut fx = FsFixture::new(fs, root);
        let sparse: SparseMaker = Arc::new(|p: &Path, size| {
            let p = p.to_string();
            Box::pin(async move {
                let f = std::fs::File::create(&p).map_err(|e| Error::io("create", e))?;
                f.set_len(size).map_err(|e| Error::io("set_len", e))
            })
        });
        fx.sparse = Some(sparse);
        Ok(fx)
    });
    let declared = Declared::new(fs_adaptors::local::capabilities()).with_sparse_files();
    trials::run(fs_conformance::trials("local", &declared, make));
}
