//! [`UserPreferences`]: which login, group and role a request asks for.

use hpc_core::{Error, Result};

/// The `X-UNICORE-User-Preferences` a client sends: the remote login (uid),
/// the primary group, the role and supplementary groups. Empty fields are left
/// to the server's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserPreferences {
    /// Remote login (`uid`).
    pub uid: Option<String>,
    /// Primary group (`group`).
    pub group: Option<String>,
    /// Role (`role`), e.g. `user`.
    pub role: Option<String>,
    /// Supplementary groups (`supgids`).
    pub supplementary_groups: Vec<String>,
}

impl UserPreferences {
    /// Ask for this remote login.
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    /// Ask for this primary group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Ask for this role.
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// Add a supplementary group.
    pub fn supplementary_group(mut self, group: impl Into<String>) -> Self {
        self.supplementary_groups.push(group.into());
        self
    }

    /// The header value: `uid:alice,group:hpc,role:user,supgids:a+b`.
    /// Values with `,`, `:`, `+` or control characters are refused (the server
    /// would misread them).
    pub fn header_value(&self) -> Result<String> {
        let mut parts = Vec::new();
        let check = |what: &str, v: &str| {
            if v.is_empty() || v.contains([',', ':', '+']) || v.chars().any(char::is_control) {
                Err(Error::InvalidInput(format!(
                    "user preference {what} {v:?} must be non-empty without ',', ':', '+' or control characters"
                )))
            } else {
                Ok(())
            }
        };
        for (key, value) in [("uid", &self.uid), ("group", &self.group), ("role", &self.role)] {
            if let Some(v) = value {
                check(key, v)?;
                parts.push(format!("{key}:{v}"));
            }
        }
        if !self.supplementary_groups.is_empty() {
            for g in &self.supplementary_groups {
                check("supgids", g)?;
            }
            parts.push(format!("supgids:{}", self.supplementary_groups.join("+")));
        }
        Ok(parts.join(","))
    }

    /// Parses a header value (the server side and the CLI's `-P` option).
    pub fn parse(text: &str) -> Result<Self> {
        let mut p = UserPreferences::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((key, value)) = item.split_once(':') else {
                return Err(Error::InvalidInput(format!(
                    "user preference {item:?} is not key:value"
                )));
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "uid" | "xlogin" => p.uid = Some(value.trim().to_owned()),
                "group" | "pgid" => p.group = Some(value.trim().to_owned()),
                "role" => p.role = Some(value.trim().to_owned()),
                "supgids" | "supplementarygroups" => {
                    p.supplementary_groups =
                        value.split('+').map(|g| g.trim().to_owned()).collect();
                }
                other => {
                    return Err(Error::InvalidInput(format!(
                        "unknown user preference {other:?} (uid, group, role, supgids)"
                    )));
                }
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let p = UserPreferences::default()
            .uid("alice")
            .group("hpc")
            .role("user")
            .supplementary_group("a")
            .supplementary_group("b");
        let text = p.header_value().unwrap();
        assert_eq!(text, "uid:alice,group:hpc,role:user,supgids:a+b");
        assert_eq!(UserPreferences::parse(&text).unwrap(), p);
        assert_eq!(
            UserPreferences::parse("XLOGIN:bob,pgid:g").unwrap().uid.as_deref(),
            Some("bob")
        );
        assert!(UserPreferences::default().uid("a,b").header_value().is_err());
        assert!(UserPreferences::parse("colour:red").is_err());
        assert!(UserPreferences::parse("uid").is_err());
    }
}
