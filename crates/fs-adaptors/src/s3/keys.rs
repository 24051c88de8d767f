//! Where the keys that sign S3 requests come from, in one order (that of the
//! AWS CLI, so a machine set up for `aws s3` works unchanged):
//!
//! 1. a password (or `basic`) credential: access key id and secret key; a
//!    user in the URL (`s3://KEY@bucket`) must be the same access key id;
//! 2. `?profile=NAME` in the URL: that profile only;
//! 3. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 4. the profile `AWS_PROFILE` (or `AWS_DEFAULT_PROFILE`, else `default`)
//!    of `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`), then of
//!    `~/.aws/config` (`AWS_CONFIG_FILE`, sections `[profile NAME]`).
//!
//! Nothing found is an error that says what to set; unsigned requests are
//! asked for with an `anonymous` credential, never fallen into.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use hpc_auth::{Credential, Secret};
use hpc_core::{Error, Location, Result};

/// Access key pair (and session token) used to sign requests.
#[derive(Clone)]
pub struct S3Keys {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: Secret,
    /// Session token of temporary credentials.
    pub session_token: Option<Secret>,
}

impl fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Keys").field("access_key", &self.access_key).finish_non_exhaustive()
    }
}

/// What to set, said by every "no keys" error.
const WHAT_TO_SET: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile of \
     ~/.aws/credentials (AWS_PROFILE or ?profile=NAME), or give the keys as a credential (hpckit: \
     --access-key-env VAR --secret-key-env VAR); for a public bucket ask for unsigned requests \
     (hpckit: --no-sign-request)";

/// The process environment as far as S3 reads it: the `AWS_*` variables and
/// the home directory (tests give their own).
#[derive(Debug, Clone, Default)]
pub(crate) struct AwsEnv {
    vars: HashMap<String, String>,
    home: Option<PathBuf>,
}

impl AwsEnv {
    /// This process's environment.
    pub(crate) fn process() -> Self {
        let vars = std::env::vars().filter(|(k, v)| k.starts_with("AWS_") && !v.is_empty());
        AwsEnv { vars: vars.collect(), home: std::env::var_os("HOME").map(PathBuf::from) }
    }

    /// A variable, `None` when unset or empty.
    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    #[cfg(test)]
    pub(crate) fn fake(vars: &[(&str, &str)], home: Option<PathBuf>) -> Self {
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        AwsEnv { vars, home }
    }

    /// The file a variable names, else `~/.aws/<name>`.
    fn file(&self, var: &str, name: &str) -> Option<PathBuf> {
        self.var(var)
            .map(PathBuf::from)
            .or_else(|| Some(self.home.as_ref()?.join(".aws").join(name)))
    }

    /// The profile to read: `?profile=`, else `AWS_PROFILE`, else
    /// `AWS_DEFAULT_PROFILE`; `None` means `default`, not asked for.
    fn chosen_profile<'a>(&'a self, loc: &'a Location) -> Option<&'a str> {
        loc.param("profile")
            .or_else(|| self.var("AWS_PROFILE"))
            .or_else(|| self.var("AWS_DEFAULT_PROFILE"))
    }

