//! Every identifier the server hands out: fileIds, media keys and nonces.
//!
//! They come straight from the operating system's random source, one fresh
//! draw per id, so no id tells anything about another: a generator whose
//! state can be recovered from its output (SplitMix64 was used here before;
//! four fileIds gave away every later one) would let one app predict the
//! next uploads of every app. `/media/` needs no credential, so a media URL
//! is only as private as it is unguessable: it carries a key of its own
//! (128 random bits), and knowing a fileId does not help to find it.

use vod_ugc_upload::protocol::to_hex;

/// fileIds are 19 decimal digits: `[10^18, 10^19)`.
const FILE_ID_MIN: u64 = 1_000_000_000_000_000_000;
const FILE_ID_SPAN: u64 = 9_000_000_000_000_000_000;

/// Bytes of randomness in a media key (128 bits, 32 hex digits).
const MEDIA_KEY_BYTES: usize = 16;

/// Fills `buf` from the OS. The OS source does not fail on the systems the
/// server runs on; if it ever does, no safe id can be made, so stop.
fn fill(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random source failed");
}

fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    fill(&mut buf);
    u64::from_le_bytes(buf)
}

/// Uniform in `[0, n)`, without modulo bias (rejection sampling).
pub fn below(n: u64) -> u64 {
    assert!(n > 0, "below(0)");
    // The largest multiple of n that fits; draws at or past it are redrawn.
    let zone = u64::MAX - (u64::MAX % n + 1) % n;
    loop {
        let x = random_u64();
        if x < zone {
            return x % n;
        }
    }
}

/// A fresh fileId: 19 decimal digits, about 63 bits of randomness.
pub fn file_id() -> String {
    (FILE_ID_MIN + below(FILE_ID_SPAN)).to_string()
}

/// A fresh media key: 32 lowercase hex digits (128 random bits), the folder
/// of a published file under `/media/`.
pub fn media_key() -> String {
    let mut buf = [0u8; MEDIA_KEY_BYTES];
    fill(&mut buf);
    to_hex(&buf)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn file_ids_are_19_digits_and_do_not_repeat() {
        let ids: HashSet<String> = (0..10_000).map(|_| file_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.len(), 19, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
        }
    }

    #[test]
    fn media_keys_are_128_bits_and_do_not_repeat() {
        let keys: HashSet<String> = (0..10_000).map(|_| media_key()).collect();
        assert_eq!(keys.len(), 10_000);
        for key in &keys {
            assert_eq!(key.len(), 32, "{key}");
            assert!(key
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
        // Every bit position takes both values: no fixed bits, so all 128
        // are random.
        let (mut ones, mut zeros) = (0u128, 0u128);
        for key in keys.iter().take(200) {
            let v = u128::from_str_radix(key, 16).unwrap();
            (ones, zeros) = (ones | v, zeros | !v);
        }
        assert_eq!((ones, zeros), (u128::MAX, u128::MAX));
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|n| (800..1200).contains(n)), "{seen:?}");
        assert_eq!(below(1), 0);
    }

    /// The attack that broke the old ids: from four consecutive fileIds,
    /// recover SplitMix64's state and predict the fifth. It works on the
    /// old generator (so the attack itself is sound) and finds nothing in
    /// ids from the OS source.
    #[test]
    fn consecutive_ids_share_no_state() {
        let old = |seed| {
            let mut rng = SplitMix64::new(seed);
            (0..5)
                .map(|_| (FILE_ID_MIN + rng.next_u64() % FILE_ID_SPAN).to_string())
                .collect::<Vec<_>>()
        };
        for seed in [1, 0xDEAD_BEEF, 0x1234_5678_9ABC_DEF0] {
            let ids = old(seed);
            assert_eq!(predict_splitmix(&ids[..4]), Some(ids[4].clone()));
        }
        for _ in 0..20 {
            let ids: Vec<String> = (0..5).map(|_| file_id()).collect();
            assert_eq!(predict_splitmix(&ids[..4]), None, "{ids:?}");
        }
    }

    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// The multiplicative inverse of an odd number modulo 2^64 (Newton).
    fn inverse(a: u64) -> u64 {
        let mut x = a;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        }
        x
    }

    fn unshift(z: u64, s: u32) -> u64 {
        let mut x = z;
        for _ in 0..=64 / s {
            x = z ^ (x >> s);
        }
        x
    }

    /// The SplitMix64 state that produced output `z`.
    fn unmix(z: u64) -> u64 {
        let z = unshift(z, 31).wrapping_mul(inverse(0x94D0_49BB_1331_11EB));
        let z = unshift(z, 27).wrapping_mul(inverse(0xBF58_476D_1CE4_E5B9));
        unshift(z, 30)
    }

    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Tries every raw output behind the first id (the modulo folds at most
    /// two onto one id) and keeps a state whose successors give the other
    /// ids; returns the fileId that state yields next.
    fn predict_splitmix(ids: &[String]) -> Option<String> {
        let values: Vec<u64> = ids
            .iter()
            .map(|id| id.parse::<u64>().unwrap() - FILE_ID_MIN)
            .collect();
        let candidates = [Some(values[0]), values[0].checked_add(FILE_ID_SPAN)];
        candidates.into_iter().flatten().find_map(|raw| {
            let mut state = unmix(raw);
            let consistent = values[1..].iter().all(|v| {
                state = state.wrapping_add(GAMMA);
                mix(state) % FILE_ID_SPAN == *v
            });
            consistent
                .then(|| (FILE_ID_MIN + mix(state.wrapping_add(GAMMA)) % FILE_ID_SPAN).to_string())
        })
    }
}
