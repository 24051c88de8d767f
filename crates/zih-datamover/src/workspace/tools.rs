//! [`Workspaces`]: the hpc-workspace tools over any executor.

use std::sync::Arc;

use hpc_core::{Error, NotFoundKind, Result};
use hpc_exec::{Command, Executor, Output};
use serde::Serialize;

use super::parse::{
    Allocation, Restorable, WorkspaceInfo, parse_allocation, parse_restorable, parse_ws_list,
};
use crate::config::{WorkspaceConfig, program_path};

/// What an [`Error::NotFound`] for a workspace names: a resource of these
/// tools, not a path (`hpckit ws` exits 66 for it, as for any missing thing).
pub const WORKSPACE: NotFoundKind = NotFoundKind::Resource("workspace");

/// The workspace tools (`ws_allocate`, `ws_list`, ...) of one login node.
#[derive(Debug, Clone)]
pub struct Workspaces {
    exec: Arc<dyn Executor>,
    config: WorkspaceConfig,
}

/// What `ws_allocate` is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AllocateRequest {
    /// Workspace name: letters, digits, `-`, `.` and `_`.
    pub name: String,
    /// Lifetime in days (the file system caps it).
    pub duration_days: u32,
    /// `-F`: the workspace file system; the site's default when `None`.
    pub filesystem: Option<String>,
    /// `-r`: send a reminder mail this many days before expiry.
    pub reminder_days: Option<u32>,
    /// `-m`: where the reminder goes (needs `reminder_days`).
    pub mail: Option<String>,
    /// `-c`: a comment shown by `ws_list`.
    pub comment: Option<String>,
}

impl AllocateRequest {
    /// A workspace `name` for `duration_days` on the default file system.
    pub fn new(name: impl Into<String>, duration_days: u32) -> Self {
        AllocateRequest {
            name: name.into(),
            duration_days,
            filesystem: None,
            reminder_days: None,
            mail: None,
            comment: None,
        }
    }

    /// `-F`.
    pub fn filesystem(mut self, fs: impl Into<String>) -> Self {
        self.filesystem = Some(fs.into());
        self
    }

    /// `-r` and `-m`.
    pub fn reminder(mut self, days: u32, mail: Option<String>) -> Self {
        self.reminder_days = Some(days);
        self.mail = mail;
        self
    }

    /// `-c`.
    pub fn comment(mut self, text: impl Into<String>) -> Self {
        self.comment = Some(text.into());
        self
    }
}

/// What `ws_list` is asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `-F`: only this file system.
    pub filesystem: Option<String>,
    /// A name pattern (glob).
    pub pattern: Option<String>,
    /// `-g`: also group workspaces.
    pub group: bool,
    /// `-v`: also reminder, mail address (and the accounting code on 1.x).
    pub verbose: bool,
    /// `-s`: names only.
    pub short: bool,
}

/// Workspace names the tools accept (their own check, done before sending).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "illegal workspace name {name:?}: use letters, digits, '-', '.' and '_' only"
        )))
    }
}

fn validate_word(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.starts_with('-') || v.contains(char::is_whitespace) {
        return Err(Error::InvalidInput(format!("invalid {what} {v:?}")));
    }
    Ok(())
}

impl Workspaces {
    /// The workspace tools of the host `exec` runs commands on.
    pub fn new(exec: Arc<dyn Executor>, config: WorkspaceConfig) -> Self {
        Workspaces { exec, config }
    }

