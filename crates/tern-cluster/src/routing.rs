//! Document routing exactly as Elasticsearch does it.
//!
//! A document goes to `shard = floorMod(hash(_routing or _id), R) / (R / N)` where `N` is
//! `index.number_of_shards`, `R` is the number of routing shards (`index.number_of_routing_shards`,
//! by default `N << max(1, 10 - ceil(log2 N))`, which leaves room for later splits) and `hash` is
//! murmur3 (x86, 32 bit, seed 0) over the **UTF-16LE** bytes of the Java string. Getting any of these
//! details wrong silently sends documents to other shards than ES would, which breaks `?routing=`
//! searches and GETs after a migration, so the tests pin ES's own vectors.

use crate::error::ClusterError;

/// The largest number of shards an index may have (ES's `es.index.max_number_of_shards` default).
pub const MAX_NUMBER_OF_SHARDS: u32 = 1024;

/// MurmurHash3, x86 32-bit variant, over raw bytes (Lucene's `StringHelper.murmurhash3_x86_32`).
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h1 = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k1 = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k1 = k1.wrapping_mul(C1);
        k1 = k1.rotate_left(15);
        k1 = k1.wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1.rotate_left(13);
        h1 = h1.wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut k1: u32 = 0;
        if tail.len() >= 3 {
            k1 ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            k1 ^= u32::from(tail[1]) << 8;
        }
        k1 ^= u32::from(tail[0]);
        k1 = k1.wrapping_mul(C1);
        k1 = k1.rotate_left(15);
        k1 = k1.wrapping_mul(C2);
        h1 ^= k1;
    }
    // Java passes the length as an int; lengths beyond 4 GiB never happen for routing values.
    h1 ^= data.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^= h1 >> 16;
    h1
}

/// The UTF-16LE bytes of a string, two bytes per Java `char` (surrogate pairs for characters outside
/// the BMP), which is what ES hashes.
pub fn utf16le_bytes(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 2);
    for unit in s.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// ES's `Murmur3HashFunction.hash(String)`: murmur3 over the UTF-16LE bytes, seed 0, as a Java `int`.
pub fn routing_hash(routing: &str) -> i32 {
    murmur3_x86_32(&utf16le_bytes(routing), 0) as i32
}

/// ES's default number of routing shards for an index created on 7.0 or later:
/// the largest `N * 2^k <= 1024` with at least one split (`k >= 1`).
pub fn default_routing_num_shards(number_of_shards: u32) -> u32 {
    let n = number_of_shards.max(1);
    // ceil(log2(n)) == 32 - leading_zeros(n - 1)
    let log2_n = 32 - (n - 1).leading_zeros();
    let splits = 10u32.saturating_sub(log2_n).max(1);
    n << splits
}

/// ES's `IndexMetadata.getRoutingFactor(source, target)` for a split (`target >= source`): the target
/// must be a multiple of the source.
pub fn routing_factor(number_of_shards: u32, routing_num_shards: u32) -> Result<u32, ClusterError> {
    if number_of_shards == 0 {
        return Err(ClusterError::illegal_argument("the number of shards must be >= 1"));
    }
    if number_of_shards < routing_num_shards {
        let factor = routing_num_shards / number_of_shards;
        if factor * number_of_shards != routing_num_shards || factor <= 1 {
            return Err(ClusterError::illegal_argument(format!(
                "the number of source shards [{number_of_shards}] must be a factor of [{routing_num_shards}]"
            )));
        }
        Ok(factor)
    } else if number_of_shards > routing_num_shards {
        Err(ClusterError::illegal_argument(format!(
            "index.number_of_routing_shards [{routing_num_shards}] must be >= index.number_of_shards [{number_of_shards}]"
        )))
    } else {
        Ok(1)
    }
}

/// Maps a hash onto a shard: `floorMod(hash, R) / (R / N)`. Never panics: degenerate inputs (validated
/// away by the metadata) fall back to shard 0 / a factor of 1.
fn hash_to_shard(hash: i32, number_of_shards: u32, routing_num_shards: u32) -> u32 {
    let n = number_of_shards.max(1);
    let rns = routing_num_shards.max(n);
    let factor = (rns / n).max(1);
    let modded = i64::from(hash).rem_euclid(i64::from(rns)) as u32;
    (modded / factor).min(n - 1)
}

/// The shard a document with this effective routing value (`_routing`, else `_id`) lives on.
pub fn shard_id(routing: &str, number_of_shards: u32, routing_num_shards: u32) -> u32 {
    hash_to_shard(routing_hash(routing), number_of_shards, routing_num_shards)
}

