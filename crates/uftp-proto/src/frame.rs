//! The multi-stream chunk header (JPARSS's format, which UFTPD and pyuftp
//! use): 16 bytes, big-endian: magic `0xCEBF`, stream index, block sequence
//! number, block total, piece length. Stream `i` of `n` carries bytes
//! `[i·(total/n), +len)` of each block; the last stream takes the remainder.

/// The magic number that starts every header.
pub const MAGIC: u16 = 0xCEBF;
/// Length of a header.
pub const HEADER_LEN: usize = 16;
/// The largest block a multi-stream sender puts into one round (what UFTPD
/// and pyuftp read into).
pub const SEND_BLOCK: usize = 16 * 1024;
/// The largest block this reader accepts; a header announcing more is an
/// error, never an allocation.
pub const MAX_BLOCK: usize = 1024 * 1024;

/// One piece's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Index of the stream that carries the piece.
    pub stream: u16,
    /// Number of the block, from 0.
    pub seq: u32,
    /// Bytes in the whole block.
    pub total: u32,
    /// Bytes in this piece.
    pub len: u32,
}

impl ChunkHeader {
    /// The 16 bytes on the wire.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..2].copy_from_slice(&MAGIC.to_be_bytes());
        h[2..4].copy_from_slice(&self.stream.to_be_bytes());
        h[4..8].copy_from_slice(&self.seq.to_be_bytes());
        h[8..12].copy_from_slice(&self.total.to_be_bytes());
        h[12..16].copy_from_slice(&self.len.to_be_bytes());
        h
    }

    /// Parses and checks a header read from stream `stream` of `streams`
    /// while block `seq` is expected.
    pub fn decode(
        bytes: &[u8; HEADER_LEN],
        stream: usize,
        streams: usize,
        seq: u32,
        max_block: usize,
    ) -> Result<ChunkHeader, String> {
        let magic = u16::from_be_bytes([bytes[0], bytes[1]]);
        let h = ChunkHeader {
            stream: u16::from_be_bytes([bytes[2], bytes[3]]),
            seq: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            total: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            len: u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
        };
        if magic != MAGIC {
            return Err(format!(
                "stream {stream}: chunk header has magic {magic:#06x}, not {MAGIC:#06x}"
            ));
        }
        if usize::from(h.stream) != stream {
            return Err(format!("stream {stream}: chunk header names stream {}", h.stream));
        }
        if h.seq != seq {
            return Err(format!(
                "stream {stream}: chunk header has sequence number {}, expected {seq}",
                h.seq
            ));
        }
        let total = h.total as usize;
        if total > max_block {
            return Err(format!(
                "stream {stream}: block of {total} bytes is larger than the {max_block}-byte buffer"
            ));
        }
        let (_, want) = piece(total, stream, streams);
        if h.len as usize != want {
            return Err(format!(
                "stream {stream}: piece length {} does not fit a block of {total} bytes over {streams} streams (expected {want})",
                h.len
            ));
        }
        Ok(h)
    }
}

/// Offset and length of stream `i`'s piece of a `total`-byte block over `n` streams.
pub fn piece(total: usize, i: usize, n: usize) -> (usize, usize) {
    let chunk = total / n;
    let offset = i * chunk;
    let len = if i + 1 == n { total - offset } else { chunk };
    (offset, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_checks() {
        let h = ChunkHeader { stream: 2, seq: 7, total: 16384, len: 4096 };
        let b = h.encode();
        assert_eq!(&b[..2], &[0xCE, 0xBF]);
        assert_eq!(ChunkHeader::decode(&b, 2, 4, 7, MAX_BLOCK).unwrap(), h);
        assert!(
            ChunkHeader::decode(&b, 1, 4, 7, MAX_BLOCK).unwrap_err().contains("names stream 2")
        );
        assert!(ChunkHeader::decode(&b, 2, 4, 8, MAX_BLOCK).unwrap_err().contains("sequence"));
        assert!(ChunkHeader::decode(&b, 2, 4, 7, 1000).unwrap_err().contains("larger than"));
        assert!(ChunkHeader::decode(&b, 2, 3, 7, MAX_BLOCK).unwrap_err().contains("piece length"));
        let mut bad = b;
        bad[0] = 0;
        assert!(ChunkHeader::decode(&bad, 2, 4, 7, MAX_BLOCK).unwrap_err().contains("magic"));
    }

    #[test]
    fn pieces_cover_the_block() {
        for total in [0usize, 1, 3, 16383, 16384] {
            for n in 1..=5 {
                let sum: usize = (0..n).map(|i| piece(total, i, n).1).sum();
                assert_eq!(sum, total);
                assert_eq!(piece(total, n - 1, n).0 + piece(total, n - 1, n).1, total);
            }
        }
    }
}
