//! Logging in on one hop with its [`Credential`].
//!
//! Each credential becomes a list of attempts (password, keyboard-interactive,
//! a key, the agent's keys); they run in order until the server accepts one,
//! skipping methods the server has said it does not offer. Partial success
//! (`AuthenticationMethods a,b`) simply continues with the next attempt. The
//! error names the methods tried and the server's list, never a secret.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hpc_auth::{Credential, PromptResponder, SSH_CREDENTIAL_KINDS, Secret};
use hpc_core::{Error, Result};
use russh::client::{AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{Certificate, HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use russh::{MethodKind, MethodSet};

use super::errors::lost;
use super::handler::ClientHandler;
use super::resolve::{HopPlan, home_dir, local_user};

/// Keyboard-interactive rounds accepted before giving up (PAM stacks ask a
/// few questions, a looping server must not hang the client).
const MAX_KBD_ROUNDS: usize = 16;
/// Partial successes accepted in one login (`AuthenticationMethods a,b,c`).
const MAX_PARTIAL: usize = 8;

#[derive(Clone)]
enum Attempt {
    None,
    Password(Secret),
    KbdPassword(Secret),
    KbdResponder(Arc<dyn PromptResponder>),
    Key { label: String, key: Arc<PrivateKey> },
    Cert { label: String, key: Arc<PrivateKey>, cert: Box<Certificate> },
    Agent,
}

impl Attempt {
    fn method(&self) -> MethodKind {
        match self {
            Attempt::None => MethodKind::None,
            Attempt::Password(_) => MethodKind::Password,
            Attempt::KbdPassword(_) | Attempt::KbdResponder(_) => MethodKind::KeyboardInteractive,
            Attempt::Key { .. } | Attempt::Cert { .. } | Attempt::Agent => MethodKind::PublicKey,
        }
    }

    fn label(&self) -> String {
        match self {
            Attempt::None => "none".into(),
            Attempt::Password(_) => "password".into(),
            Attempt::KbdPassword(_) | Attempt::KbdResponder(_) => "keyboard-interactive".into(),
            Attempt::Key { label, .. } => format!("publickey ({label})"),
            Attempt::Cert { label, .. } => format!("certificate ({label})"),
            Attempt::Agent => "publickey (agent)".into(),
        }
    }
}

enum Outcome {
    Success,
    Failure {
        remaining: MethodSet,
        partial: bool,
    },
    /// Nothing reached the server (no agent, responder gave up early).
    Skipped,
}

struct Login<'a> {
    handle: &'a mut Handle<ClientHandler>,
    agent: Option<PathBuf>,
    user: String,
    host: String,
    notes: Vec<String>,
}

/// The login name for a hop: the location's, else the credential's, else the
/// ssh config's, else the local user's.
pub(crate) fn user_for(hop: &HopPlan, cred: &Credential) -> String {
    hop.user
        .clone()
        .or_else(|| cred.username().map(str::to_owned))
        .or_else(|| hop.config_user.clone())
        .unwrap_or_else(local_user)
}

/// Log in on `handle` (already past key exchange) as the hop's user.
pub(crate) async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    hop: &HopPlan,
    cred: &Credential,
) -> Result<String> {
    let user = user_for(hop, cred);
    let host = hop.label();
    let mut login = Login {
        handle,
        agent: hop.agent.clone(),
        user: user.clone(),
        host: host.clone(),
        notes: Vec::new(),
    };
    let attempts = attempts_for(cred, hop, &user, &host, &mut login.notes)?;
    let mut remaining: Option<MethodSet> = None;
    let mut tried: Vec<String> = Vec::new();
    let mut partials = 0;
    let mut i = 0;
    while let Some(attempt) = attempts.get(i) {
        if let Some(r) = &remaining
            && !r.contains(&attempt.method())
        {
            i += 1;
            continue;
        }
        let label = attempt.label();
        if !tried.contains(&label) {
            tried.push(label);
        }
        match login.run(attempt.clone()).await? {
            Outcome::Success => {
                tracing::debug!(%host, %user, methods = %tried.join(", "), "authenticated");
                return Ok(user);
            }
            Outcome::Failure { remaining: r, partial } => {
                // `AuthenticationMethods keyboard-interactive,keyboard-interactive`
                // (or password then a code) asks the same kind again after a
                // partial success; a key is never accepted twice.
                let again = partial
                    && partials < MAX_PARTIAL
                    && attempt.method() != MethodKind::PublicKey
                    && r.contains(&attempt.method());
                if partial {
                    partials += 1;
                }
                remaining = Some(r);
                if !again {
                    i += 1;
                }
            }
            Outcome::Skipped => i += 1,
        }
    }
    let mut reason = if tried.is_empty() {
        match cred {
            Credential::Default { .. } => "found no ssh-agent and no key file (~/.ssh/id_ed25519, \
                                           id_rsa, id_ecdsa, IdentityFile)"
                .to_owned(),
            _ => format!("no usable method for the {} credential", cred.kind()),
        }
    } else {
        format!("tried {}", tried.join(", "))
    };
    if let Some(r) = remaining.as_ref().filter(|r| !r.is_empty()) {
        let offered: Vec<&str> = r.iter().map(<&str>::from).collect();
        reason.push_str(&format!("; server accepts {}", offered.join(",")));
    }
    for note in &login.notes {
        reason.push_str("; ");
        reason.push_str(note);
    }
    Err(Error::Authentication { user, host, reason })
}

