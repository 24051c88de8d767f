//! Data-connection encryption as UFTPD does it: the whole stream is one
//! message, Blowfish in ECB mode or AES in CBC mode, PKCS#5 padding only at the
//! end of the stream (always at least one byte). The key travels only in the
//! auth request; it never shows in `Debug`, logs or errors.

use aes::cipher::consts::U16;
use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt,
    BlockModeDecrypt, BlockSizeUser, InnerIvInit, KeyInit, ParBlocks,
};
use base64::Engine as _;
use hpc_core::{Error, Result};
use zeroize::Zeroizing;

/// Which cipher encrypts the data connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Blowfish, ECB mode, 56-byte key (UFTPD's default).
    Blowfish,
    /// AES, CBC mode; key material = 16-byte IV followed by a 16/24/32-byte key.
    Aes,
}

impl Algorithm {
    /// The name in the auth request (`BLOWFISH`, `AES`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Blowfish => "BLOWFISH",
            Algorithm::Aes => "AES",
        }
    }

    #[cfg(test)]
    fn block(self) -> usize {
        match self {
            Algorithm::Blowfish => 8,
            Algorithm::Aes => 16,
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "BLOWFISH" => Ok(Algorithm::Blowfish),
            "AES" => Ok(Algorithm::Aes),
            other => Err(Error::InvalidInput(format!(
                "encryption algorithm {other:?} is not one of BLOWFISH, AES"
            ))),
        }
    }
}

/// Key material for one session's data connections.
#[derive(Clone)]
pub struct EncryptionKey {
    algorithm: Algorithm,
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("algorithm", &self.algorithm)
            .field("bytes", &format_args!("<{} bytes, hidden>", self.bytes.len()))
            .finish()
    }
}

impl EncryptionKey {
    /// A fresh random key: 56 bytes for Blowfish (as UFTP's Java client),
    /// 16-byte IV + 32-byte key for AES.
    pub fn generate(algorithm: Algorithm) -> Result<Self> {
        let len = match algorithm {
            Algorithm::Blowfish => 56,
            Algorithm::Aes => 48,
        };
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(
            |_| Error::io("generating an encryption key", std::io::Error::other("no randomness")),
        )?;
        Self::from_bytes(algorithm, bytes.to_vec())
    }

    /// Key material as given; checks the length the algorithm needs.
    pub fn from_bytes(algorithm: Algorithm, bytes: Vec<u8>) -> Result<Self> {
        let bytes = Zeroizing::new(bytes);
        let ok = match algorithm {
            Algorithm::Blowfish => (4..=56).contains(&bytes.len()),
            Algorithm::Aes => matches!(bytes.len(), 32 | 40 | 48),
        };
        if !ok {
            return Err(Error::InvalidInput(format!(
                "a {} key cannot be {} bytes long (Blowfish: 4 to 56; AES: 16-byte IV + 16, 24 or 32)",
                algorithm.name(),
                bytes.len()
            )));
        }
        Ok(EncryptionKey { algorithm, bytes })
    }

    /// Key material from the auth request's base64 text; without an
    /// algorithm, UFTPD's rule: AES if 32, 40 or 48 bytes, else Blowfish.
    pub fn from_base64(text: &str, algorithm: Option<Algorithm>) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| Error::InvalidInput("the encryption key is not valid base64".into()))?;
        let algorithm = algorithm.unwrap_or(if matches!(bytes.len(), 32 | 40 | 48) {
            Algorithm::Aes
        } else {
            Algorithm::Blowfish
        });
        Self::from_bytes(algorithm, bytes)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key material as base64, for the auth request only.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*self.bytes))
    }

    pub(crate) fn encryptor(&self) -> Encryptor {
        Encryptor { mode: Mode::new(self), pending: Zeroizing::new(Vec::new()) }
    }

    pub(crate) fn decryptor(&self) -> Decryptor {
        Decryptor { mode: Mode::new(self) }
    }
}

enum Mode {
    Blowfish(Box<blowfish::Blowfish>),
    Aes128(Box<Aes<aes::Aes128>>),
    Aes192(Box<Aes<aes::Aes192>>),
    Aes256(Box<Aes<aes::Aes256>>),
}

/// AES in CBC mode: the cipher and the chain value for encrypting (done
/// here, see [`cbc_encrypt`]), `cbc`'s decryptor for decrypting (which
/// needs no chaining by hand: its blocks are independent).
struct Aes<C: BlockCipherDecrypt> {
    cipher: C,
    chain: Zeroizing<[u8; 16]>,
    dec: cbc::Decryptor<C>,
}

