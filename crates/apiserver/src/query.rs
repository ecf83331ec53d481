//! Query parameters of API requests (upstream ListOptions, CreateOptions,
//! UpdateOptions, PatchOptions, DeleteOptions).

use std::collections::HashMap;

use corten_apimachinery::StatusError;

/// Parsed query string (last value wins, as upstream's decoder does for
/// scalar fields).
#[derive(Debug, Clone, Default)]
pub struct Query {
    values: HashMap<String, String>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut values = HashMap::new();
        if let Some(raw) = raw {
            for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
                values.insert(k.into_owned(), v.into_owned());
            }
        }
        Query { values }
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A non-empty raw value.
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean parameter (`true`/`1` are true; absent is false).
    pub fn flag(&self, key: &str) -> Result<bool, StatusError> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some("true") | Some("1") | Some("True") => Ok(true),
            Some("false") | Some("0") | Some("False") => Ok(false),
            Some(other) => Err(StatusError::bad_request(format!(
                "invalid value for {key}: {other:?} is not a boolean"
            ))),
        }
    }

    /// An optional integer parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, StatusError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                StatusError::bad_request(format!(
                    "invalid value for {key}: {v:?} is not an integer"
                ))
            }),
        }
    }

    /// `dryRun`: only `All` is defined upstream.
    pub fn dry_run(&self) -> Result<bool, StatusError> {
        let all: Vec<&str> = self
            .values
            .iter()
            .filter(|(k, _)| k.as_str() == "dryRun")
            .map(|(_, v)| v.as_str())
            .collect();
        match all.as_slice() {
            [] | [""] => Ok(false),
            ["All"] => Ok(true),
            [other, ..] => Err(StatusError::bad_request(format!(
                "Invalid dryRun: {other:?}: supported values: \"All\""
            ))),
        }
    }
}

/// Parses `resourceVersion` as an etcd revision ("" -> None).
pub fn parse_resource_version(rv: Option<&str>) -> Result<Option<i64>, StatusError> {
    match rv {
        None | Some("") => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(StatusError::bad_request(format!(
                "invalid resource version: {s:?}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_params() {
        let q = Query::parse(Some("limit=5&watch=true&labelSelector=a%3Db&dryRun=All"));
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert!(q.flag("watch").unwrap());
        assert_eq!(q.get("labelSelector"), Some("a=b"));
        assert!(q.dry_run().unwrap());
        assert!(Query::parse(Some("limit=x")).int("limit").is_err());
        assert!(Query::parse(Some("watch=maybe")).flag("watch").is_err());
        assert!(Query::parse(Some("dryRun=Some")).dry_run().is_err());
    }

    #[test]
    fn resource_versions() {
        assert_eq!(parse_resource_version(Some("")).unwrap(), None);
        assert_eq!(parse_resource_version(Some("12")).unwrap(), Some(12));
        assert_eq!(parse_resource_version(Some("abc")).unwrap_err().code, 400);
        assert_eq!(parse_resource_version(Some("-1")).unwrap_err().code, 400);
    }
}
