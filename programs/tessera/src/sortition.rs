//! Stake-weighted sortition of replica slots (docs/PROTOCOL.md, "Sortition").
//!
//! A node may take a slot of a round only if its draw — a hash of a seed nobody knew when the
//! round opened (the hash of the slot the round opened in, from the SlotHashes sysvar), the
//! job, the round and the node — falls under a threshold proportional to its share of the
//! network's bonded stake. The threshold starts at `expected_pct / 100` expected eligible
//! nodes per free slot and doubles every `widen_secs`, so a round never starves.
//!
//! The probability that a key is eligible is `min(1, m × bonded / total)`: linear in stake, so
//! splitting a stake across many keys does not raise the expected eligible stake. The same
//! functions run on-chain (claim_job, place_bid) and in the SDK (workers, the simulation).
use anchor_lang::prelude::*;

/// Domain tag of every draw.
pub const DOMAIN: &[u8] = b"tessera/sortition/v1";

/// A node's draw for a round: the first 8 bytes (LE) of
/// SHA-256(DOMAIN ‖ seed ‖ job ‖ round ‖ node).
pub fn draw(seed: &[u8; 32], job: &Pubkey, round: u8, node: &Pubkey) -> u64 {
    let h = solana_sha256_hasher::hashv(&[DOMAIN, seed, job.as_ref(), &[round], node.as_ref()])
        .to_bytes();
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b)
}

/// Expected eligible nodes, in hundredths, for a round of `free` slots `age` seconds in:
/// `free × expected_pct`, doubled once per whole `widen_secs`.
pub fn expected_hundredths(free: u8, expected_pct: u16, age: i64, widen_secs: i64) -> u128 {
    let base = u128::from(free.max(1)).saturating_mul(u128::from(expected_pct));
    let doublings = if widen_secs > 0 {
        age.max(0).checked_div(widen_secs).unwrap_or(0)
    } else {
        64
    };
    if doublings >= 64 {
        return u128::MAX;
    }
    base.checked_shl(doublings as u32)
        .filter(|v| v.checked_shr(doublings as u32) == Some(base))
        .unwrap_or(u128::MAX)
}

/// Is a node with `bonded` of the network's `total` bonded stake eligible with `draw`, when
/// `expected` (hundredths) nodes are expected to be? P = min(1, expected/100 × bonded/total),
/// compared at 56-bit resolution so every product fits in 128 bits.
pub fn eligible(draw: u64, bonded: u64, total: u64, expected: u128) -> bool {
    if bonded == 0 {
        return false;
    }
    if total == 0 {
        return true;
    }
    let num = expected.saturating_mul(u128::from(bonded));
    let den = u128::from(total).saturating_mul(100);
    if num >= den {
        return true;
    }
    // draw/2^64 < num/den  <=>  (draw >> 8) * den < num * 2^56   (num < den < 2^71)
    u128::from(draw >> 8).saturating_mul(den) < num.saturating_mul(1u128 << 56)
}

/// The hash of `slot` in SlotHashes sysvar data (`u64` count, then `(slot u64, hash)` entries,
/// newest first); `None` when the slot is not (or no longer) in it.
pub fn slot_hash(data: &[u8], slot: u64) -> Option<[u8; 32]> {
    let count = usize::try_from(u64::from_le_bytes(data.get(..8)?.try_into().ok()?)).ok()?;
    let entry = |i: usize| -> Option<(u64, [u8; 32])> {
        let at = 8usize.checked_add(i.checked_mul(40)?)?;
        let e = data.get(at..at.checked_add(40)?)?;
        Some((
            u64::from_le_bytes(e[..8].try_into().ok()?),
            e[8..40].try_into().ok()?,
        ))
    };
    // binary search over slots in descending order
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (s, h) = entry(mid)?;
        if s == slot {
            return Some(h);
        }
        if s > slot {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    None
}

/// Eligibility of `node` for a round whose seed is `seed`, with everything the program reads.
#[allow(clippy::too_many_arguments)]
pub fn eligible_for(
    seed: &[u8; 32],
    job: &Pubkey,
    round: u8,
    node: &Pubkey,
    bonded: u64,
    total_bonded: u64,
    free_slots: u8,
    expected_pct: u16,
    age: i64,
    widen_secs: i64,
) -> bool {
    eligible(
        draw(seed, job, round, node),
        bonded,
        total_bonded,
        expected_hundredths(free_slots, expected_pct, age, widen_secs),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_is_linear_in_stake_and_widens() {
        // 1/4 of the stake, 2 expected per slot, 1 free slot: p = 1/2
        let node = Pubkey::new_unique();
        let job = Pubkey::new_unique();
        let n = 20_000u32;
        let hits = (0..n)
            .filter(|i| {
                let mut seed = [0u8; 32];
                seed[..4].copy_from_slice(&i.to_le_bytes());
                eligible_for(&seed, &job, 0, &node, 25, 100, 1, 200, 0, 10)
            })
            .count() as f64
            / f64::from(n);
        assert!((hits - 0.5).abs() < 0.02, "{hits}");
        // after one widening period: p = min(1, 4 * 1/4) = 1
        assert!(eligible(
            u64::MAX,
            25,
            100,
            expected_hundredths(1, 200, 10, 10)
        ));
        assert!(!eligible(
            u64::MAX,
            25,
            100,
            expected_hundredths(1, 200, 9, 10)
        ));
        assert!(!eligible(0, 0, 100, u128::MAX), "no stake, never eligible");
        assert_eq!(expected_hundredths(3, 200, 1_000_000, 1), u128::MAX);
    }

    #[test]
    fn slot_hash_lookup_finds_every_entry() {
        let mut data = 512u64.to_le_bytes().to_vec();
        for i in 0..512u64 {
            let slot = 10_000 - 2 * i; // newest first, with gaps
            data.extend_from_slice(&slot.to_le_bytes());
            data.extend_from_slice(&[(i % 251) as u8; 32]);
        }
        for i in 0..512u64 {
            assert_eq!(
                slot_hash(&data, 10_000 - 2 * i),
                Some([(i % 251) as u8; 32])
            );
            assert_eq!(slot_hash(&data, 10_000 - 2 * i - 1), None);
        }
        assert_eq!(slot_hash(&data, 20_000), None);
        assert_eq!(slot_hash(&data[..7], 1), None);
    }
}
