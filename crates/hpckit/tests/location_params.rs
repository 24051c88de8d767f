//! Every scheme refuses a parameter it does not know through the one check,
//! `Location::check_params`: before anything is sent, naming the key, never
//! showing a value (a mistyped `?password=` must not end up in a log).
//! Hosts are a closed port, so an adaptor that connected before checking
//! would fail with a connection error instead.

use hpckit::auth::CredentialMap;
use hpckit::core::{Error, Location};
use proptest::prelude::*;

const SECRET: &str = "S3CRET";

/// A URL of `scheme` that would otherwise open (or try to connect).
fn url_of(scheme: &str, params: &str) -> String {
    match scheme {
        "file" | "local" | "nohup" => format!("{scheme}:///tmp?{params}"),
        "s3" => format!("s3://bucket/?endpoint=http://127.0.0.1:1&{params}"),
        "ws" => format!("ws:///data?{params}"),
        "dm" => format!("dm:///tmp?{params}"),
        "unicore" | "unicore+https" | "unicore+http" => {
            format!("{scheme}://127.0.0.1:1/SITE?{params}")
        }
        "uftp" => format!("uftp://demo@127.0.0.1:1/rest/auth/TEST:/data?{params}"),
        s if s.ends_with("+ssh") => format!("{s}://127.0.0.1:1/?{params}"),
        "slurm" | "at" | "sge" | "torque" => format!("{scheme}://?{params}"),
        _ => format!("{scheme}://127.0.0.1:1/?{params}"),
    }
}

fn is_the_param_check(e: &Error, key: &str) -> bool {
    let text = e.to_string();
    matches!(e, Error::InvalidLocation { .. })
        && text.contains(&format!("unknown parameter {key:?}"))
        && !text.contains(SECRET)
}

#[tokio::test]
async fn every_file_system_scheme_refuses_unknown_parameters() {
    let creds = CredentialMap::new();
    for scheme in hpckit::FILESYSTEM_SCHEMES {
        for key in ["bogus", "password", "kown_hosts"] {
            let url = url_of(scheme, &format!("{key}={SECRET}"));
            let e = match hpckit::open_filesystem(&url, &creds).await {
                Ok(_) => panic!("{url} opened"),
                Err(e) => e,
            };
            assert!(is_the_param_check(&e, key), "{url}: {e}");
        }
    }
}

/// The batch schedulers over SSH too: their parameters are checked before
/// the SSH login.
#[tokio::test]
async fn every_scheduler_scheme_refuses_unknown_parameters() {
    let creds = CredentialMap::new();
    for scheme in hpckit::SCHEDULER_SCHEMES {
        let url = url_of(scheme, &format!("bogus={SECRET}"));
        let e = match hpckit::open_scheduler(&url, &creds).await {
            Ok(_) => panic!("{url} opened"),
            Err(e) => e,
        };
        assert!(is_the_param_check(&e, "bogus"), "{url}: {e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any key outside the known list, with any value: the check refuses it
    /// and never shows the value, however long or strange.
    #[test]
    fn any_unknown_key_is_refused_without_its_value(
        key in "[a-z_]{1,12}",
        value in "\\PC{0,300}",
    ) {
        let known = ["tls", "ca", "pool"];
        prop_assume!(!known.contains(&key.as_str()));
        let mut loc: Location = "ftp://h/".parse().unwrap();
        loc.query.push((key.clone(), format!("{SECRET}{value}")));
        let e = loc.check_params(&known).unwrap_err();
        prop_assert!(is_the_param_check(&e, &key), "{}", e);
    }
}
