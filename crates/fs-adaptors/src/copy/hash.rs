//! Streaming digests for verification and resume checks.

use hpc_core::ChecksumAlgorithm;
use md5::Digest;

/// An incremental SHA-256, SHA-1 or MD5.
#[derive(Debug, Clone)]
pub enum Hasher {
    /// SHA-256.
    Sha256(sha2::Sha256),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// MD5.
    Md5(md5::Md5),
}

impl Hasher {
    /// A fresh digest of `algorithm`.
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Md5 => Hasher::Md5(md5::Md5::new()),
        }
    }

    /// Feed bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
        }
    }

    /// The digest as lower-case hex.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => crate::hex(&h.finalize()),
            Hasher::Sha1(h) => crate::hex(&h.finalize()),
            Hasher::Md5(h) => crate::hex(&h.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let d = |a| {
            let mut h = Hasher::new(a);
            h.update(b"ab");
            h.update(b"c");
            h.finish()
        };
        assert_eq!(
            d(ChecksumAlgorithm::Sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d(ChecksumAlgorithm::Sha1), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(d(ChecksumAlgorithm::Md5), "900150983cd24fb0d6963f7d28e17f72");
    }
}