impl<C: BlockCipherEncrypt + BlockCipherDecrypt + KeyInit + Clone> Aes<C> {
    fn new(k: &[u8], iv: &[u8]) -> Box<Aes<C>> {
        let cipher = C::new_from_slice(k).expect("length checked");
        let chain = Zeroizing::new(iv.try_into().expect("16-byte IV"));
        let dec = cbc::Decryptor::inner_iv_slice_init(cipher.clone(), iv).expect("length checked");
        Box::new(Aes { cipher, chain, dec })
    }
}

impl Mode {
    fn new(key: &EncryptionKey) -> Mode {
        let b = &key.bytes[..];
        match key.algorithm {
            // Lengths were checked when the key was made.
            Algorithm::Blowfish => Mode::Blowfish(Box::new(
                blowfish::Blowfish::new_from_slice(b).expect("length checked"),
            )),
            Algorithm::Aes => {
                let (iv, k) = b.split_at(16);
                match k.len() {
                    16 => Mode::Aes128(Aes::new(k, iv)),
                    24 => Mode::Aes192(Aes::new(k, iv)),
                    _ => Mode::Aes256(Aes::new(k, iv)),
                }
            }
        }
    }

    fn block(&self) -> usize {
        match self {
            Mode::Blowfish(_) => 8,
            _ => 16,
        }
    }

    /// Encrypts whole blocks in place (`data.len()` is a multiple of the block).
    fn encrypt(&mut self, data: &mut [u8]) {
        match self {
            Mode::Blowfish(c) => c.encrypt_blocks(blocks8(data)),
            Mode::Aes128(a) => cbc_encrypt(&a.cipher, &mut [&mut a.chain], &mut [data]),
            Mode::Aes192(a) => cbc_encrypt(&a.cipher, &mut [&mut a.chain], &mut [data]),
            Mode::Aes256(a) => cbc_encrypt(&a.cipher, &mut [&mut a.chain], &mut [data]),
        }
    }

    fn decrypt(&mut self, data: &mut [u8]) {
        match self {
            Mode::Blowfish(c) => c.decrypt_blocks(blocks8(data)),
            Mode::Aes128(a) => a.dec.decrypt_blocks(blocks16(data)),
            Mode::Aes192(a) => a.dec.decrypt_blocks(blocks16(data)),
            Mode::Aes256(a) => a.dec.decrypt_blocks(blocks16(data)),
        }
    }
}

/// Chains encrypted side by side: as many as AES-NI keeps in flight.
const LANES: usize = 8;

/// CBC encryption of `bufs[k]` (whole 16-byte blocks) in place, chain `k`
/// going on from `chains[k]`. Each block of a chain waits for the one
/// before, so one chain runs at the latency of the AES instructions (about
/// 0.8 GiB/s per core for AES-256); taking one block of each chain in turn
/// lets the processor work on several at once, up to [`LANES`] of them.
/// The streams of a multi-stream transfer are such independent chains.
fn cbc_encrypt<C: BlockCipherEncrypt<BlockSize = U16>>(
    cipher: &C,
    chains: &mut [&mut Zeroizing<[u8; 16]>],
    bufs: &mut [&mut [u8]],
) {
    // Inside the backend, so that the processor's AES instructions are
    // picked once, not per block.
    cipher.encrypt_with_backend(Chains { chains, bufs });
}

/// [`cbc_encrypt`]'s work, run with the cipher's backend.
struct Chains<'a, 'b, 'c> {
    chains: &'a mut [&'b mut Zeroizing<[u8; 16]>],
    bufs: &'a mut [&'c mut [u8]],
}