/// The shard for an index with `index.routing_partition_size > 1`: the custom routing picks a group of
/// `partition_size` shards and the `_id` picks one inside it.
pub fn shard_id_partitioned(
    routing: &str,
    id: &str,
    partition_size: u32,
    number_of_shards: u32,
    routing_num_shards: u32,
) -> u32 {
    if partition_size <= 1 {
        return shard_id(routing, number_of_shards, routing_num_shards);
    }
    let offset = i64::from(routing_hash(id)).rem_euclid(i64::from(partition_size)) as i32;
    let hash = routing_hash(routing).wrapping_add(offset);
    hash_to_shard(hash, number_of_shards, routing_num_shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &[(&str, u32)] = &[
        ("hell", 0x5a0c_b7c3),
        ("hello", 0xd7c3_1989),
        ("hello w", 0x22ab_2984),
        ("hello wo", 0xdf0c_a123),
        ("hello wor", 0xe774_4d61),
        ("The quick brown fox jumps over the lazy dog", 0xe07d_b09c),
    ];

    #[test]
    fn es_murmur3_vectors_hash_utf16le() {
        for (input, expected) in VECTORS {
            assert_eq!(routing_hash(input) as u32, *expected, "murmur3(utf16le({input:?}))");
        }
    }

    #[test]
    fn raw_murmur3_known_values() {
        // Reference values of MurmurHash3_x86_32 over raw bytes (the SMHasher / Guava test suite).
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[0, 0, 0, 0], 0), 0x2362_f9de);
        assert_eq!(murmur3_x86_32(b"aaaa", 0x9747_b28c), 0x5a97_808a);
        assert_eq!(murmur3_x86_32(b"abc", 0), 0xb3dd_93fa);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 0x9747_b28c), 0x2488_4cba);
        assert_eq!(murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0x9747_b28c), 0x2fa8_26cd);
        // The UTF-16LE path is the raw hash over the encoded bytes.
        assert_eq!(murmur3_x86_32(&utf16le_bytes("hello"), 0), routing_hash("hello") as u32);
    }

    #[test]
    fn utf16_encoding_uses_surrogate_pairs() {
        assert_eq!(utf16le_bytes("a"), vec![0x61, 0x00]);
        assert_eq!(utf16le_bytes("é"), vec![0xe9, 0x00]);
        // U+1F600 is the surrogate pair D83D DE00.
        assert_eq!(utf16le_bytes("😀"), vec![0x3d, 0xd8, 0x00, 0xde]);
    }

    #[test]
    fn default_routing_shards_formula() {
        assert_eq!(default_routing_num_shards(1), 1024);
        assert_eq!(default_routing_num_shards(2), 1024);
        assert_eq!(default_routing_num_shards(3), 768);
        assert_eq!(default_routing_num_shards(4), 1024);
        assert_eq!(default_routing_num_shards(5), 640);
        assert_eq!(default_routing_num_shards(6), 768);
        assert_eq!(default_routing_num_shards(512), 1024);
        assert_eq!(default_routing_num_shards(513), 1026);
        assert_eq!(default_routing_num_shards(1024), 2048);
    }

    #[test]
    fn derived_shard_table() {
        let ids = ["1", "2", "foo", "hello"];
        let table: &[(u32, [u32; 4])] = &[(1, [0, 0, 0, 0]), (2, [0, 0, 1, 0]), (3, [2, 1, 0, 2]), (5, [4, 3, 2, 4])];
        for (shards, expected) in table {
            let rns = default_routing_num_shards(*shards);
            let got: Vec<u32> = ids.iter().map(|id| shard_id(id, *shards, rns)).collect();
            assert_eq!(&got[..], &expected[..], "{shards} shards (rns {rns})");
        }
    }

    #[test]
    fn explicit_routing_shards_and_factors() {
        assert_eq!(routing_factor(3, 768).unwrap(), 256);
        assert_eq!(routing_factor(4, 4).unwrap(), 1);
        assert_eq!(
            routing_factor(3, 10).unwrap_err().to_string(),
            "the number of source shards [3] must be a factor of [10]"
        );
        assert_eq!(
            routing_factor(4, 2).unwrap_err().to_string(),
            "index.number_of_routing_shards [2] must be >= index.number_of_shards [4]"
        );
        // With R == N every hash maps straight through floorMod.
        for id in ["a", "b", "c", "d", "e"] {
            let h = routing_hash(id);
            assert_eq!(shard_id(id, 4, 4), h.rem_euclid(4) as u32);
        }
    }

    #[test]
    fn degenerate_inputs_never_panic() {
        assert_eq!(shard_id("x", 0, 0), 0);
        assert!(shard_id("x", 3, 1) < 3);
        assert_eq!(shard_id_partitioned("r", "id", 0, 1, 1024), 0);
    }

    #[test]
    fn partitioned_routing_stays_within_the_partition() {
        // With 8 shards and partitions of 2, ids with the same routing land on at most 2 shards.
        let rns = default_routing_num_shards(8);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..100 {
            seen.insert(shard_id_partitioned("user1", &format!("doc{i}"), 2, 8, rns));
        }
        assert!(seen.len() <= 2, "{seen:?}");
        assert!(!seen.is_empty());
    }
}
