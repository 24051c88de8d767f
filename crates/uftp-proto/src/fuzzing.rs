//! Entry points for the UFTP fuzz targets of `crates/hpc-fuzz`: what a UFTPD
//! or its auth server sends. Not part of the stable interface.

use crate::codec::{Decoded, Decoder};
use crate::crypto::{Algorithm, EncryptionKey};
use crate::frame::{ChunkHeader, HEADER_LEN, MAX_BLOCK, piece};
use crate::{parse, reply};

/// Every line of `text` as a control-connection reply line and as each kind
/// of reply text the session reads (150, PASV/EPSV, MLST/STAT, HASH).
pub fn replies(text: &str) {
    for line in text.lines() {
        if let Some((code, _, rest)) = reply::split_code(line) {
            assert!(code <= 999, "{line:?}");
            assert!(line.ends_with(rest), "{line:?}");
        }
        if let Some(e) = parse::mlsx_line(line)
            && let Some(t) = e.modified
        {
            let _ = parse::format_mdtm(t);
        }
        if let Some(t) = parse::mdtm(line) {
            // A time the parser accepts prints back as the same 14 digits
            // (but for a leap second, which is the next minute's first).
            let digits = line.split('.').next().unwrap_or_default();
            if !digits.ends_with("60") {
                assert_eq!(parse::format_mdtm(t), digits, "{line:?}");
            }
        }
        let _ = parse::bytes_available(line);
        let _ = parse::pasv_port(line);
        let _ = parse::epsv_port(line);
        let _ = parse::stream_count(line);
        let _ = parse::hash_reply(line);
    }
}

/// The auth server's JSON answer to a session request.
pub fn auth_reply(json: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(json)
        && let Ok(grant) = crate::auth::parse_grant("https://auth.invalid/rest/auth/TEST", &value)
    {
        let _ = format!("{grant:?}");
    }
}

/// A chunk header of the multi-stream framing, read by each stream of 1 to 8
/// while the block numbers the input's first byte gives are expected: a header
/// that passes names a block no larger than the reader's buffer and a piece
/// that fits it.
pub fn chunk_header(data: &[u8]) {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let Some(bytes) = rest.get(..HEADER_LEN).and_then(|b| <&[u8; HEADER_LEN]>::try_from(b).ok())
    else {
        return;
    };
    let streams = usize::from(shape % 8) + 1;
    let stream = usize::from(shape / 8) % streams;
    let seq = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    for max in [MAX_BLOCK, 16 * 1024, 0] {
        if let Ok(h) = ChunkHeader::decode(bytes, stream, streams, seq, max) {
            assert!(h.total as usize <= max);
            let (offset, len) = piece(h.total as usize, stream, streams);
            assert!(offset + len <= h.total as usize && len == h.len as usize);
            assert_eq!(&h.encode(), bytes);
        }
    }
}

/// The bytes of a data stream as the decoder of a compressed, an encrypted
/// and a compressed and encrypted stream reads them (with fixed keys).
pub fn data_stream(data: &[u8]) {
    let aes = EncryptionKey::from_bytes(Algorithm::Aes, vec![7; 48]).expect("a valid AES key");
    for (key, compress) in [(None, true), (Some(&aes), false), (Some(&aes), true)] {
        let Some(mut dec) = Decoder::new(key, compress) else { continue };
        // As a data connection's reader feeds it: what the decoder leaves
        // unused waits in front of the next piece.
        let mut pending = Vec::new();
        let mut out = Vec::new();
        let mut failed = false;
        for piece in data.chunks(1000) {
            pending.extend_from_slice(piece);
            let used = match dec.update(&mut pending, &mut out) {
                Ok(Decoded::InPlace(n)) => {
                    out.extend_from_slice(&pending[..n]);
                    n
                }
                Ok(Decoded::Consumed(n)) => n,
                Err(_) => {
                    failed = true;
                    break;
                }
            };
            pending.drain(..used);
        }
        if !failed {
            let _ = dec.finish(&mut pending, &mut out);
        }
    }
}
