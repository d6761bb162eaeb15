//! MurmurHash3, x86 32-bit variant — the hash flagd's `fractional` uses, so
//! that a user keeps their bucket when a team migrates between the two.

/// MurmurHash3 x86 32-bit of `data` with `seed`.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;

    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }

    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, byte) in tail.iter().enumerate() {
            k |= u32::from(*byte) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }

    // Truncation is the algorithm: the length enters the hash modulo 2^32.
    #[expect(clippy::cast_possible_truncation)]
    let len = data.len() as u32;
    h ^= len;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::murmur3_x86_32;

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
}