impl BlockSizeUser for Chains<'_, '_, '_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for Chains<'_, '_, '_> {
    fn call<B: BlockCipherEncBackend<BlockSize = U16>>(self, backend: &B) {
        let Chains { chains, bufs } = self;
        if let ([chain], [buf]) = (&mut *chains, &mut *bufs) {
            // One chain: block after block, in place.
            let mut prev = u128::from_ne_bytes(***chain);
            for block in blocks16(buf) {
                let x = u128::from_ne_bytes((*block).into()) ^ prev;
                *block = x.to_ne_bytes().into();
                backend.encrypt_block_inplace(block);
                prev = u128::from_ne_bytes((*block).into());
            }
            ***chain = prev.to_ne_bytes();
            return;
        }
        let mut lanes = Zeroizing::new([Block16::default(); LANES]);
        let mut who = [0usize; LANES];
        for first in (0..bufs.len()).step_by(LANES) {
            let group = first..(first + LANES).min(bufs.len());
            let longest = group.clone().map(|k| bufs[k].len() / 16).max().unwrap_or(0);
            for at in (0..longest).map(|i| i * 16) {
                let mut n = 0;
                for k in group.clone() {
                    if let Some(p) = bufs[k].get(at..at + 16) {
                        let x = u128::from_ne_bytes(p.try_into().expect("16 bytes"))
                            ^ u128::from_ne_bytes(**chains[k]);
                        lanes[n] = x.to_ne_bytes().into();
                        who[n] = k;
                        n += 1;
                    }
                }
                // Independent blocks. The backend's batch of LANES runs
                // them truly side by side: worth it from three on, even
                // with lanes left idle; fewer go one by one.
                match <&mut ParBlocks<B>>::try_from(&mut lanes[..]) {
                    Ok(all) if n > 2 => backend.encrypt_par_blocks_inplace(all),
                    _ => {
                        for lane in &mut lanes[..n] {
                            backend.encrypt_block_inplace(lane);
                        }
                    }
                }
                for (lane, &k) in lanes[..n].iter().zip(&who[..n]) {
                    bufs[k][at..at + 16].copy_from_slice(lane);
                    chains[k].copy_from_slice(lane);
                }
            }
        }
    }
}

type Block8 = aes::cipher::Array<u8, aes::cipher::consts::U8>;
type Block16 = aes::cipher::Array<u8, aes::cipher::consts::U16>;

/// Whole 8-byte blocks of `data` as cipher blocks.
fn blocks8(data: &mut [u8]) -> &mut [Block8] {
    Block8::slice_as_chunks_mut(data).0
}

/// Whole 16-byte blocks of `data` as cipher blocks.
fn blocks16(data: &mut [u8]) -> &mut [Block16] {
    Block16::slice_as_chunks_mut(data).0
}

/// Encrypts one stream: whole blocks as they fill, padding at [`finish`](Encryptor::finish).
pub(crate) struct Encryptor {
    mode: Mode,
    pending: Zeroizing<Vec<u8>>,
}

impl Encryptor {
    /// Appends the ciphertext of `data` (whole blocks only) to `out`.
    pub(crate) fn update(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let bs = self.mode.block();
        let start = out.len();
        out.extend_from_slice(&self.pending);
        out.extend_from_slice(data);
        let whole = (out.len() - start) / bs * bs;
        self.pending.clear();
        self.pending.extend_from_slice(&out[start + whole..]);
        out.truncate(start + whole);
        self.mode.encrypt(&mut out[start..]);
    }

    /// Appends the last block with PKCS#5 padding.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.pending);
        out.extend(padding(self.mode.block(), self.pending.len()));
        self.pending.clear();
        self.mode.encrypt(&mut out[start..]);
    }
}

/// The encryption of all streams of one AES transfer at once: one cipher,
/// one CBC chain per stream, encrypted side by side (see [`cbc_encrypt`]),
/// several times as fast as one chain after the other.
pub(crate) struct AesStreams {
    /// An AES mode: its cipher serves every chain.
    mode: Mode,
    chains: Vec<Zeroizing<[u8; 16]>>,
}

impl AesStreams {
    /// For `streams` streams; `None` for a key that is not AES.
    pub(crate) fn new(key: &EncryptionKey, streams: usize) -> Option<AesStreams> {
        let mode = Mode::new(key);
        let iv = match &mode {
            Mode::Aes128(a) => a.chain.clone(),
            Mode::Aes192(a) => a.chain.clone(),
            Mode::Aes256(a) => a.chain.clone(),
            Mode::Blowfish(_) => return None,
        };
        Some(AesStreams { mode, chains: vec![iv; streams] })
    }

    /// Encrypts in place the next bytes of each stream: `bufs[k]` is whole
    /// blocks of stream `k`. A stream's end is its last bytes with
    /// [`aes_padding`], encrypted the same way.
    pub(crate) fn encrypt(&mut self, bufs: &mut [&mut [u8]]) {
        let mut chains: Vec<&mut Zeroizing<[u8; 16]>> = self.chains.iter_mut().collect();
        match &self.mode {
            Mode::Aes128(a) => cbc_encrypt(&a.cipher, &mut chains, bufs),
            Mode::Aes192(a) => cbc_encrypt(&a.cipher, &mut chains, bufs),
            Mode::Aes256(a) => cbc_encrypt(&a.cipher, &mut chains, bufs),
            Mode::Blowfish(_) => unreachable!("AesStreams::new takes AES keys only"),
        }
    }
}

