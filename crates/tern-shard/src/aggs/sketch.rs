//! Mergeable sketches behind the approximate metrics, and the hashes ES uses around them.
//!
//! - [`TDigest`] (`percentiles`, `percentile_ranks`, `median_absolute_deviation`): centroids kept
//!   exact (one per value) while they are few, merged under the usual `4·n·q·(1-q)/δ` size bound
//!   beyond; quantiles interpolate between centroid centres like t-digest's `AVLTreeDigest`, so small
//!   inputs give ES's numbers exactly (`[1, 51, 101, 151]` → p25 = 26).
//! - [`Hdr`] (`percentiles` with `hdr`): values and counts, bucketed at read time the way
//!   HdrHistogram's auto-ranging `DoubleHistogram` buckets them (values answer with their bucket's
//!   highest equivalent value: `51` → `51.0302734375` at 3 significant digits).
//! - [`Hll`] (`cardinality`): an exact set of 64-bit hashes up to `precision_threshold`, then
//!   HyperLogLog registers at ES's precision for that threshold.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// TDigest

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TDigest {
    compression: f64,
    /// (mean, weight), sorted by mean once compressed.
    centroids: Vec<(f64, u64)>,
    unsorted: usize,
    count: u64,
    min: f64,
    max: f64,
}

impl TDigest {
    pub(crate) fn new(compression: f64) -> TDigest {
        TDigest {
            compression: compression.max(1.0),
            centroids: Vec::new(),
            unsorted: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    pub(crate) fn add(&mut self, v: f64) {
        self.add_weighted(v, 1);
    }

    fn add_weighted(&mut self, v: f64, w: u64) {
        if v.is_nan() {
            return;
        }
        self.centroids.push((v, w));
        self.unsorted += 1;
        self.count += w;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if self.centroids.len() > self.limit() * 2 {
            self.compress();
        }
    }

    fn limit(&self) -> usize {
        ((self.compression * 5.0) as usize).max(50)
    }

    pub(crate) fn merge(&mut self, other: &TDigest) {
        if other.count == 0 {
            return;
        }
        self.centroids.extend_from_slice(&other.centroids);
        self.unsorted += other.centroids.len();
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if self.centroids.len() > self.limit() * 2 {
            self.compress();
        }
    }

    fn sort(&mut self) {
        if self.unsorted > 0 {
            self.centroids.sort_by(|a, b| a.0.total_cmp(&b.0));
            self.unsorted = 0;
        }
    }

    /// Merges neighbouring centroids while the digest holds more than its limit.
    fn compress(&mut self) {
        self.sort();
        if self.centroids.len() <= self.limit() {
            return;
        }
        let n = self.count as f64;
        let mut out: Vec<(f64, u64)> = Vec::with_capacity(self.limit());
        let mut so_far = 0.0;
        for &(mean, w) in &self.centroids {
            if let Some(last) = out.last_mut() {
                let q = (so_far + (last.1 + w) as f64 / 2.0) / n;
                let bound = (4.0 * n * q * (1.0 - q) / self.compression).max(1.0);
                if (last.1 + w) as f64 <= bound {
                    let total = last.1 + w;
                    last.0 += (mean - last.0) * w as f64 / total as f64;
                    last.1 = total;
                    continue;
                }
                so_far += last.1 as f64;
            }
            out.push((mean, w));
        }
        self.centroids = out;
    }

    /// The value at quantile `q` (0..=1); NaN when empty.
    pub(crate) fn quantile(&mut self, q: f64) -> f64 {
        self.sort();
        let c = &self.centroids;
        if c.is_empty() {
            return f64::NAN;
        }
        if c.len() == 1 {
            return c[0].0;
        }
        let index = q * self.count as f64;
        if index <= 0.0 {
            return self.min;
        }
        if index >= self.count as f64 {
            return self.max;
        }
        let mut weight_so_far = c[0].1 as f64 / 2.0;
        if index < weight_so_far {
            return weighted_average(self.min, weight_so_far - index, c[0].0, index);
        }
        for i in 0..c.len() - 1 {
            let dw = (c[i].1 + c[i + 1].1) as f64 / 2.0;
            if weight_so_far + dw > index {
                let z1 = index - weight_so_far;
                let z2 = weight_so_far + dw - index;
                return weighted_average(c[i].0, z2, c[i + 1].0, z1);
            }
            weight_so_far += dw;
        }
        let last = c[c.len() - 1];
        let z1 = index - weight_so_far;
        let z2 = last.1 as f64 / 2.0 - z1;
        weighted_average(last.0, z2, self.max, z1)
    }

    /// The fraction of values at or below `x` (t-digest's `cdf`); NaN when empty.
    pub(crate) fn cdf(&mut self, x: f64) -> f64 {
        self.sort();
        let c = &self.centroids;
        let n = self.count as f64;
        if c.is_empty() {
            return f64::NAN;
        }
        if c.len() == 1 {
            return if x < c[0].0 {
                0.0
            } else if x > c[0].0 {
                1.0
            } else {
                0.5
            };
        }
        if x < self.min {
            return 0.0;
        }
        if x > self.max {
            return 1.0;
        }
        if x == self.min && x == self.max {
            return 0.5;
        }
        // Weight strictly below x plus half the weight at x, interpolating inside merged centroids.
        let mut below = 0.0;
        let mut at = 0.0;
        for (i, &(mean, w)) in c.iter().enumerate() {
            let w = w as f64;
            if mean < x {
                if w > 1.0
                    && let Some(&(next, _)) = c.get(i + 1)
                    && next > x
                {
                    let frac = (x - mean) / (next - mean);
                    below += w / 2.0 + frac * w / 2.0;
                    continue;
                }
                below += w;
            } else if mean == x {
                at += w;
            }
        }
        ((below + at / 2.0) / n).clamp(0.0, 1.0)
    }

    /// All centroids (for `median_absolute_deviation`).
    pub(crate) fn centroids(&mut self) -> Vec<(f64, u64)> {
        self.sort();
        self.centroids.clone()
    }

    pub(crate) fn from_weighted(compression: f64, points: &[(f64, u64)]) -> TDigest {
        let mut d = TDigest::new(compression);
        for &(v, w) in points {
            d.add_weighted(v, w);
        }
        d
    }
}

fn weighted_average(x1: f64, w1: f64, x2: f64, w2: f64) -> f64 {
    let (lo, hi) = if x1 <= x2 { (x1, x2) } else { (x2, x1) };
    let total = w1 + w2;
    if total <= 0.0 {
        return x1;
    }
    ((x1 * w1 + x2 * w2) / total).clamp(lo, hi)
}

// ---------------------------------------------------------------------------------------------
// HDR histogram

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Hdr {
    digits: u32,
    /// Value (non-negative, as ordered bits) -> count.
    values: BTreeMap<u64, u64>,
    count: u64,
    /// A negative value was recorded (ES fails the shard: HdrHistogram cannot record it).
    pub(crate) negative: bool,
}

impl Hdr {
    pub(crate) fn new(digits: u32) -> Hdr {
        Hdr { digits, values: BTreeMap::new(), count: 0, negative: false }
    }

    pub(crate) fn add(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        if v < 0.0 {
            self.negative = true;
            return;
        }
        *self.values.entry(v.to_bits()).or_insert(0) += 1;
        self.count += 1;
    }

    pub(crate) fn merge(&mut self, other: &Hdr) {
        for (k, c) in &other.values {
            *self.values.entry(*k).or_insert(0) += c;
        }
        self.count += other.count;
        self.negative |= other.negative;
    }

    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// `(sub-bucket half count, conversion ratio)` of the auto-ranging histogram these values land in.
    fn layout(&self) -> (u64, f64) {
        let largest = 2.0 * 10f64.powi(self.digits as i32);
        let sub_bucket_count = 2u64.pow(largest.log2().ceil() as u32).max(2);
        let half = sub_bucket_count / 2;
        let min_positive = self.values.keys().map(|k| f64::from_bits(*k)).find(|v| *v > 0.0);
        let ratio = match min_positive {
            Some(v) => 2f64.powi((half as f64 / v).log2().ceil() as i32),
            None => 1.0,
        };
        (half, ratio)
    }

    fn unit(internal: u64, half: u64) -> u64 {
        let sub_bucket_count = half * 2;
        if internal < sub_bucket_count {
            return 1;
        }
        let bits = 64 - internal.leading_zeros() as u64;
        let sub_bits = 64 - sub_bucket_count.leading_zeros() as u64 - 1;
        1u64 << (bits - sub_bits)
    }

    /// HdrHistogram's `getValueAtPercentile` (the bucket's highest equivalent value).
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let (half, ratio) = self.layout();
        // HdrHistogram 2.1.9 (ES's version) rounds the count at the percentile to the nearest.
        let requested = p.min(100.0);
        let at = (((requested / 100.0) * self.count as f64) + 0.5).max(1.0) as u64;
        let mut so_far = 0;
        for (k, c) in &self.values {
            so_far += c;
            if so_far >= at {
                let v = f64::from_bits(*k);
                let internal = (v * ratio) as u64;
                let unit = Hdr::unit(internal, half);
                let lowest = internal & !(unit - 1);
                let value = if p == 0.0 { lowest } else { lowest + unit - 1 };
                return value as f64 / ratio;
            }
        }
        0.0
    }

    /// HdrHistogram's `getPercentileAtOrBelowValue`.
    pub(crate) fn percentile_rank(&self, x: f64) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let (half, ratio) = self.layout();
        let bucket_of = |v: f64| {
            let internal = (v.max(0.0) * ratio) as u64;
            let unit = Hdr::unit(internal, half);
            internal & !(unit - 1)
        };
        let target = bucket_of(x);
        let below: u64 =
            self.values.iter().filter(|(k, _)| bucket_of(f64::from_bits(**k)) <= target).map(|(_, c)| *c).sum();
        (100.0 * below as f64 / self.count as f64).min(100.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Cardinality

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Hll {
    precision: u32,
    threshold: usize,
    set: Option<HashSet<u64>>,
    registers: Vec<u8>,
}

impl Hll {
    /// ES's `precision_threshold` (default 3000, capped at 40000).
    pub(crate) fn new(precision_threshold: u64) -> Hll {
        let threshold = precision_threshold.min(40_000) as usize;
        let entries = ((threshold as f64) / 0.75).ceil() as u64;
        let bits = 64 - (entries * 4).max(1).leading_zeros();
        let precision = bits.clamp(4, 18);
        Hll { precision, threshold, set: Some(HashSet::new()), registers: Vec::new() }
    }

    pub(crate) fn add_hash(&mut self, h: u64) {
        if let Some(set) = &mut self.set {
            set.insert(h);
            if set.len() > self.threshold {
                self.spill();
            }
            return;
        }
        self.add_register(h);
    }

    fn add_register(&mut self, h: u64) {
        let p = self.precision;
        let idx = (h >> (64 - p)) as usize;
        let rest = (h << p) | (1u64 << (p - 1));
        let rank = (rest.leading_zeros() + 1) as u8;
        if self.registers[idx] < rank {
            self.registers[idx] = rank;
        }
    }

    fn spill(&mut self) {
        if let Some(set) = self.set.take() {
            self.registers = vec![0; 1 << self.precision];
            for h in set {
                self.add_register(h);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &Hll) {
        match (&mut self.set, &other.set) {
            (Some(_), Some(b)) => {
                for h in b {
                    self.add_hash(*h);
                }
            }
            (_, None) => {
                self.spill();
                if self.registers.len() == other.registers.len() {
                    for (a, b) in self.registers.iter_mut().zip(&other.registers) {
                        *a = (*a).max(*b);
                    }
                }
            }
            (None, Some(b)) => {
                for h in b {
                    self.add_register(*h);
                }
            }
        }
    }

    pub(crate) fn estimate(&self) -> u64 {
        if let Some(set) = &self.set {
            return set.len() as u64;
        }
        let m = self.registers.len() as f64;
        let alpha = match self.registers.len() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        let sum: f64 = self.registers.iter().map(|r| 2f64.powi(-(*r as i32))).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|r| **r == 0).count();
        if raw <= 2.5 * m && zeros > 0 { (m * (m / zeros as f64).ln()).round() as u64 } else { raw.round() as u64 }
    }
}

// ---------------------------------------------------------------------------------------------
// Hashes

/// MurmurHash3's 64-bit finalizer (ES hashes numeric values with it).
pub(crate) fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    k
}

/// The first half of MurmurHash3 x64 128 (seed 0), which ES uses for string cardinality.
pub(crate) fn murmur3_x64_h1(data: &[u8]) -> u64 {
    let c1: u64 = 0x87c37b91114253d5;
    let c2: u64 = 0x4cf5ad432745937f;
    let (mut h1, mut h2) = (0u64, 0u64);
    let nblocks = data.len() / 16;
    for i in 0..nblocks {
        let b = &data[i * 16..i * 16 + 16];
        let mut k1 = u64::from_le_bytes(b[0..8].try_into().unwrap_or([0; 8]));
        let mut k2 = u64::from_le_bytes(b[8..16].try_into().unwrap_or([0; 8]));
        k1 = k1.wrapping_mul(c1).rotate_left(31).wrapping_mul(c2);
        h1 ^= k1;
        h1 = h1.rotate_left(27).wrapping_add(h2).wrapping_mul(5).wrapping_add(0x52dce729);
        k2 = k2.wrapping_mul(c2).rotate_left(33).wrapping_mul(c1);
        h2 ^= k2;
        h2 = h2.rotate_left(31).wrapping_add(h1).wrapping_mul(5).wrapping_add(0x38495ab5);
    }
    let tail = &data[nblocks * 16..];
    let (mut k1, mut k2) = (0u64, 0u64);
    for (i, b) in tail.iter().enumerate() {
        if i < 8 {
            k1 |= u64::from(*b) << (8 * i);
        } else {
            k2 |= u64::from(*b) << (8 * (i - 8));
        }
    }
    if tail.len() > 8 {
        k2 = k2.wrapping_mul(c2).rotate_left(33).wrapping_mul(c1);
        h2 ^= k2;
    }
    if !tail.is_empty() {
        k1 = k1.wrapping_mul(c1).rotate_left(31).wrapping_mul(c2);
        h1 ^= k1;
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1.wrapping_add(h2)
}

/// Lucene's `StringHelper.murmurhash3_x86_32` (terms `include` partitions).
pub(crate) fn murmur3_x86_32(data: &[u8], seed: u32) -> i32 {
    let c1: u32 = 0xcc9e2d51;
    let c2: u32 = 0x1b873593;
    let mut h1 = seed;
    let rounded_end = data.len() & !3;
    let mut i = 0;
    while i < rounded_end {
        let mut k1 = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        k1 = k1.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
        h1 ^= k1;
        h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe6546b64);
        i += 4;
    }
    let mut k1: u32 = 0;
    let rem = data.len() & 3;
    if rem == 3 {
        k1 = u32::from(data[rounded_end + 2]) << 16;
    }
    if rem >= 2 {
        k1 |= u32::from(data[rounded_end + 1]) << 8;
    }
    if rem >= 1 {
        k1 |= u32::from(data[rounded_end]);
        k1 = k1.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
        h1 ^= k1;
    }
    h1 ^= data.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85ebca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2ae35);
    h1 ^= h1 >> 16;
    h1 as i32
}

/// HPPC's `BitMixer.mix64` (terms `include` partitions of numbers).
pub(crate) fn mix64(z: i64) -> i64 {
    let mut z = z as u64;
    z = (z ^ (z >> 32)).wrapping_mul(0x4cd6944c5cc20b6d);
    z = (z ^ (z >> 29)).wrapping_mul(0xfc12c5b19d3259e9);
    (z ^ (z >> 32)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tdigest_small_inputs_match_es() {
        let mut d = TDigest::new(100.0);
        for v in [1.0, 51.0, 101.0, 151.0] {
            d.add(v);
        }
        assert_eq!(d.quantile(0.01), 1.0);
        assert_eq!(d.quantile(0.05), 1.0);
        assert_eq!(d.quantile(0.25), 26.0);
        assert_eq!(d.quantile(0.50), 76.0);
        assert_eq!(d.quantile(0.75), 126.0);
        assert_eq!(d.quantile(0.95), 151.0);
        let mut e = TDigest::new(100.0);
        for v in [51.0, 101.0, 151.0] {
            e.add(v);
        }
        assert_eq!(e.quantile(0.25), 63.5);
        assert_eq!(e.quantile(0.5), 101.0);
        assert_eq!(e.quantile(0.75), 138.5);
    }

    #[test]
    fn tdigest_large_inputs_stay_close() {
        let mut d = TDigest::new(100.0);
        for i in 0..100_000 {
            d.add(i as f64);
        }
        let median = d.quantile(0.5);
        assert!((median - 50_000.0).abs() < 500.0, "{median}");
        let mut a = TDigest::new(100.0);
        let mut b = TDigest::new(100.0);
        for i in 0..1000 {
            if i % 2 == 0 { a.add(i as f64) } else { b.add(i as f64) }
        }
        a.merge(&b);
        assert!((a.quantile(0.9) - 900.0).abs() < 10.0);
    }

    #[test]
    fn hdr_matches_double_histogram() {
        let mut h = Hdr::new(3);
        for v in [1.0, 51.0, 101.0, 151.0] {
            h.add(v);
        }
        assert_eq!(h.percentile(1.0), 1.0);
        assert_eq!(h.percentile(25.0), 1.0);
        assert_eq!(h.percentile(50.0), 51.0302734375);
        assert_eq!(h.percentile(75.0), 101.0615234375);
        assert_eq!(h.percentile(99.0), 151.1240234375);
        let mut g = Hdr::new(3);
        for v in [51.0, 101.0, 151.0] {
            g.add(v);
        }
        assert_eq!(g.percentile(25.0), 51.0);
        assert_eq!(g.percentile(50.0), 101.03125);
        assert_eq!(g.percentile(95.0), 151.09375);
    }

    #[test]
    fn hll_is_exact_below_threshold_and_close_above() {
        let mut h = Hll::new(3000);
        for i in 0..1000u64 {
            h.add_hash(fmix64(i));
            h.add_hash(fmix64(i));
        }
        assert_eq!(h.estimate(), 1000);
        let mut big = Hll::new(100);
        for i in 0..50_000u64 {
            big.add_hash(fmix64(i));
        }
        let e = big.estimate() as f64;
        assert!((e - 50_000.0).abs() / 50_000.0 < 0.1, "{e}");
        let mut other = Hll::new(100);
        other.add_hash(fmix64(1_000_000));
        big.merge(&other);
        assert!(big.estimate() > 40_000);
    }

    #[test]
    fn partition_hashes_match_es() {
        // From ES's terms partition tests: 5678 lands in partition 0 of 2, 1234 in partition 1.
        assert_eq!(mix64(5678).rem_euclid(2), 0);
        assert_eq!(mix64(1234).rem_euclid(2), 1);
        assert_eq!(i64::from(murmur3_x86_32(b"bcd", 31)).rem_euclid(2), 0);
        assert_eq!(i64::from(murmur3_x86_32(b"abc", 31)).rem_euclid(2), 1);
    }
}