    /// The executor commands run through.
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.exec
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program_path(self.config.bin_dir.as_deref(), program));
        for (k, v) in &self.config.env {
            c = c.env(k.clone(), v);
        }
        c
    }

    async fn run(&self, cmd: Command, workspace: Option<&str>) -> Result<Output> {
        let out = self.exec.run(&cmd).await?;
        if out.status.success() {
            return Ok(out);
        }
        let err = out.stderr_text();
        if let Some(name) = workspace
            && (err.contains("does not exist") || err.contains("no such workspace"))
        {
            return Err(Error::NotFound { kind: WORKSPACE, name: name.to_owned() });
        }
        out.check(&cmd)
    }

    /// `ws_allocate`: creates the workspace, or reuses an existing one of
    /// that name (`reused` says which), and returns its directory.
    pub async fn allocate(&self, req: &AllocateRequest) -> Result<Allocation> {
        validate_name(&req.name)?;
        if req.duration_days == 0 {
            return Err(Error::InvalidInput(
                "a workspace needs a duration of at least one day".into(),
            ));
        }
        if req.mail.is_some() && req.reminder_days.is_none() {
            return Err(Error::InvalidInput("a reminder mail address needs reminder days".into()));
        }
        let mut cmd = self.command("ws_allocate");
        if let Some(fs) = &req.filesystem {
            validate_word("file system", fs)?;
            cmd = cmd.arg("-F").arg(fs);
        }
        if let Some(days) = req.reminder_days {
            cmd = cmd.arg("-r").arg(days.to_string());
        }
        if let Some(mail) = &req.mail {
            validate_word("mail address", mail)?;
            cmd = cmd.arg("-m").arg(mail);
        }
        if let Some(c) = &req.comment {
            cmd = cmd.arg("-c").arg(c);
        }
        let cmd = cmd.arg(&req.name).arg(req.duration_days.to_string());
        let out = self.run(cmd, None).await?;
        parse_allocation(&out.stdout_text(), &out.stderr_text())
    }

    /// `ws_list`, typed (every layout of the tool's versions).
    pub async fn list(&self, opts: &ListOptions) -> Result<Vec<WorkspaceInfo>> {
        let mut cmd = self.command("ws_list");
        if let Some(fs) = &opts.filesystem {
            validate_word("file system", fs)?;
            cmd = cmd.arg("-F").arg(fs);
        }
        for (on, flag) in [(opts.group, "-g"), (opts.verbose, "-v"), (opts.short, "-s")] {
            if on {
                cmd = cmd.arg(flag);
            }
        }
        if let Some(p) = &opts.pattern {
            validate_word("pattern", p)?;
            cmd = cmd.arg(p);
        }
        let out = self.run(cmd, None).await?;
        parse_ws_list(&out.stdout_text(), opts.short)
    }

    /// The one workspace called `name` (not-found if there is none).
    pub async fn get(&self, name: &str, filesystem: Option<&str>) -> Result<WorkspaceInfo> {
        validate_name(name)?;
        let opts = ListOptions {
            filesystem: filesystem.map(str::to_owned),
            pattern: Some(name.to_owned()),
            ..Default::default()
        };
        self.list(&opts)
            .await?
            .into_iter()
            .find(|w| w.id == name)
            .ok_or_else(|| Error::NotFound { kind: WORKSPACE, name: name.to_owned() })
    }

    /// `ws_extend`: sets the lifetime to `days` from now, using up one extension.
    pub async fn extend(
        &self,
        name: &str,
        days: u32,
        filesystem: Option<&str>,
    ) -> Result<Allocation> {
        validate_name(name)?;
        let mut cmd = self.command("ws_extend");
        if let Some(fs) = filesystem {
            validate_word("file system", fs)?;
            cmd = cmd.arg("-F").arg(fs);
        }
        let out = self.run(cmd.arg(name).arg(days.to_string()), Some(name)).await?;
        parse_allocation(&out.stdout_text(), &out.stderr_text())
    }

    /// `ws_release`: hides the workspace; its data is deleted later (and can
    /// be restored until then).
    pub async fn release(&self, name: &str, filesystem: Option<&str>) -> Result<()> {
        validate_name(name)?;
        let mut cmd = self.command("ws_release");
        if let Some(fs) = filesystem {
            validate_word("file system", fs)?;
            cmd = cmd.arg("-F").arg(fs);
        }
        self.run(cmd.arg(name), Some(name)).await.map(drop)
    }

    /// `ws_find`: the directory of workspace `name`.
    pub async fn find(&self, name: &str, filesystem: Option<&str>) -> Result<String> {
        validate_name(name)?;
        let mut cmd = self.command("ws_find");
        if let Some(fs) = filesystem {
            validate_word("file system", fs)?;
            cmd = cmd.arg("-F").arg(fs);
        }
        let out = self.run(cmd.arg(name), Some(name)).await?;
        let text = out.stdout_text();
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with('/'))
            .map(str::to_owned)
            .ok_or_else(|| Error::parse("ws_find", "no directory in the output", text.into_owned()))
    }

    /// `ws_restore -l`: released and expired workspaces that can come back.
    pub async fn restorable(&self, filesystem: Option<&str>) -> Result<Vec<Restorable>> {
        let mut cmd = self.command("ws_restore").arg("-l");
        if let Some(fs) = filesystem {
            validate_word("file system", fs)?;
            cmd = cmd.arg("-F").arg(fs);
        }
        let out = self.run(cmd, None).await?;
        parse_restorable(&out.stdout_text())
    }

    /// `ws_restore ID TARGET`: moves the data of a released workspace (`id`
    /// as [`Workspaces::restorable`] names it) into the existing workspace `target`.
    pub async fn restore(&self, id: &str, target: &str, filesystem: Option<&str>) -> Result<()> {
        validate_name(id)?;
        validate_name(target)?;
        let mut cmd = self.command("ws_restore");
        if let Some(fs) = filesystem {
            validate_word("file system", fs)?;
            cmd = cmd.arg("-F").arg(fs);
        }
        let out = self.run(cmd.arg(id).arg(target), Some(id)).await?;
        // ws_restore reports some failures on stderr with exit code 0.
        let err = out.stderr_text();
        if err.contains("Error:") {
            if err.contains("does not exist") {
                return Err(Error::NotFound { kind: WORKSPACE, name: id.to_owned() });
            }
            return Err(Error::CommandFailed {
                command: format!("ws_restore {id} {target}"),
                exit_code: out.status.code,
                stderr: err.into_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_anything_runs() {
        for ok in ["cache", "a.b_c-1"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "-x", "a b", "a/b", "..;rm", "$(id)"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