fn attempts_for(
    cred: &Credential,
    hop: &HopPlan,
    user: &str,
    host: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Attempt>> {
    let auth_err = |reason: String| Error::Authentication {
        user: user.to_owned(),
        host: host.to_owned(),
        reason,
    };
    Ok(match cred {
        Credential::Password { password, .. } | Credential::Basic { password, .. } => {
            vec![Attempt::Password(password.clone()), Attempt::KbdPassword(password.clone())]
        }
        Credential::KeyboardInteractive { responder, .. } => {
            vec![Attempt::KbdResponder(responder.clone())]
        }
        Credential::KeyFile { path, passphrase, .. } => {
            let key = load_key(path, passphrase.as_ref()).map_err(auth_err)?;
            let mut v = Vec::new();
            if let Some(cert) = cert_beside(path) {
                v.push(Attempt::Cert {
                    label: label(path),
                    key: key.clone(),
                    cert: Box::new(cert),
                });
            }
            v.push(Attempt::Key { label: label(path), key });
            v
        }
        Credential::Certificate { key, certificate, passphrase, .. } => {
            let k = load_key(key, passphrase.as_ref()).map_err(auth_err)?;
            let cert = russh::keys::load_openssh_certificate(certificate).map_err(|e| {
                auth_err(format!("cannot read certificate {}: {e}", certificate.display()))
            })?;
            vec![Attempt::Cert { label: label(certificate), key: k, cert: Box::new(cert) }]
        }
        Credential::Agent { .. } => vec![Attempt::Agent],
        Credential::Default { .. } => default_attempts(hop, notes),
        Credential::Anonymous => vec![Attempt::None],
        other => {
            return Err(auth_err(format!(
                "a {} credential cannot log in over SSH (it takes {SSH_CREDENTIAL_KINDS})",
                other.kind()
            )));
        }
    })
}

/// Agent first, then the config's `IdentityFile`s, then the usual key files.
fn default_attempts(hop: &HopPlan, notes: &mut Vec<String>) -> Vec<Attempt> {
    let mut v = Vec::new();
    if hop.agent.is_some() {
        v.push(Attempt::Agent);
    }
    let mut files: Vec<PathBuf> = hop.identity_files.clone();
    if let Some(home) = home_dir() {
        for name in ["id_ed25519", "id_rsa", "id_ecdsa"] {
            files.push(home.join(".ssh").join(name));
        }
    }
    let mut seen = Vec::new();
    for path in files {
        if seen.contains(&path) || !path.exists() {
            continue;
        }
        seen.push(path.clone());
        match load_key(&path, None) {
            Ok(key) => {
                if let Some(cert) = cert_beside(&path) {
                    v.push(Attempt::Cert {
                        label: label(&path),
                        key: key.clone(),
                        cert: Box::new(cert),
                    });
                }
                v.push(Attempt::Key { label: label(&path), key });
            }
            Err(reason) => notes.push(format!("skipped {reason}")),
        }
    }
    v
}

fn label(path: &Path) -> String {
    path.display().to_string()
}

fn load_key(
    path: &Path,
    passphrase: Option<&Secret>,
) -> std::result::Result<Arc<PrivateKey>, String> {
    match russh::keys::load_secret_key(path, passphrase.map(Secret::expose)) {
        Ok(k) => Ok(Arc::new(k)),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            Err(format!("key file {} is encrypted and no passphrase was given", path.display()))
        }
        Err(russh::keys::Error::IO(e)) => {
            Err(format!("cannot read key file {}: {e}", path.display()))
        }
        Err(e) if passphrase.is_some() => {
            Err(format!("cannot decrypt key file {} (wrong passphrase?): {e}", path.display()))
        }
        Err(e) => Err(format!("cannot parse key file {}: {e}", path.display())),
    }
}

