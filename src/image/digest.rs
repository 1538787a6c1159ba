//! Content digests and readers that verify them while the bytes stream past.
//!
//! Every blob is read exactly once: through a [`VerifyingReader`] that counts and
//! hashes, and refuses at EOF (or as soon as the size is exceeded) when the content
//! is not what the descriptor promised. Nothing is trusted before it is verified.

use anyhow::{Result, bail};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A `sha256:<64 hex>` content digest, validated on parse.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parse `sha256:<64 lowercase hex>`; other algorithms are refused with a clear error.
    pub fn parse(s: &str) -> Result<Digest> {
        let Some(hex) = s.strip_prefix("sha256:") else {
            bail!("unsupported digest {s:?}: only sha256:<64 hex digits> is supported");
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            bail!("malformed digest {s:?}: expected sha256:<64 lowercase hex digits>");
        }
        Ok(Digest(s.to_string()))
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(data))
    }

    /// Finish a hasher into a digest.
    pub fn from_hasher(h: Sha256) -> Digest {
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The 64 hex digits without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }

    /// The full `sha256:<hex>` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Chain ID of a layer on top of `parent` (OCI image spec): the diff ID for the
    /// bottom layer, else sha256 of "<parent chain> <diff id>".
    pub fn chain(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
        match parent {
            None => diff_id.clone(),
            Some(p) => Digest::of(format!("{} {}", p.0, diff_id.0).as_bytes()),
        }
    }
}

impl TryFrom<String> for Digest {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<Digest> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Why a verifying reader refused its stream (kept so the caller can report it
/// precisely even when the io::Error went through a decompressor or tar reader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// More bytes than the declared size (or than the configured limit).
    TooLarge { limit: u64 },
    /// EOF before the declared size.
    Truncated { expected: u64, got: u64 },
    /// The content hashed to something else.
    Mismatch { expected: Digest, got: Digest },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooLarge { limit } => write!(f, "more than {limit} bytes"),
            Refusal::Truncated { expected, got } => {
                write!(f, "truncated: {got} bytes, expected {expected}")
            }
            Refusal::Mismatch { expected, got } => {
                write!(f, "digest mismatch: expected {expected}, got {got}")
            }
        }
    }
}

/// Counts and hashes everything read through it; optionally enforces an exact size,
/// a maximum size and an expected digest. The outcome is available after EOF.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
    /// Exact size promised by a descriptor.
    expected_size: Option<u64>,
    /// Refuse past this many bytes (the decompression-bomb limit).
    max: Option<u64>,
    expected: Option<Digest>,
    /// The digest once EOF was reached.
    pub digest: Option<Digest>,
    /// Set when the stream was refused.
    pub refusal: Option<Refusal>,
    /// Shared byte counter (progress display).
    progress: Option<Arc<AtomicU64>>,
}

impl<R: Read> VerifyingReader<R> {
    /// Wrap `inner`; configure with the builder methods below.
    pub fn new(inner: R) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Sha256::new()),
            count: 0,
            expected_size: None,
            max: None,
            expected: None,
            digest: None,
            refusal: None,
            progress: None,
        }
    }
    /// Require exactly `n` bytes.
    pub fn size(mut self, n: u64) -> Self {
        self.expected_size = Some(n);
        self
    }
    /// Refuse more than `n` bytes.
    pub fn max(mut self, n: u64) -> Self {
        self.max = Some(n);
        self
    }
    /// Require this digest at EOF.
    pub fn digest(mut self, d: Option<Digest>) -> Self {
        self.expected = d;
        self
    }
    /// Add every byte read to `c`.
    pub fn progress(mut self, c: Option<Arc<AtomicU64>>) -> Self {
        self.progress = c;
        self
    }
    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn refuse(&mut self, r: Refusal) -> io::Error {
        let e = io::Error::new(io::ErrorKind::InvalidData, r.to_string());
        self.refusal = Some(r);
        e
    }

    /// Read to EOF, discarding: the tail a tar or gzip reader left unread still
    /// belongs to the blob and must be hashed.
    pub fn drain(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ())
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(r) = &self.refusal {
            return Err(io::Error::new(io::ErrorKind::InvalidData, r.to_string()));
        }
        if self.digest.is_some() || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            if let Some(exp) = self.expected_size
                && self.count != exp
            {
                return Err(self.refuse(Refusal::Truncated { expected: exp, got: self.count }));
            }
            let got = Digest::from_hasher(self.hasher.take().expect("hasher"));
            if let Some(exp) = &self.expected
                && *exp != got
            {
                let exp = exp.clone();
                return Err(self.refuse(Refusal::Mismatch { expected: exp, got }));
            }
            self.digest = Some(got);
            return Ok(0);
        }
        self.count += n as u64;
        for limit in [self.expected_size, self.max].into_iter().flatten() {
            if self.count > limit {
                return Err(self.refuse(Refusal::TooLarge { limit }));
            }
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        if let Some(p) = &self.progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// Read a whole small blob (index, manifest, config) with its size and digest verified.
pub fn read_verified<R: Read>(
    r: R,
    size: Option<u64>,
    max: u64,
    expected: Option<&Digest>,
) -> Result<(Vec<u8>, Digest)> {
    let mut v = VerifyingReader::new(r).max(max).digest(expected.cloned());
    if let Some(s) = size {
        v = v.size(s);
    }
    let mut buf = Vec::new();
    if let Err(e) = v.read_to_end(&mut buf) {
        match v.refusal.take() {
            Some(r) => bail!("{r}"),
            None => return Err(e.into()),
        }
    }
    let d = v.digest.take().expect("digest at EOF");
    Ok((buf, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_chain() {
        assert!(Digest::parse("sha256:abc").is_err());
        assert!(Digest::parse("md5:00").is_err());
        let d = Digest::of(b"");
        assert_eq!(d.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(Digest::chain(None, &d), d);
        let c = Digest::chain(Some(&d), &d);
        assert_eq!(c, Digest::of(format!("{d} {d}").as_bytes()));
    }

    #[test]
    fn verifying_reader_refuses() {
        let good = Digest::of(b"hello");
        assert!(read_verified(&b"hello"[..], Some(5), 100, Some(&good)).is_ok());
        let e = read_verified(&b"hello"[..], Some(4), 100, None).unwrap_err();
        assert!(e.to_string().contains("more than 4"), "{e}");
        let e = read_verified(&b"hell"[..], Some(5), 100, None).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = read_verified(&b"hellx"[..], Some(5), 100, Some(&good)).unwrap_err();
        assert!(e.to_string().contains("mismatch"), "{e}");
        let e = read_verified(&b"hello"[..], None, 3, None).unwrap_err();
        assert!(e.to_string().contains("more than 3"), "{e}");
    }
}
