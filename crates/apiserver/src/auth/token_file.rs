//! Static bearer tokens (`--token-auth-file`), upstream's CSV format:
//! `token,user,uid,"group1,group2"` (the group column is optional).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::UserInfo;

/// Tokens read from the file.
#[derive(Debug, Default)]
pub struct TokenFile {
    tokens: HashMap<String, UserInfo>,
}

/// Splits one CSV record: commas separate fields, double quotes quote them
/// (`""` is a literal quote), leading spaces are trimmed like Go's
/// `TrimLeadingSpace`.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    loop {
        let Some(c) = chars.next() else {
            if quoted {
                return Err("unterminated quoted field".into());
            }
            fields.push(std::mem::take(&mut cur));
            return Ok(fields);
        };
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            ',' => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            ' ' | '\t' if at_start => continue,
            '"' if at_start => quoted = true,
            c => cur.push(c),
        }
        at_start = false;
    }
}

impl TokenFile {
    /// Reads and parses the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --token-auth-file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses the CSV text.
    pub fn parse(text: &str) -> Result<Self> {
        let mut tokens = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let fields = csv_fields(line).map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
            if fields.len() < 3 {
                bail!(
                    "token file must have at least 3 columns (token, user name, user uid), found {} on line {}",
                    fields.len(),
                    n + 1
                );
            }
            let token = fields[0].clone();
            if token.is_empty() {
                tracing::warn!(line = n + 1, "skipping an empty token in the token file");
                continue;
            }
            let mut user = UserInfo {
                name: fields[1].clone(),
                uid: fields[2].clone(),
                ..Default::default()
            };
            if let Some(groups) = fields.get(3) {
                user.groups = csv_fields(groups)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|g| g.trim().to_string())
                    .filter(|g| !g.is_empty())
                    .collect();
            }
            if tokens.insert(token, user).is_some() {
                tracing::warn!(line = n + 1, "duplicate token in the token file");
            }
        }
        Ok(TokenFile { tokens })
    }

    /// The user of a token (constant-time comparison is not needed: the
    /// lookup is by hash of the whole token).
    pub fn lookup(&self, token: &str) -> Option<&UserInfo> {
        self.tokens.get(token)
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_format() {
        let f =
            TokenFile::parse("t1,alice,1001\n\n t2, bob,1002,\"dev,ops\"\nt3,carol,1003,admins\n")
                .unwrap();
        assert_eq!(f.len(), 3);
        let a = f.lookup("t1").unwrap();
        assert_eq!((a.name.as_str(), a.uid.as_str()), ("alice", "1001"));
        assert!(a.groups.is_empty());
        assert_eq!(f.lookup("t2").unwrap().groups, ["dev", "ops"]);
        assert_eq!(f.lookup("t2").unwrap().name, "bob");
        assert_eq!(f.lookup("t3").unwrap().groups, ["admins"]);
        assert!(f.lookup("nope").is_none());
    }

    #[test]
    fn rejects_short_and_broken_lines() {
        assert!(TokenFile::parse("t1,alice\n").is_err());
        assert!(TokenFile::parse("t1,alice,1,\"unterminated\n").is_err());
    }
}