/// `<key>-cert.pub` next to a private key, if it parses.
fn cert_beside(key: &Path) -> Option<Certificate> {
    let mut name = key.as_os_str().to_owned();
    name.push("-cert.pub");
    russh::keys::load_openssh_certificate(PathBuf::from(name)).ok()
}

fn failure(r: AuthResult) -> Outcome {
    match r {
        AuthResult::Success => Outcome::Success,
        AuthResult::Failure { remaining_methods, partial_success } => {
            Outcome::Failure { remaining: remaining_methods, partial: partial_success }
        }
    }
}

impl Login<'_> {
    async fn run(&mut self, attempt: Attempt) -> Result<Outcome> {
        let user = self.user.clone();
        let host = self.host.clone();
        let r = match attempt {
            Attempt::None => self.handle.authenticate_none(user).await,
            Attempt::Password(pw) => {
                self.handle.authenticate_password(user, pw.expose().to_owned()).await
            }
            Attempt::KbdPassword(pw) => return self.keyboard(Answerer::Password(pw)).await,
            Attempt::KbdResponder(r) => return self.keyboard(Answerer::Responder(r)).await,
            Attempt::Key { key, .. } => {
                let hash = self.rsa_hash(&key).await;
                self.handle
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
                    .await
            }
            Attempt::Cert { key, cert, .. } => {
                self.handle.authenticate_openssh_cert(user, key, *cert).await
            }
            Attempt::Agent => return self.agent().await,
        };
        r.map(failure).map_err(|e| lost(&host, e))
    }

    async fn rsa_hash(&self, key: &PrivateKey) -> Option<HashAlg> {
        if !key.algorithm().is_rsa() {
            return None;
        }
        match self.handle.best_supported_rsa_hash().await {
            Ok(Some(alg)) => alg,
            // No server-sig-algs: every current server takes SHA-512 RSA signatures.
            _ => Some(HashAlg::Sha512),
        }
    }

    async fn agent(&mut self) -> Result<Outcome> {
        let Some(socket) = self.agent.clone() else {
            self.notes.push("no ssh-agent (SSH_AUTH_SOCK is not set)".into());
            return Ok(Outcome::Skipped);
        };
        let mut agent = match AgentClient::connect_uds(&socket).await {
            Ok(a) => a,
            Err(e) => {
                self.notes.push(format!("ssh-agent unavailable: {e}"));
                return Ok(Outcome::Skipped);
            }
        };
        let identities = match agent.request_identities().await {
            Ok(ids) => ids,
            Err(e) => {
                self.notes.push(format!("ssh-agent: {e}"));
                return Ok(Outcome::Skipped);
            }
        };
        if identities.is_empty() {
            self.notes.push("ssh-agent holds no keys".into());
        }
        let mut last = Outcome::Skipped;
        for id in identities {
            let user = self.user.clone();
            let r = match &id {
                AgentIdentity::PublicKey { key, .. } => {
                    let hash = if key.algorithm().is_rsa() {
                        match self.handle.best_supported_rsa_hash().await {
                            Ok(Some(alg)) => alg,
                            _ => Some(HashAlg::Sha512),
                        }
                    } else {
                        None
                    };
                    self.handle
                        .authenticate_publickey_with(user, key.clone(), hash, &mut agent)
                        .await
                }
                AgentIdentity::Certificate { certificate, .. } => {
                    self.handle
                        .authenticate_certificate_with(user, certificate.clone(), None, &mut agent)
                        .await
                }
            };
            match r {
                Ok(AuthResult::Success) => return Ok(Outcome::Success),
                Ok(AuthResult::Failure { remaining_methods, partial_success }) => {
                    let stop =
                        partial_success || !remaining_methods.contains(&MethodKind::PublicKey);
                    last =
                        Outcome::Failure { remaining: remaining_methods, partial: partial_success };
                    if stop {
                        break;
                    }
                }
                Err(e) => self.notes.push(format!("ssh-agent could not sign: {e}")),
            }
        }
        Ok(last)
    }

    async fn keyboard(&mut self, answerer: Answerer) -> Result<Outcome> {
        let host = self.host.clone();
        let mut resp = self
            .handle
            .authenticate_keyboard_interactive_start(self.user.clone(), None::<String>)
            .await
            .map_err(|e| lost(&host, e))?;
        for _ in 0..MAX_KBD_ROUNDS {
            match resp {
                KeyboardInteractiveAuthResponse::Success => return Ok(Outcome::Success),
                KeyboardInteractiveAuthResponse::Failure { remaining_methods, partial_success } => {
                    return Ok(Outcome::Failure {
                        remaining: remaining_methods,
                        partial: partial_success,
                    });
                }
                KeyboardInteractiveAuthResponse::InfoRequest { name, instructions, prompts } => {
                    let prompts: Vec<(String, bool)> =
                        prompts.into_iter().map(|p| (p.prompt, p.echo)).collect();
                    let answers = if prompts.is_empty() {
                        Vec::new()
                    } else {
                        answerer
                            .answer(&self.user, name, instructions, prompts, &mut self.notes)
                            .await
                    };
                    resp = self
                        .handle
                        .authenticate_keyboard_interactive_respond(answers)
                        .await
                        .map_err(|e| lost(&host, e))?;
                }
            }
        }
        self.notes.push("too many keyboard-interactive rounds".into());
        Ok(Outcome::Skipped)
    }
}

