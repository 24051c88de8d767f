//! Entry point for the xenon-grpc fuzz target of `crates/hpc-fuzz`: the
//! protobuf requests a PyXenon client sends, decoded and turned into hpckit's
//! types up to the point where an adaptor would be opened. Not part of the
//! stable interface.

use hpckit::core::{Location, Path};
use prost::Message;

use crate::state::{cred_of, fs_cred};
use crate::{adaptors, locations, proto, scheduler};

/// `data` as each request that carries user input: create a scheduler or a
/// file system, submit a job, name a path.
pub fn requests(data: &[u8]) {
    if let Ok(r) = proto::CreateSchedulerRequest::decode(data)
        && let Ok(a) = adaptors::scheduler(&r.adaptor)
    {
        let _ = locations::credential_map(a.name, cred_of(r.credential.as_ref()));
        if let Ok(params) = adaptors::location_params(
            a.name,
            adaptors::SCHEDULER_PREFIX,
            a.properties(),
            &r.properties,
        ) && let Ok(url) = locations::scheduler_url(a, &r.location, &params)
        {
            let _ = url.parse::<Location>();
        }
    }
    if let Ok(r) = proto::CreateFileSystemRequest::decode(data)
        && let Ok(a) = adaptors::filesystem(&r.adaptor)
    {
        let cred = fs_cred(r.credential);
        let _ = locations::credential_map(a.name, cred_of(cred.as_ref()));
        if let Ok(params) = adaptors::location_params(
            a.name,
            adaptors::FILESYSTEM_PREFIX,
            a.properties.iter(),
            &r.properties,
        ) && let Ok(target) = locations::filesystem_target(a, &r.location, &params)
        {
            let _ = hpckit::FsUrl::parse(&target.url);
            if let Some(w) = &target.workdir {
                let _ = Path::new(w);
            }
        }
    }
    if let Ok(r) = proto::SubmitBatchJobRequest::decode(data) {
        for a in ["local", "slurm"] {
            if let Ok(job) = scheduler::description(a, r.description.clone()) {
                assert!(job.validate().is_ok(), "{job:?}");
            }
        }
    }
    if let Ok(r) = proto::PathRequest::decode(data)
        && let Some(p) = r.path
        && let Ok(path) = Path::new(&p.path)
    {
        let _ = path.resolve(&Path::root());
    }
}