    /// The settings of the profile a location reads (`region`,
    /// `endpoint_url`, keys), the credentials file's before the config
    /// file's. Empty when neither file has it.
    pub(crate) fn profile(&self, loc: &Location) -> Result<Profile> {
        let name = self.chosen_profile(loc).unwrap_or("default");
        let mut profile = Profile { name: name.to_owned(), values: HashMap::new(), found: false };
        let config_section =
            if name == "default" { "default".to_owned() } else { format!("profile {name}") };
        let files = [
            (self.file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), name.to_owned()),
            (self.file("AWS_CONFIG_FILE", "config"), config_section),
        ];
        for (path, section) in files {
            let Some(path) = path else { continue };
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
            };
            if let Some(values) = ini_section(&text, &section) {
                profile.found = true;
                for (k, v) in values {
                    profile.values.entry(k).or_insert(v);
                }
            }
        }
        Ok(profile)
    }

    /// The keys for `loc` with `credential`: `None` for unsigned requests.
    pub(crate) fn keys(&self, loc: &Location, credential: &Credential) -> Result<Option<S3Keys>> {
        let bad = |reason: String| Error::InvalidLocation {
            location: loc.without_query_values(),
            reason,
        };
        match credential {
            Credential::Password { username, password }
            | Credential::Basic { username, password } => {
                if let Some(user) = &loc.user
                    && user != username
                {
                    return Err(bad(format!(
                        "the URL names access key id {user:?} but the credential is for {username:?}"
                    )));
                }
                Ok(Some(S3Keys {
                    access_key: username.clone(),
                    secret_key: password.clone(),
                    session_token: None,
                }))
            }
            Credential::Anonymous => Ok(None),
            Credential::Default { .. } => self.default_keys(loc).map(Some),
            // Refused by the capability check before.
            other => Err(Error::InvalidInput(format!(
                "a {} credential cannot sign S3 requests (it takes {}; a password is the access key id and secret key)",
                other.kind(),
                super::config::CREDENTIALS
            ))),
        }
    }

    fn default_keys(&self, loc: &Location) -> Result<S3Keys> {
        let no_keys = |why: String| Error::Authentication {
            user: loc.user.clone().unwrap_or_else(|| "(no access key)".into()),
            host: format!("s3://{}", loc.host.as_deref().unwrap_or("")),
            reason: format!("{why}: {WHAT_TO_SET}"),
        };
        if loc.param("profile").is_none() {
            match (self.var("AWS_ACCESS_KEY_ID"), self.var("AWS_SECRET_ACCESS_KEY")) {
                (Some(access_key), Some(secret)) => {
                    return self.matching(
                        loc,
                        access_key,
                        secret,
                        self.var("AWS_SESSION_TOKEN"),
                        "AWS_ACCESS_KEY_ID",
                    );
                }
                (Some(_), None) => {
                    return Err(no_keys(
                        "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
                    ));
                }
                (None, Some(_)) => {
                    return Err(no_keys(
                        "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into(),
                    ));
                }
                (None, None) => {}
            }
        }
        let profile = self.profile(loc)?;
        let asked = self.chosen_profile(loc).is_some();
        match (profile.get("aws_access_key_id"), profile.get("aws_secret_access_key")) {
            (Some(access_key), Some(secret)) => self.matching(
                loc,
                access_key,
                secret,
                profile.get("aws_session_token"),
                &format!("profile {:?}", profile.name),
            ),
            _ if !profile.found && asked => Err(no_keys(format!(
                "profile {:?} is in neither ~/.aws/credentials nor ~/.aws/config",
                profile.name
            ))),
            _ if profile.found => {
                let other = [
                    "role_arn",
                    "sso_session",
                    "sso_start_url",
                    "credential_process",
                    "web_identity_token_file",
                ]
                .into_iter()
                .find(|k| profile.get(k).is_some());
                Err(no_keys(match other {
                    Some(k) => format!(
                        "profile {:?} gets its keys by {k}, which hpckit does not do (`aws configure export-credentials --format env` prints them)",
                        profile.name
                    ),
                    None => format!(
                        "profile {:?} has no aws_access_key_id and aws_secret_access_key",
                        profile.name
                    ),
                }))
            }
            _ => Err(no_keys(match &loc.user {
                Some(user) => format!(
                    "s3://{user}@... names the access key id but no secret key goes with it"
                ),
                None => "no S3 keys found".into(),
            })),
        }
    }

    /// Keys found by `source`, which must be those of the access key id the
    /// URL names, if it names one.
    fn matching(
        &self,
        loc: &Location,
        access_key: &str,
        secret: &str,
        token: Option<&str>,
        source: &str,
    ) -> Result<S3Keys> {
        if let Some(user) = &loc.user
            && user != access_key
        {
            return Err(Error::InvalidLocation {
                location: loc.without_query_values(),
                reason: format!(
                    "the URL names access key id {user:?} but {source} gives {access_key:?}; give the secret key of {user:?} (hpckit: --secret-key-env VAR)"
                ),
            });
        }
        Ok(S3Keys {
            access_key: access_key.to_owned(),
            secret_key: Secret::new(secret),
            session_token: token.map(Secret::new),
        })
    }
}

/// One profile's settings.
#[derive(Debug)]
pub(crate) struct Profile {
    name: String,
    values: HashMap<String, String>,
    found: bool,
}

impl Profile {
    /// A setting, `None` when missing or empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// The `key = value` lines of `[section]` in an INI file as the AWS tools
/// write them (`#`/`;` comments; nested values of `s3 =` blocks, which are
/// indented, are skipped). `None` when the section is missing.
fn ini_section(text: &str, section: &str) -> Option<Vec<(String, String)>> {
    let mut inside = false;
    let mut found = false;
    let mut values = Vec::new();
    for line in text.lines() {
        let indented = line.starts_with([' ', '\t']);
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.split_whitespace().collect::<Vec<_>>().join(" ") == section;
            found |= inside;
            continue;
        }
        if inside
            && !indented
            && let Some((k, v)) = line.split_once('=')
        {
            values.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    found.then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(url: &str, env: &AwsEnv, cred: &Credential) -> Result<Option<S3Keys>> {
        env.keys(&url.parse().unwrap(), cred)
    }

    fn access(url: &str, env: &AwsEnv) -> Result<String> {
        Ok(keys(url, env, &Credential::default_for(None))?.expect("signed").access_key)
    }

    /// A home with `~/.aws/credentials` and `~/.aws/config` as `aws configure` writes them.
    fn home() -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = s-default\n\n\
             # a comment\n[lab]\naws_access_key_id=AKLAB\naws_secret_access_key=s-lab\n\
             aws_session_token = tok\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[default]\nregion = eu-central-1\n[profile cfgonly]\nregion = us-west-2\n\
             aws_access_key_id = AKCFG\naws_secret_access_key = s-cfg\ns3 =\n  addressing_style = path\n\
             [profile sso]\nsso_session = corp\n",
        )
        .unwrap();
        home
    }

