//! Stake-weighted sortition of replica slots (docs/PROTOCOL.md, "Sortition").
//!
//! A node may take a slot of a round only if its draw — a hash of a seed nobody knew when the
//! round opened (the blockhash of the slot the round opened in, see [`round_seed`]), the
//! job, the round and the node — falls under a threshold proportional to its share of the
//! network's bonded stake. The threshold rises with every chain slot after the seed slot:
//! `expected_pct / 100` more expected eligible nodes each chain slot (linear), doubled every
//! `widen_slots` (so a round never starves). The rate does not grow with the round's slots:
//! a round of k slots fills in about k × 100 / expected_pct chain slots, and few nodes are
//! drawn in any one slot, so there are few same-slot races for a fast attacker to win.
//!
//! The probability that a key is eligible is `min(1, m × bonded / total)`: linear in stake, so
//! splitting a stake across many keys does not raise the expected eligible stake. And because
//! the threshold rises a little each slot, nodes become eligible in the order of their draws
//! scaled by stake — the slots go, in effect, to a stake-weighted random sample of the
//! network, not to whoever has the most keys or the fastest link: only the nodes drawn in
//! the same chain slot race each other. The same functions run on-chain (claim_job,
//! place_bid) and in the SDK (workers, the simulation).
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

/// Expected eligible nodes, in hundredths, in the chain slot `age` slots after the first slot
/// that can see the seed (`age` 0 is `seed_slot + 1`): `expected_pct × (age + 1)`, doubled
/// once per whole `widen_slots`.
pub fn expected_hundredths(expected_pct: u16, age: u64, widen_slots: u64) -> u128 {
    let base = u128::from(expected_pct).saturating_mul(u128::from(age).saturating_add(1));
    let doublings = if let Some(d) = age.checked_div(widen_slots) {
        d
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

/// Chain slots since a round's seed became readable: 0 in `seed_slot + 1`. `None` before.
pub fn age_slots(seed_slot: u64, slot: u64) -> Option<u64> {
    slot.checked_sub(seed_slot)?.checked_sub(1)
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

/// Entries the RecentBlockhashes sysvar keeps (the runtime's `MAX_ENTRIES`): a round's seed
/// is readable for about this many slots after its seed slot.
pub const RECENT_BLOCKHASHES_ENTRIES: usize = 150;

/// Where `slot` stands in SlotHashes sysvar data (`u64` count, then `(slot u64, hash)`
/// entries, newest first): 0 for the newest. `None` when the slot is not (or no longer) in it.
pub fn slot_index(data: &[u8], slot: u64) -> Option<usize> {
    let count = usize::try_from(u64::from_le_bytes(data.get(..8)?.try_into().ok()?)).ok()?;
    let entry_slot = |i: usize| -> Option<u64> {
        let at = 8usize.checked_add(i.checked_mul(40)?)?;
        Some(u64::from_le_bytes(
            data.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    // binary search over slots in descending order
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        // lo < hi: neither the difference nor the midpoint can overflow
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        let s = entry_slot(mid)?;
        if s == slot {
            return Some(mid);
        }
        if s > slot {
            lo = mid.saturating_add(1);
        } else {
            hi = mid;
        }
    }
    None
}

/// The `index`-th blockhash (0 the newest) in RecentBlockhashes sysvar data (`u64` count, then
/// `(blockhash, lamports_per_signature u64)` entries, newest first).
pub fn recent_blockhash(data: &[u8], index: usize) -> Option<[u8; 32]> {
    let count = usize::try_from(u64::from_le_bytes(data.get(..8)?.try_into().ok()?)).ok()?;
    if index >= count {
        return None;
    }
    let at = 8usize.checked_add(index.checked_mul(40)?)?;
    data.get(at..at.checked_add(32)?)?.try_into().ok()
}

/// The bank hash of the `index`-th entry (0 the newest) in SlotHashes sysvar data.
fn bank_hash(data: &[u8], index: usize) -> Option<[u8; 32]> {
    let at = 16usize.checked_add(index.checked_mul(40)?)?;
    data.get(at..at.checked_add(32)?)?.try_into().ok()
}

/// A round's seed, as a transaction sees the two sysvars while it executes: the blockhash of
/// its seed slot (the last PoH hash of that block) while RecentBlockhashes still holds it (the
/// newest [`RECENT_BLOCKHASHES_ENTRIES`] blocks), then the seed slot's bank hash from
/// SlotHashes (its 512 blocks). Both sysvars list the executing slot's ancestors newest first,
/// one entry per block, so the seed slot's place in SlotHashes is its blockhash's place in
/// RecentBlockhashes. `None` when the slot is not an ancestor yet, or is older than 512 blocks.
///
/// Why the blockhash first: a validator's RPC shows a block's blockhash as soon as it has
/// frozen the block (`getLatestBlockhash`, or RecentBlockhashes read at that block, which by
/// then starts with its own blockhash), but its bank hash only once the next block is frozen,
/// since only a child's SlotHashes carries it. A worker learns the seed of a round opened in
/// slot `s` while `s + 1` is being produced, so its claim can land in `s + 1`. Both hashes are
/// fixed by the seed slot's leader alone and unknown to everyone else until the slot ends.
/// The second seed draws every node afresh once the round is old (the threshold has widened
/// by then): still a stake-weighted draw, where the round would otherwise open to all.
pub fn round_seed(
    slot_hashes: &[u8],
    recent_blockhashes: &[u8],
    seed_slot: u64,
) -> Option<[u8; 32]> {
    let index = slot_index(slot_hashes, seed_slot)?;
    if index < RECENT_BLOCKHASHES_ENTRIES {
        recent_blockhash(recent_blockhashes, index)
    } else {
        bank_hash(slot_hashes, index)
    }
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
    expected_pct: u16,
    age: u64,
    widen_slots: u64,
) -> bool {
    eligible(
        draw(seed, job, round, node),
        bonded,
        total_bonded,
        expected_hundredths(expected_pct, age, widen_slots),
    )
}

/// The first age (chain slots after the seed, see [`age_slots`]) at which a node is drawn,
/// searching up to `limit`; `None` when it is not drawn by then (or has no stake).
#[allow(clippy::too_many_arguments)]
pub fn first_eligible_age(
    seed: &[u8; 32],
    job: &Pubkey,
    round: u8,
    node: &Pubkey,
    bonded: u64,
    total_bonded: u64,
    expected_pct: u16,
    widen_slots: u64,
    limit: u64,
) -> Option<u64> {
    if bonded == 0 {
        return None;
    }
    let d = draw(seed, job, round, node);
    let ok = |age: u64| {
        eligible(
            d,
            bonded,
            total_bonded,
            expected_hundredths(expected_pct, age, widen_slots),
        )
    };
    if !ok(limit) {
        return None;
    }
    // the threshold only rises with age: binary search for the first age that draws
    let (mut lo, mut hi) = (0u64, limit);
    while lo < hi {
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid.saturating_add(1);
        }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_is_linear_in_stake_and_rises_each_slot() {
        let node = Pubkey::new_unique();
        let job = Pubkey::new_unique();
        let n = 20_000u32;
        let rate = |age: u64| {
            (0..n)
                .filter(|i| {
                    let mut seed = [0u8; 32];
                    seed[..4].copy_from_slice(&i.to_le_bytes());
                    eligible_for(&seed, &job, 0, &node, 10, 100, 100, age, 1_000)
                })
                .count() as f64
                / f64::from(n)
        };
        // 1/10 of the stake, 1 expected per slot: p = (age + 1) / 10
        for age in [0u64, 1, 4] {
            let want = (age + 1) as f64 / 10.0;
            let got = rate(age);
            assert!((got - want).abs() < 0.015, "age {age}: {got} vs {want}");
        }
        // 1/4 of the stake, 1 expected per slot, widening every 2 slots: 2 expected at age 1
        // (p = 1/2), (3 + 1) × 2 = 8 at age 3 (p = 1)
        assert!(!eligible(u64::MAX, 25, 100, expected_hundredths(100, 1, 2)));
        assert!(eligible(u64::MAX, 25, 100, expected_hundredths(100, 3, 2)));
        assert_eq!(expected_hundredths(100, 3, 2), 800);
        assert!(!eligible(0, 0, 100, u128::MAX), "no stake, never eligible");
        assert_eq!(expected_hundredths(200, 1_000_000, 1), u128::MAX);
        assert_eq!(age_slots(10, 10), None);
        assert_eq!(age_slots(10, 11), Some(0));
    }

    #[test]
    fn first_eligible_age_is_the_first_age_that_draws() {
        let job = Pubkey::new_unique();
        for i in 0..200u32 {
            let node = Pubkey::new_unique();
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let at = first_eligible_age(&seed, &job, 1, &node, 7, 1_000, 50, 25, 10_000)
                .expect("drawn well before 10 000 slots");
            assert!(eligible_for(&seed, &job, 1, &node, 7, 1_000, 50, at, 25));
            if at > 0 {
                assert!(!eligible_for(
                    &seed,
                    &job,
                    1,
                    &node,
                    7,
                    1_000,
                    50,
                    at - 1,
                    25
                ));
            }
        }
        assert_eq!(
            first_eligible_age(&[0; 32], &job, 0, &job, 0, 1_000, 50, 25, 10_000),
            None
        );
    }

    #[test]
    fn slot_index_finds_every_entry() {
        let mut data = 512u64.to_le_bytes().to_vec();
        for i in 0..512u64 {
            let slot = 10_000 - 2 * i; // newest first, with gaps
            data.extend_from_slice(&slot.to_le_bytes());
            data.extend_from_slice(&[(i % 251) as u8; 32]);
        }
        for i in 0..512u64 {
            assert_eq!(slot_index(&data, 10_000 - 2 * i), Some(i as usize));
            assert_eq!(slot_index(&data, 10_000 - 2 * i - 1), None);
        }
        assert_eq!(slot_index(&data, 20_000), None);
        assert_eq!(slot_index(&data[..7], 1), None);
    }

    #[test]
    fn the_seed_is_the_blockhash_at_the_seed_slots_place() {
        // ancestors 1_000, 998 (997 skipped), 996, … newest first
        let slots: Vec<u64> = (0..200u64)
            .map(|i| if i == 0 { 1_000 } else { 1_000 - 2 * i })
            .collect();
        let mut sh = (slots.len() as u64).to_le_bytes().to_vec();
        for s in &slots {
            sh.extend_from_slice(&s.to_le_bytes());
            sh.extend_from_slice(&[0xAA; 32]); // bank hashes: never the seed
        }
        let mut rb = (RECENT_BLOCKHASHES_ENTRIES as u64).to_le_bytes().to_vec();
        for i in 0..RECENT_BLOCKHASHES_ENTRIES {
            rb.extend_from_slice(&[i as u8; 32]);
            rb.extend_from_slice(&5_000u64.to_le_bytes());
        }
        assert_eq!(round_seed(&sh, &rb, 1_000), Some([0; 32]));
        assert_eq!(round_seed(&sh, &rb, 998), Some([1; 32]));
        assert_eq!(round_seed(&sh, &rb, 1_000 - 2 * 149), Some([149; 32]));
        // past RecentBlockhashes' 150 blocks: the bank hash SlotHashes keeps
        assert_eq!(round_seed(&sh, &rb, 1_000 - 2 * 150), Some([0xAA; 32]));
        assert_eq!(round_seed(&sh, &rb, 1_000 - 2 * 199), Some([0xAA; 32]));
        // a skipped slot, a slot not yet an ancestor, short data
        assert_eq!(round_seed(&sh, &rb, 997), None);
        assert_eq!(round_seed(&sh, &rb, 1_001), None);
        assert_eq!(round_seed(&sh, &rb[..40], 998), None);
        assert_eq!(round_seed(&sh[..7], &rb, 1_000), None);
        assert_eq!(recent_blockhash(&rb, RECENT_BLOCKHASHES_ENTRIES), None);
    }
}