/// PKCS#5 padding that ends a stream of `len` bytes in `bs`-byte blocks:
/// always at least one byte.
fn padding(bs: usize, len: usize) -> impl Iterator<Item = u8> {
    let pad = bs - len % bs;
    std::iter::repeat_n(pad as u8, pad)
}

/// The padding that ends an AES stream of `len` bytes.
pub(crate) fn aes_padding(len: usize) -> impl Iterator<Item = u8> {
    padding(16, len)
}

/// Decrypts one stream in place. The caller keeps the bytes not released
/// yet (the last block, which may carry the padding, and a partial block)
/// in front of the next bytes it reads, so no ciphertext is copied.
pub(crate) struct Decryptor {
    mode: Mode,
}

impl Decryptor {
    /// Decrypts in place every complete block of `data` (the stream's
    /// undecrypted bytes) except the last one and returns how many bytes
    /// that is: `data[..n]` is plaintext now, `data[n..]` waits for more.
    pub(crate) fn release(&mut self, data: &mut [u8]) -> usize {
        let bs = self.mode.block();
        // Keep at least one full block (it may be the padded one).
        let keep = match data.len() % bs {
            0 => bs,
            r => r + bs,
        };
        let ready = data.len().saturating_sub(keep);
        self.mode.decrypt(&mut data[..ready]);
        ready
    }

    /// At the end of the stream: decrypts the held last block in place and
    /// returns the length of its plaintext without the padding. `Err(reason)`
    /// for a truncated stream or bad padding.
    pub(crate) fn finish(&mut self, last: &mut [u8]) -> std::result::Result<usize, String> {
        let bs = self.mode.block();
        if last.len() != bs {
            return Err(format!(
                "the encrypted stream ends with {} bytes, not a whole {bs}-byte block",
                last.len()
            ));
        }
        self.mode.decrypt(last);
        let pad = usize::from(last[bs - 1]);
        if pad == 0 || pad > bs || !last[bs - pad..].iter().all(|&b| usize::from(b) == pad) {
            return Err(
                "the encrypted stream's padding is invalid (wrong key or corrupted data)".into()
            );
        }
        Ok(bs - pad)
    }
}