enum Answerer {
    Password(Secret),
    Responder(Arc<dyn PromptResponder>),
}

impl Answerer {
    async fn answer(
        &self,
        user: &str,
        name: String,
        instructions: String,
        prompts: Vec<(String, bool)>,
        notes: &mut Vec<String>,
    ) -> Vec<String> {
        let n = prompts.len();
        match self {
            // Hidden prompts want the password; a visible one is a user-name question.
            Answerer::Password(pw) => prompts
                .iter()
                .map(|(_, echo)| if *echo { user.to_owned() } else { pw.expose().to_owned() })
                .collect(),
            Answerer::Responder(r) => {
                let r = r.clone();
                // Responders may block on a terminal: keep them off the runtime's threads.
                let answer =
                    tokio::task::spawn_blocking(move || r.respond(&name, &instructions, &prompts))
                        .await
                        .ok()
                        .flatten();
                match answer {
                    Some(a) if a.len() == n => a.iter().map(|s| s.expose().to_owned()).collect(),
                    _ => {
                        notes.push("the prompt responder gave no answer".into());
                        vec![String::new(); n]
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hpc_auth::CredentialKind;

    use super::*;

    /// What `SSH_CREDENTIAL_KINDS` (the capability tables' row) says is
    /// what a login takes.
    #[test]
    fn the_declared_kinds_are_the_accepted_ones() {
        let hop = HopPlan {
            alias: "h".into(),
            host: "h".into(),
            port: 22,
            user: None,
            config_user: None,
            identity_files: Vec::new(),
            known_hosts: Vec::new(),
            agent: None,
        };
        for kind in CredentialKind::ALL {
            let cred = Credential::example(kind);
            let refused = match attempts_for(&cred, &hop, "u", "h:22", &mut Vec::new()) {
                Ok(_) => false,
                Err(e) => e.to_string().contains("cannot log in over SSH"),
            };
            assert_eq!(refused, !SSH_CREDENTIAL_KINDS.contains(kind), "{kind}");
        }
    }
}
