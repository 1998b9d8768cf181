//! The compute-unit limit each transaction asks for, sized per instruction kind. A
//! transaction pays `price × limit` in priority fees (not `× units used`), and without a limit
//! the runtime assumes 200 000 units per instruction, so the limit is the measured cost of the
//! instruction (docs/CU.md, the maxima of the LiteSVM suite) with a margin.
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_sdk::instruction::Instruction;

/// The largest compute units each instruction the worker sends used in the test suite
/// (docs/CU.md). `close_auction` grows with its bid accounts: see [`limit_for`].
const MEASURED: &[(&str, u32)] = &[
    ("claim_job", 11_791),
    ("close_auction", 6_689),
    ("close_bid", 3_549),
    ("commit_result", 4_025),
    ("expire_claim", 13_490),
    ("finalize_job", 2_004),
    ("place_bid", 8_577),
    ("reveal_result", 4_934),
    ("settle_claim", 14_986),
    ("submit_result", 5_160),
];

/// Units for an instruction the table does not know (every Tessera instruction stays under
/// 25 000: the test suite asserts it).
const UNKNOWN: u32 = 50_000;

/// The compute-budget instructions themselves (`SetComputeUnitLimit` and
/// `SetComputeUnitPrice`, 150 units each) and rounding.
const OVERHEAD: u32 = 1_000;

/// `close_auction` pays per bid account it reads and closes.
const PER_BID_ACCOUNT: u32 = 3_000;

/// The most a transaction may ask for.
const MAX_LIMIT: u32 = 1_400_000;

/// Units for one instruction named `ix` with `accounts` accounts: the measured maximum plus
/// half again, rounded up to a thousand.
pub fn limit_for(ix: &str, accounts: usize) -> u32 {
    let measured = MEASURED
        .iter()
        .find(|(name, _)| *name == ix)
        .map_or(UNKNOWN, |(_, cu)| *cu);
    let mut units = measured.saturating_add(measured / 2).div_ceil(1_000) * 1_000;
    if ix == "close_auction" {
        units = units.saturating_add(PER_BID_ACCOUNT.saturating_mul(accounts as u32));
    }
    units
}

/// The compute-unit limit of a transaction of `ixs`, all of kind `ix`.
pub fn limit(ix: &str, ixs: &[Instruction]) -> u32 {
    ixs.iter()
        .map(|i| limit_for(ix, i.accounts.len()))
        .fold(OVERHEAD, u32::saturating_add)
        .min(MAX_LIMIT)
}

/// `ixs` preceded by their compute-unit limit and, when it is not zero, a compute-unit price
/// (micro-lamports per unit).
pub fn with_budget(ix: &str, ixs: &[Instruction], price_micro_lamports: u64) -> Vec<Instruction> {
    let mut out = Vec::with_capacity(ixs.len() + 2);
    out.push(ComputeBudgetInstruction::set_compute_unit_limit(limit(
        ix, ixs,
    )));
    if price_micro_lamports > 0 {
        out.push(ComputeBudgetInstruction::set_compute_unit_price(
            price_micro_lamports,
        ));
    }
    out.extend_from_slice(ixs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_keep_a_margin_over_the_measured_cost_and_stay_far_below_200k() {
        for (name, cu) in MEASURED {
            let l = limit_for(name, 0);
            assert!(l >= cu + cu / 2, "{name}: {l} for {cu}");
            assert!(l < 40_000, "{name}: {l}");
        }
        assert_eq!(limit_for("claim_job", 5), 18_000);
        assert_eq!(limit_for("something_new", 3), 75_000);
        // close_auction grows with its bids
        assert!(limit_for("close_auction", 20) > limit_for("close_auction", 4) + 40_000);
        let ix = Instruction::new_with_bytes(tessera::ID, &[], vec![]);
        assert_eq!(limit("commit_result", &[ix.clone()]), 7_000 + OVERHEAD);
        assert_eq!(limit("commit_result", &[ix.clone(), ix]), 14_000 + OVERHEAD);
    }

    #[test]
    fn the_price_instruction_is_left_out_at_zero() {
        let ix = Instruction::new_with_bytes(tessera::ID, &[], vec![]);
        assert_eq!(with_budget("finalize_job", &[ix.clone()], 0).len(), 2);
        let with_price = with_budget("finalize_job", &[ix], 7);
        assert_eq!(with_price.len(), 3);
        assert_eq!(
            with_price[1],
            ComputeBudgetInstruction::set_compute_unit_price(7)
        );
    }
}
