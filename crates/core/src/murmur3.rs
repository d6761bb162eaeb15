//! MurmurHash3, x86 32-bit variant — the hash flagd's `fractional` uses, so
//! that a user keeps their bucket when a team migrates between the two.

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3 x86 32-bit of `data` with `seed`.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut hasher = Murmur3::new(seed);
    hasher.write(data);
    hasher.finish()
}

/// The same hash over input given in pieces: a split hashes its salt and
/// the user's key as one text without joining them in a new buffer.
#[derive(Debug, Clone)]
pub struct Murmur3 {
    h: u32,
    /// Bytes waiting for a whole block, and how many.
    tail: [u8; 4],
    pending: usize,
    len: usize,
}

impl Murmur3 {
    /// A hasher starting from `seed`.
    pub fn new(seed: u32) -> Self {
        Self {
            h: seed,
            tail: [0; 4],
            pending: 0,
            len: 0,
        }
    }

    /// Hashes `data` after what came before.
    pub fn write(&mut self, mut data: &[u8]) {
        self.len += data.len();
        if self.pending > 0 {
            let take = (4 - self.pending).min(data.len());
            self.tail[self.pending..self.pending + take].copy_from_slice(&data[..take]);
            self.pending += take;
            data = &data[take..];
            if self.pending < 4 {
                return;
            }
            self.block(self.tail);
            self.pending = 0;
        }
        let mut blocks = data.chunks_exact(4);
        for block in &mut blocks {
            self.block([block[0], block[1], block[2], block[3]]);
        }
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.pending = rest.len();
    }

    fn block(&mut self, bytes: [u8; 4]) {
        let k = u32::from_le_bytes(bytes)
            .wrapping_mul(C1)
            .rotate_left(15)
            .wrapping_mul(C2);
        self.h ^= k;
        self.h = self
            .h
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }

    /// The hash of everything written.
    pub fn finish(&self) -> u32 {
        let mut h = self.h;
        if self.pending > 0 {
            let mut k = 0u32;
            for (i, byte) in self.tail[..self.pending].iter().enumerate() {
                k |= u32::from(*byte) << (8 * i);
            }
            h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        }
        // Truncation is the algorithm: the length enters the hash modulo 2^32.
        #[expect(clippy::cast_possible_truncation)]
        let len = self.len as u32;
        h ^= len;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
}

#[cfg(test)]
mod tests {
    use super::{Murmur3, murmur3_x86_32};

    #[test]
    fn matches_reference_vectors() {
        // Vectors from the reference implementation's test suite (SMHasher)
        // and the ones flagd pins for its fractional boundaries.
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(b"\xff\xff\xff\xff", 0), 0x7629_3b50);
        assert_eq!(murmur3_x86_32(b"!Ce\x87", 0), 0xf55b_516b);
        assert_eq!(murmur3_x86_32(b"!Ce", 0), 0x7e4a_8634);
        assert_eq!(murmur3_x86_32(b"!C", 0), 0xa0f7_b07a);
        assert_eq!(murmur3_x86_32(b"!", 0), 0x7266_1cf4);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(murmur3_x86_32(b"ejOoVL", 0), 0);
        assert_eq!(murmur3_x86_32(b"SI7p-", 0), 2_147_483_647);
        assert_eq!(murmur3_x86_32(b"6LvT0", 0), 2_147_483_648);
        assert_eq!(murmur3_x86_32(b"ceQdGm", 0), 4_294_967_295);
    }

    #[test]
    fn pieces_hash_as_the_whole() {
        let text = b"Hello, world! and some more bytes";
        for cut in 0..text.len() {
            for second in cut..text.len() {
                let mut hasher = Murmur3::new(1234);
                hasher.write(&text[..cut]);
                hasher.write(&text[cut..second]);
                hasher.write(&text[second..]);
                assert_eq!(
                    hasher.finish(),
                    murmur3_x86_32(text, 1234),
                    "{cut}/{second}"
                );
            }
        }
    }
}
