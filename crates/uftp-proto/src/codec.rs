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

/// What [`Decoder::update`] did with the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// `data[..n]` holds plaintext now (decrypted in place): hand it on as is.
    InPlace(usize),
    /// The first `n` bytes of `data` are used up; their plaintext went to `out`.
    Consumed(usize),
}

/// The per-stream decoder. It works on the reader's buffer: a cipher-only
/// stream is decrypted where it lies, so its plaintext is never copied.
pub(crate) struct Decoder {
    cipher: Option<Decryptor>,
    gzip: Option<GzDecoder<Vec<u8>>>,
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
        })
    }

    /// Whether the stream is gzip'ed (its output can be many times its input).
    pub(crate) fn inflates(&self) -> bool {
        self.gzip.is_some()
    }

    /// Decodes what it can of `data`, the stream's bytes not used up yet
    /// (what an earlier call left over comes first). Bytes beyond the
    /// returned count wait for more.
    pub(crate) fn update(&mut self, data: &mut [u8], out: &mut Vec<u8>) -> Result<Decoded, String> {
        let ready = match &mut self.cipher {
            Some(c) => c.release(data),
            None => data.len(),
        };
        if self.gzip.is_some() {
            self.inflate(&data[..ready], out)?;
            Ok(Decoded::Consumed(ready))
        } else {
            Ok(Decoded::InPlace(ready))
        }
    }

    /// At the end of the stream, with `rest` the bytes [`Decoder::update`]
    /// left over. A gzip stream that stops after a sync flush without its
    /// trailer is accepted (UFTPD's multi-stream sender does that); a cipher
    /// stream that stops short of its padding is not.
    pub(crate) fn finish(&mut self, rest: &mut [u8], out: &mut Vec<u8>) -> Result<(), String> {
        match &mut self.cipher {
            Some(c) => {
                let n = c.finish(rest)?;
                self.inflate(&rest[..n], out)?;
            }
            None => self.inflate(rest, out)?,
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

    /// Decodes a whole stream fed in pieces of `piece` bytes, keeping what
    /// the decoder leaves unconsumed in front of the next piece (as a data
    /// connection's reader does).
    fn decode_all(mut dec: Decoder, wire: &[u8], piece: usize) -> Result<Vec<u8>, String> {
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for c in wire.chunks(piece) {
            pending.extend_from_slice(c);
            let used = match dec.update(&mut pending, &mut out)? {
                Decoded::InPlace(n) => {
                    out.extend_from_slice(&pending[..n]);
                    n
                }
                Decoded::Consumed(n) => n,
            };
            pending.drain(..used);
        }
        dec.finish(&mut pending, &mut out)?;
        Ok(out)
    }

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
        let out = decode_all(Decoder::new(key, compress).unwrap(), &wire, 777).unwrap();
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
        let out = decode_all(Decoder::new(None, true).unwrap(), &wire, wire.len()).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let wire = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff\xff";
        assert!(decode_all(Decoder::new(None, true).unwrap(), wire, 4).is_err());
    }
}