/// Decrypts a whole stream held in memory, fed in pieces of `piece` bytes
/// as a socket would deliver it.
#[cfg(test)]
pub(crate) fn decrypt_all(
    dec: &mut Decryptor,
    ct: &[u8],
    piece: usize,
) -> std::result::Result<Vec<u8>, String> {
    let mut pending = Vec::new();
    let mut pt = Vec::new();
    for c in ct.chunks(piece.max(1)) {
        pending.extend_from_slice(c);
        let n = dec.release(&mut pending);
        pt.extend_from_slice(&pending[..n]);
        pending.drain(..n);
    }
    let n = dec.finish(&mut pending)?;
    pt.extend_from_slice(&pending[..n]);
    Ok(pt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(alg: Algorithm, len: usize, piece: usize) {
        let key = EncryptionKey::generate(alg).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut enc = key.encryptor();
        let mut ct = Vec::new();
        for c in data.chunks(piece.max(1)) {
            enc.update(c, &mut ct);
        }
        enc.finish(&mut ct);
        assert_eq!(ct.len() % alg.block(), 0);
        assert!(ct.len() > len);
        let pt = decrypt_all(&mut key.decryptor(), &ct, piece.max(1) + 3).unwrap();
        assert_eq!(pt, data);
    }

    #[test]
    fn roundtrips() {
        for alg in [Algorithm::Blowfish, Algorithm::Aes] {
            for len in [0, 1, 7, 8, 15, 16, 17, 1000, 65536] {
                for piece in [1, 5, 16, 4096] {
                    roundtrip(alg, len, piece);
                }
            }
        }
    }

    #[test]
    fn aes_cbc_matches_a_known_vector() {
        // NIST SP 800-38A F.2.1 (CBC-AES128.Encrypt), first block.
        let mut material = hex("000102030405060708090a0b0c0d0e0f");
        material.extend(hex("2b7e151628aed2a6abf7158809cf4f3c"));
        let key = EncryptionKey::from_bytes(Algorithm::Aes, material).unwrap();
        let mut enc = key.encryptor();
        let mut ct = Vec::new();
        enc.update(&hex("6bc1bee22e409f96e93d7e117393172a"), &mut ct);
        assert_eq!(ct, hex("7649abac8119b246cee98e9b12e9197d"));
    }

    /// The `cbc` crate's encryption, as the reference for ours.
    fn reference_cbc(material: &[u8], data: &[u8]) -> Vec<u8> {
        use aes::cipher::{BlockModeEncrypt, KeyIvInit};
        let (iv, k) = material.split_at(16);
        let mut out = data.to_vec();
        match k.len() {
            16 => cbc::Encryptor::<aes::Aes128>::new_from_slices(k, iv)
                .unwrap()
                .encrypt_blocks(blocks16(&mut out)),
            24 => cbc::Encryptor::<aes::Aes192>::new_from_slices(k, iv)
                .unwrap()
                .encrypt_blocks(blocks16(&mut out)),
            _ => cbc::Encryptor::<aes::Aes256>::new_from_slices(k, iv)
                .unwrap()
                .encrypt_blocks(blocks16(&mut out)),
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn streams_encrypted_together_match_cbc_one_by_one(
            key_len in proptest::sample::select(vec![16usize, 24, 32]),
            blocks in proptest::collection::vec(0usize..20, 1..11),
            tails in proptest::collection::vec(0usize..16, 10),
            rounds in 1usize..4,
            seed in 0u8..255,
        ) {
            let material: Vec<u8> =
                (0..16 + key_len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let key = EncryptionKey::from_bytes(Algorithm::Aes, material.clone()).unwrap();
            let mut streams = AesStreams::new(&key, blocks.len()).unwrap();
            let mut wire = vec![Vec::new(); blocks.len()];
            let mut plain = vec![Vec::new(); blocks.len()];
            for r in 0..=rounds {
                let last = r == rounds;
                let mut data: Vec<Vec<u8>> = blocks
                    .iter()
                    .enumerate()
                    .map(|(k, &n)| {
                        let len = if last { tails[k] } else { (n + r * k) * 16 };
                        (0..len).map(|i| (i as u8) ^ (k as u8) ^ seed).collect()
                    })
                    .collect();
                for (p, d) in plain.iter_mut().zip(&mut data) {
                    p.extend_from_slice(d);
                    if last {
                        d.extend(aes_padding(p.len()));
                    }
                }
                let mut bufs: Vec<&mut [u8]> = data.iter_mut().map(|d| &mut d[..]).collect();
                streams.encrypt(&mut bufs);
                for (w, d) in wire.iter_mut().zip(&data) {
                    w.extend_from_slice(d);
                }
            }
            for (w, p) in wire.iter().zip(&plain) {
                let mut padded = p.clone();
                padded.extend(aes_padding(p.len()));
                proptest::prop_assert_eq!(w, &reference_cbc(&material, &padded));
            }
        }
    }

    #[test]
    fn bad_padding_and_truncation_are_errors() {
        let key = EncryptionKey::generate(Algorithm::Aes).unwrap();
        let e = decrypt_all(&mut key.decryptor(), &[1u8; 20], 20).unwrap_err();
        assert!(e.contains("whole 16-byte block"), "{e}");
        let other = EncryptionKey::generate(Algorithm::Aes).unwrap();
        let mut ct = Vec::new();
        let mut enc = other.encryptor();
        enc.update(b"hello", &mut ct);
        enc.finish(&mut ct);
        // A wrong key gives random padding: almost always invalid.
        let _ = decrypt_all(&mut key.decryptor(), &ct, 16);
    }

    #[test]
    fn keys_are_checked_and_hidden() {
        assert!(EncryptionKey::from_bytes(Algorithm::Aes, vec![0; 20]).is_err());
        assert!(EncryptionKey::from_bytes(Algorithm::Blowfish, vec![0; 57]).is_err());
        let k = EncryptionKey::from_bytes(Algorithm::Blowfish, vec![0xAB; 56]).unwrap();
        let shown = format!("{k:?}");
        assert!(shown.contains("hidden") && !shown.contains("171"), "{shown}");
        let b64 = k.to_base64();
        assert_eq!(
            EncryptionKey::from_base64(&b64, None).unwrap().algorithm(),
            Algorithm::Blowfish
        );
        let aes = EncryptionKey::generate(Algorithm::Aes).unwrap();
        assert_eq!(
            EncryptionKey::from_base64(&aes.to_base64(), None).unwrap().algorithm(),
            Algorithm::Aes
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
