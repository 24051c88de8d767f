//! The shared FileSystem conformance suite against the local adaptor.

use std::sync::Arc;

use fs_adaptors::LocalFileSystem;
use hpc_core::{FileSystem, Path};
use hpc_testkit::fs_conformance::{FsFixture, SparseMaker, run_all};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(dir.path().to_str().unwrap()).unwrap().join_entry("suite").unwrap();
    let fs: Arc<dyn FileSystem> = Arc::new(LocalFileSystem::new().unwrap());
    let mut fx = FsFixture::new(fs, root);
    let sparse: SparseMaker = Arc::new(|p: &Path, size| {
        let p = p.to_string();
        Box::pin(async move {
            let f = std::fs::File::create(&p).map_err(|e| hpc_core::Error::io("create", e))?;
            f.set_len(size).map_err(|e| hpc_core::Error::io("set_len", e))
        })
    });
    fx.sparse = Some(sparse);
    run_all(&fx).await;
}