    #[test]
    fn the_aws_cli_order() {
        let h = home();
        let home = Some(h.path().to_owned());
        let files = AwsEnv::fake(&[], home.clone());
        assert_eq!(access("s3://bucket", &files).unwrap(), "AKDEFAULT");
        assert_eq!(access("s3://bucket?profile=lab", &files).unwrap(), "AKLAB");
        assert_eq!(access("s3://bucket?profile=cfgonly", &files).unwrap(), "AKCFG");
        let env = AwsEnv::fake(&[("AWS_PROFILE", "lab")], home.clone());
        let k = keys("s3://bucket", &env, &Credential::default_for(None)).unwrap().unwrap();
        assert_eq!((k.access_key.as_str(), k.session_token.unwrap().expose()), ("AKLAB", "tok"));
        // The key variables beat AWS_PROFILE, but not ?profile= (as with `aws --profile`).
        let both = AwsEnv::fake(
            &[
                ("AWS_PROFILE", "lab"),
                ("AWS_ACCESS_KEY_ID", "AKENV"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
            home.clone(),
        );
        assert_eq!(access("s3://bucket", &both).unwrap(), "AKENV");
        assert_eq!(access("s3://bucket?profile=lab", &both).unwrap(), "AKLAB");
        // A password credential beats everything.
        let k = keys("s3://bucket", &both, &Credential::password("AKPW", "s")).unwrap().unwrap();
        assert_eq!(k.access_key, "AKPW");
        assert!(keys("s3://bucket", &both, &Credential::Anonymous).unwrap().is_none());
        assert_eq!(
            files.profile(&"s3://b?profile=cfgonly".parse().unwrap()).unwrap().get("region"),
            Some("us-west-2")
        );
        assert_eq!(
            files.profile(&"s3://b".parse().unwrap()).unwrap().get("region"),
            Some("eu-central-1")
        );
    }

    #[test]
    fn the_key_in_the_url_is_the_access_key_id() {
        let env =
            AwsEnv::fake(&[("AWS_ACCESS_KEY_ID", "AKENV"), ("AWS_SECRET_ACCESS_KEY", "s")], None);
        assert_eq!(access("s3://AKENV@bucket", &env).unwrap(), "AKENV");
        let k =
            keys("s3://AKPW@bucket", &env, &Credential::password("AKPW", "s")).unwrap().unwrap();
        assert_eq!(k.access_key, "AKPW");
        let e = access("s3://AKOTHER@bucket", &env).unwrap_err().to_string();
        assert!(e.contains("AKOTHER") && e.contains("--secret-key-env"), "{e}");
        let e = keys("s3://AKOTHER@bucket", &env, &Credential::password("AKPW", "s"));
        assert!(e.unwrap_err().to_string().contains("the credential is for"));
        let e = access("s3://AKONLY@bucket", &AwsEnv::fake(&[], None)).unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Authentication);
        assert!(e.to_string().contains("no secret key goes with it"), "{e}");
    }

    /// Every way of finding nothing says what to set.
    #[test]
    fn missing_keys_say_what_to_set() {
        let h = home();
        let home = Some(h.path().to_owned());
        for (url, env, why) in [
            ("s3://bucket", AwsEnv::fake(&[], None), "no S3 keys found"),
            (
                "s3://bucket",
                AwsEnv::fake(&[("AWS_ACCESS_KEY_ID", "AK")], None),
                "AWS_SECRET_ACCESS_KEY is not",
            ),
            (
                "s3://bucket",
                AwsEnv::fake(&[("AWS_SECRET_ACCESS_KEY", "s")], None),
                "AWS_ACCESS_KEY_ID is not",
            ),
            ("s3://bucket?profile=nope", AwsEnv::fake(&[], home.clone()), "\"nope\" is in neither"),
            (
                "s3://bucket",
                AwsEnv::fake(&[("AWS_PROFILE", "nope")], home.clone()),
                "\"nope\" is in neither",
            ),
            ("s3://bucket?profile=sso", AwsEnv::fake(&[], home.clone()), "by sso_session"),
        ] {
            let e = access(url, &env).unwrap_err();
            assert_eq!(e.kind(), hpc_core::ErrorKind::Authentication, "{url}: {e}");
            let text = e.to_string();
            assert!(
                text.contains(why) && text.contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
                "{url}: {text}"
            );
            assert!(!text.contains("s-default"), "{text}");
        }
    }

    #[test]
    fn ini_sections() {
        let text = "[a]\nx = 1\n[ profile  b ]\ny=2\n  nested = 3\n";
        assert_eq!(ini_section(text, "a"), Some(vec![("x".into(), "1".into())]));
        assert_eq!(ini_section(text, "profile b"), Some(vec![("y".into(), "2".into())]));
        assert_eq!(ini_section(text, "c"), None);
    }
}
