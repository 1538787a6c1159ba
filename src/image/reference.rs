//! Image names: `name[:tag]`, where a name without a tag means `:latest`.
//!
//! Names are kept as the user wrote them (no docker.io/library/ expansion): a local
//! store has no registry to disambiguate against.

use anyhow::{Result, bail};

/// A validated `name:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub tag: String,
}

impl Reference {
    /// Parse `name[:tag]` (the tag is after the last ':' that follows the last '/',
    /// so `localhost:5000/app` is a name with a port, not a tag).
    pub fn parse(s: &str) -> Result<Reference> {
        if s.contains('@') {
            bail!("invalid image name {s:?}: digest references (name@sha256:…) are not supported; use the image id");
        }
        let slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match s[slash..].rfind(':') {
            Some(i) => (&s[..slash + i], &s[slash + i + 1..]),
            None => (s, "latest"),
        };
        check_name(s, name)?;
        check_tag(s, tag)?;
        Ok(Reference { name: name.to_string(), tag: tag.to_string() })
    }

    /// True when `s` is only a tag (`latest`, `v1.2`): no '/', no ':'.
    pub fn is_bare_word(s: &str) -> bool {
        !s.contains('/') && !s.contains(':')
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

fn check_name(full: &str, name: &str) -> Result<()> {
    let ok_component = |c: &str, first: bool| {
        !c.is_empty()
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'.' | b'_' | b'-')
                    || (first && (b == b':' || b.is_ascii_uppercase()))
            })
    };
    let parts: Vec<&str> = name.split('/').collect();
    let multi = parts.len() > 1;
    let valid = name.len() <= 255
        && parts.iter().enumerate().all(|(i, c)| {
            ok_component(c, i == 0 && multi && (c.contains('.') || c.contains(':') || *c == "localhost"))
                || ok_component(c, false)
        });
    if !valid {
        bail!("invalid image name {full:?}: use lowercase letters, digits and . _ - separated by /, optionally :TAG");
    }
    Ok(())
}

fn check_tag(full: &str, tag: &str) -> Result<()> {
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        bail!("invalid tag in {full:?}: a tag is up to 128 letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(Reference::parse("base").unwrap().to_string(), "base:latest");
        assert_eq!(Reference::parse("base:v1").unwrap().to_string(), "base:v1");
        let r = Reference::parse("localhost:5000/a/b").unwrap();
        assert_eq!((r.name.as_str(), r.tag.as_str()), ("localhost:5000/a/b", "latest"));
        assert_eq!(Reference::parse("localhost:5000/a:x").unwrap().tag, "x");
        for bad in ["", "Base", "a//b", "a:", "a:-x", "a@sha256:00", "/a", "a/", "../x"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
