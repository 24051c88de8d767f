//! Fuzz targets for every hpckit parser that reads remote or user input.
//!
//! Each target is a plain `fn(&[u8])` listed in [`TARGETS`]; it must never
//! panic, and where a parser has a printer or a safety property (an entry
//! of a listing names a child of the listed directory), the target asserts
//! it. The same functions run three ways:
//!
//! * `cargo xtask fuzz --seconds N [--target NAME]`: the mutation loop of
//!   [`runner`] over the seed corpus in `fuzz/corpus/<name>/`, on stable;
//!   crashing inputs go to `target/fuzz/crashes/<name>/`;
//! * `cargo test -p hpc-fuzz`: every seed plus a fixed number of mutated
//!   inputs from a fixed seed (part of `cargo xtask test`);
//! * `cargo +nightly fuzz run <name>` in `fuzz/` (libFuzzer, coverage-guided).
//!
//! Parsers that are private to their crate are reached through that crate's
//! `#[doc(hidden)] pub mod fuzzing`.

pub mod corpus;
pub mod mutate;
pub mod runner;

use hpc_core::{ArraySpec, JobDescription, Location, Path};

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its name (`fuzz/corpus/<name>/`, `fuzz/fuzz_targets/<name>.rs`).
    pub name: &'static str,
    /// What it feeds its input to.
    pub about: &'static str,
    /// The target itself.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target { name: "location", about: "scheduler and file-system URLs, paths", run: location },
    Target {
        name: "job_description",
        about: "job descriptions (JSON) and each batch adaptor's submission",
        run: job_description,
    },
    Target {
        name: "slurm_outputs",
        about: "sbatch, squeue, sacct, sinfo, scontrol",
        run: slurm_outputs,
    },
    Target { name: "sge_outputs", about: "Grid Engine qsub, qstat -xml, qacct", run: sge_outputs },
    Target {
        name: "torque_outputs",
        about: "Torque qsub, qstat -x, qstat -Qf/-Bf",
        run: torque_outputs,
    },
    Target { name: "at_outputs", about: "atq and the at status program", run: at_outputs },
    Target {
        name: "batch_outputs",
        about: "ssh adaptor lines, chunked submit output, scheduler XML, times",
        run: batch_outputs,
    },
    Target { name: "ftp_listing", about: "FTP LIST and MLSD lines", run: ftp_listing },
    Target { name: "webdav_xml", about: "WebDAV 207 Multi-Status bodies", run: webdav_xml },
    Target {
        name: "s3_xml",
        about: "S3 ListObjectsV2, ListMultipartUploads, ListParts",
        run: s3_xml,
    },
    Target {
        name: "unicore_json",
        about: "UNICORE REST job, file and error documents",
        run: unicore_json,
    },
    Target {
        name: "uftp_replies",
        about: "UFTPD control replies (150, PASV, MLST, HASH)",
        run: uftp_replies,
    },
    Target {
        name: "uftp_chunk_header",
        about: "UFTP multi-stream chunk headers",
        run: uftp_chunk_header,
    },
    Target {
        name: "uftp_data_stream",
        about: "UFTP gzip and encrypted data streams",
        run: uftp_data_stream,
    },
    Target { name: "uftp_auth_reply", about: "UFTP auth server answers", run: uftp_auth_reply },
    Target {
        name: "couch_responses",
        about: "CouchDB answers and token documents",
        run: couch_responses,
    },
    Target { name: "picas_input", about: "picas token files and database URLs", run: picas_input },
    Target {
        name: "xenon_requests",
        about: "xenon-grpc protobuf requests into hpckit's types",
        run: xenon_requests,
    },
    Target {
        name: "workspace_outputs",
        about: "ws_list, ws_allocate and ws_restore outputs",
        run: workspace_outputs,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Each line as a location and as a path; what parses prints back as
/// something that parses to the same value.
pub fn location(data: &[u8]) {
    for line in text(data).lines() {
        if let Ok(loc) = line.parse::<Location>() {
            let printed = loc.to_string();
            let again = printed
                .parse::<Location>()
                .unwrap_or_else(|e| panic!("{line:?} printed as {printed:?}, which fails: {e}"));
            assert_eq!(again, loc, "{line:?} printed as {printed:?}");
            let _ = (loc.hop(), loc.without_query_values(), loc.check_params(&["a"]));
        }
        if let Ok(path) = Path::new(line) {
            let printed = path.to_string();
            assert_eq!(Path::new(&printed).ok().as_ref(), Some(&path), "{line:?}");
            let _ = (path.parent(), path.file_name(), path.resolve(&Path::root()));
            let _ = path.join(line);
        }
        let _ = hpc_core::duration::parse(line);
        let _ = hpc_core::duration::parse_seconds(line);
        if let Ok(spec) = line.parse::<ArraySpec>() {
            let printed = spec.to_string();
            assert_eq!(printed.parse::<ArraySpec>().ok(), Some(spec), "{line:?}");
            let _ = spec.task_ids().take(1000).count();
        }
    }
}

/// A job description as JSON; what `validate` accepts goes to every batch
/// adaptor's script and argv builder.
pub fn job_description(data: &[u8]) {
    if let Ok(job) = serde_json::from_slice::<JobDescription>(data) {
        sched_adaptors::fuzzing::job_submissions(&job);
    }
}

/// Slurm's command outputs.
pub fn slurm_outputs(data: &[u8]) {
    sched_adaptors::fuzzing::slurm_outputs(&text(data));
}

/// Grid Engine's command outputs.
pub fn sge_outputs(data: &[u8]) {
    sched_adaptors::fuzzing::sge_outputs(&text(data));
}

/// Torque's command outputs.
pub fn torque_outputs(data: &[u8]) {
    sched_adaptors::fuzzing::torque_outputs(&text(data));
}

/// at's command outputs.
pub fn at_outputs(data: &[u8]) {
    sched_adaptors::fuzzing::at_outputs(&text(data));
}

/// What every batch adaptor shares, and the ssh adaptor's lines.
pub fn batch_outputs(data: &[u8]) {
    sched_adaptors::fuzzing::batch_outputs(&text(data));
}

/// FTP directory listings.
pub fn ftp_listing(data: &[u8]) {
    fs_adaptors::ftp::fuzzing::listing(&text(data));
}

/// WebDAV PROPFIND answers.
pub fn webdav_xml(data: &[u8]) {
    fs_adaptors::webdav::fuzzing::multistatus(&text(data));
}

/// S3 listing answers.
pub fn s3_xml(data: &[u8]) {
    fs_adaptors::s3::fuzzing::answers(&text(data));
}

/// UNICORE REST answers.
pub fn unicore_json(data: &[u8]) {
    unicore_rest::fuzzing::responses(data);
}

/// UFTPD's control-connection replies.
pub fn uftp_replies(data: &[u8]) {
    uftp_proto::fuzzing::replies(&text(data));
}

/// UFTP chunk headers.
pub fn uftp_chunk_header(data: &[u8]) {
    uftp_proto::fuzzing::chunk_header(data);
}

/// UFTP data streams through the decoders.
pub fn uftp_data_stream(data: &[u8]) {
    uftp_proto::fuzzing::data_stream(data);
}

/// The UFTP auth server's JSON answer.
pub fn uftp_auth_reply(data: &[u8]) {
    uftp_proto::fuzzing::auth_reply(data);
}

/// CouchDB answers.
pub fn couch_responses(data: &[u8]) {
    picas_tokens::fuzzing::couch_responses(data);
}

/// What `picas push` and the database URL read.
pub fn picas_input(data: &[u8]) {
    picas_tokens::fuzzing::user_input(&text(data));
}

/// xenon-grpc requests.
pub fn xenon_requests(data: &[u8]) {
    xenon_compat::fuzzing::requests(data);
}

/// The ZIH workspace tools' outputs.
pub fn workspace_outputs(data: &[u8]) {
    use zih_datamover::workspace as ws;
    let text = text(data);
    for short in [false, true] {
        let _ = ws::parse_ws_list(&text, short);
    }
    let (stdout, stderr) = text.split_once("\n--\n").unwrap_or((&text, ""));
    let _ = ws::parse_allocation(stdout, stderr);
    let _ = ws::parse_restorable(&text);
}

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lookups_work() {
        let mut names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TARGETS.len());
        assert!(target("location").is_some());
        assert!(target("nope").is_none());
    }
}
