//! What happens to one data stream's bytes between the framing and TCP:
//! writing is plaintext → gzip → encrypt, reading the reverse (UFTPD's order).

use std::io::Write as _;

use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder};

use crate::crypto::{Decryptor, EncryptionKey, Encryptor};

/// Compressed input is fed to the inflater in slices this large, so one slice
/// can grow to at most about a thousand times as much output.
const INFLATE_SLICE: usize = 4096;

/// The per-stream encoder (`None` in [`Encoder::new`] means a plain stream).
pub(crate) struct Encoder {
    gzip: Option<GzEncoder<Vec<u8>>>,
    cipher: Option<Encryptor>,
}

impl Encoder {
    /// An encoder, or `None` when the stream carries plain bytes.
    pub(crate) fn new(key: Option<&EncryptionKey>, compress: bool) -> Option<Encoder> {
        if key.is_none() && !compress {
            return None;
        }
        Some(Encoder {
            gzip: compress.then(|| GzEncoder::new(Vec::new(), Compression::fast())),
            cipher: key.map(EncryptionKey::encryptor),
        })
    }

    /// Appends the encoded form of `data` to `out`.
    pub(crate) fn update(&mut self, data: &[u8], out: &mut Vec<u8>) {
        match &mut self.gzip {
            Some(g) => {
                // Writing into a Vec cannot fail.
                let _ = g.write_all(data);
                let z = std::mem::take(g.get_mut());
                self.emit(&z, out);
            }
            None => self.emit(data, out),
        }
    }

    /// Ends the stream: gzip trailer, cipher padding.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(g) = &mut self.gzip {
            let _ = g.try_finish();
            let z = std::mem::take(g.get_mut());
            self.emit(&z, out);
        }
        if let Some(c) = &mut self.cipher {
            c.finish(out);
        }
    }

    fn emit(&mut self, data: &[u8], out: &mut Vec<u8>) {
        match &mut self.cipher {
            Some(c) => c.update(data, out),
            None => out.extend_from_slice(data),
        }
    }
}

/// The per-stream decoder.
pub(crate) struct Decoder {
    cipher: Option<Decryptor>,
    gzip: Option<GzDecoder<Vec<u8>>>,
    plain: Vec<u8>,
}

impl Decoder {
    /// A decoder, or `None` when the stream carries plain bytes.
    pub(crate) fn new(key: Option<&EncryptionKey>, compress: bool) -> Option<Decoder> {
        if key.is_none() && !compress {
            return None;
        }
        Some(Decoder {
            cipher: key.map(EncryptionKey::decryptor),
            gzip: compress.then(|| GzDecoder::new(Vec::new())),
            plain: Vec::new(),
        })
    }

    /// Appends the plaintext that `data` completes to `out`.
    pub(crate) fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        match &mut self.cipher {
            Some(c) => {
                let mut dec = std::mem::take(&mut self.plain);
                dec.clear();
                c.update(data, &mut dec);
                let r = self.inflate(&dec, out);
                self.plain = dec;
                r
            }
            None => self.inflate(data, out),
        }
    }

    /// At the end of the stream. A gzip stream that stops after a sync flush
    /// without its trailer is accepted (UFTPD's multi-stream sender does
    /// that); a cipher stream that stops short of its padding is not.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if let Some(c) = &mut self.cipher {
            let mut last = Vec::new();
            c.finish(&mut last)?;
            self.inflate(&last, out)?;
        }
        if let Some(g) = &mut self.gzip {
            match g.try_finish() {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                Err(e) => return Err(format!("gzip data is corrupt: {e}")),
            }
            out.append(g.get_mut());
        }
        Ok(())
    }

    fn inflate(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        match &mut self.gzip {
            Some(g) => {
                for slice in data.chunks(INFLATE_SLICE) {
                    g.write_all(slice).map_err(|e| format!("gzip data is corrupt: {e}"))?;
                    out.append(g.get_mut());
                }
                Ok(())
            }
            None => {
                out.extend_from_slice(data);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Algorithm;

    fn roundtrip(key: Option<&EncryptionKey>, compress: bool, finish: bool) {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
        let mut enc = Encoder::new(key, compress).unwrap();
        let mut wire = Vec::new();
        for c in data.chunks(10_000) {
            enc.update(c, &mut wire);
        }
        if finish {
            enc.finish(&mut wire);
        }
        let mut dec = Decoder::new(key, compress).unwrap();
        let mut out = Vec::new();
        for c in wire.chunks(777) {
            dec.update(c, &mut out).unwrap();
        }
        dec.finish(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn every_combination_roundtrips() {
        let aes = EncryptionKey::generate(Algorithm::Aes).unwrap();
        let bf = EncryptionKey::generate(Algorithm::Blowfish).unwrap();
        roundtrip(None, true, true);
        roundtrip(Some(&aes), false, true);
        roundtrip(Some(&bf), false, true);
        roundtrip(Some(&aes), true, true);
        roundtrip(Some(&bf), true, true);
        assert!(Encoder::new(None, false).is_none());
    }

    #[test]
    fn gzip_without_trailer_after_sync_flush_is_accepted() {
        let data = b"hello hello hello".repeat(100);
        let mut g = GzEncoder::new(Vec::new(), Compression::fast());
        g.write_all(&data).unwrap();
        g.flush().unwrap();
        let wire = g.get_ref().clone();
        let mut dec = Decoder::new(None, true).unwrap();
        let mut out = Vec::new();
        dec.update(&wire, &mut out).unwrap();
        dec.finish(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut dec = Decoder::new(None, true).unwrap();
        let mut out = Vec::new();
        let r = dec.update(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff\xff", &mut out);
        assert!(r.is_err() || dec.finish(&mut out).is_err());
    }
}
