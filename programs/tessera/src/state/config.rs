use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::state::{JobTerms, StakeHistory};

/// Network-wide parameters. PDA `["config"]`; one per deployment. Every field is fixed-size:
/// all of them are in [`ConfigCore`] (one copy in and out, `state::layout`), reached through
/// `Deref`.
#[account]
#[derive(Debug)]
pub struct Config {
    // the IDL builder cannot read `serialize_with`; it describes the same bytes from the
    // core's derived Borsh (`layout::tests` checks both encodings are equal)
    #[cfg_attr(
        not(feature = "idl-build"),
        borsh(
            serialize_with = "super::layout::write",
            deserialize_with = "super::layout::read"
        )
    )]
    pub core: ConfigCore,
}

// `InitSpace` cannot be derived through `serialize_with`: the same size, by hand.
impl Space for Config {
    const INIT_SPACE: usize = ConfigCore::INIT_SPACE;
}

crate::deref_to_core!(Config => ConfigCore);

/// The fields of [`Config`], `#[repr(C)]` in Borsh order with no padding (grouped by
/// alignment).
#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    InitSpace,
    bytemuck::NoUninit,
    bytemuck::CheckedBitPattern,
)]
#[repr(C)]
pub struct ConfigCore {
    /// May change parameters and pause the network.
    pub authority: Pubkey,
    /// The network token (SPL Token or Token-2022 mint) used for stakes, escrows and fees.
    pub mint: Pubkey,
    /// Token program that owns `mint`.
    pub token_program: Pubkey,
    /// Token account (of `mint`) that receives protocol fees and the treasury share of slashes.
    pub treasury: Pubkey,
    /// The escrow vault (PDA `["escrow"]`, a token account of `mint` owned by this config):
    /// every job's escrow, each job's share kept by its own accounting.
    pub vault: Pubkey,
    /// Proposed next authority (`update_config`); it takes over only when it signs
    /// `accept_authority`. `Pubkey::default()` when none is proposed.
    pub pending_authority: Pubkey,
    /// Minimum bonded stake (stake - unbonding) a node needs to claim any job.
    pub min_stake: u64,
    /// Seconds between `request_unstake` and `withdraw_stake`.
    pub unbonding_secs: i64,
    /// Seconds after a round opens during which claims may commit.
    pub commit_window_secs: i64,
    /// Seconds the reveal phase stays open.
    pub reveal_window_secs: i64,
    /// Seconds after a majority is found during which anyone may challenge it.
    pub challenge_window_secs: i64,
    /// Bond a challenger deposits.
    pub challenge_bond: u64,
    /// Jobs whose total budget is at least this get a priority window.
    pub priority_min_value: u64,
    /// Length of the priority window, seconds from posting.
    pub priority_window_secs: i64,
    /// Bonded stake a node needs to claim inside the priority window.
    pub priority_min_stake: u64,
    /// Lowest price per replica (or auction maximum, or bid) a job may offer: no dust jobs.
    pub min_price_per_replica: u64,
    /// Protocol fee paid on one replica that counts as one full success for reputation; a
    /// replica whose fee was less earns a proportional part (`Reputation::credit`).
    pub reputation_unit: u64,
    /// Sortition: the eligibility threshold doubles every this many chain slots of a round.
    pub sortition_widen_slots: u64,
    /// Σ bonded stake (stake − unbonding) of every node: the denominator of sortition.
    /// Kept by stake, request_unstake and every slash.
    pub total_bonded: u64,
    /// Length of a stake epoch in slots (epoch `slot / stake_epoch_slots`): a draw counts the
    /// stake bonded since its seed's epoch began. Fixed when the config is created.
    pub stake_epoch_slots: u64,
    /// Fees and the treasury's shares of slashes and forfeited bonds of closed jobs, held in
    /// the vault until `sweep_fees` pays them to the treasury in one transfer.
    pub treasury_owed: u64,
    /// `total_bonded` at the start of the last two epochs: the denominator of a draw is the
    /// total of the same moment as the stake it counts ([`Config::draw_total`]).
    pub draw_total: StakeHistory,
    /// Protocol fee on every replica payout, in bps of the replica price.
    pub protocol_fee_bps: u16,
    /// Slash for a claim that never committed before its deadline, bps of the node's stake.
    pub slash_timeout_bps: u16,
    /// Slash for revealing a result that lost the majority vote, bps of the node's stake.
    pub slash_wrong_result_bps: u16,
    /// Slash for committing but never revealing, bps of the node's stake.
    pub slash_no_reveal_bps: u16,
    /// Share of every slash paid to the affected client; the rest goes to the treasury.
    pub slash_client_share_bps: u16,
    /// Share of a slash paid to the permissionless crank that triggered it (taken first).
    pub crank_reward_bps: u16,
    /// Reputation a node needs to claim inside the priority window.
    pub priority_min_reputation_bps: u16,
    /// Bonded stake locked per open claim, in bps of the claim's price (may exceed 10 000).
    pub collateral_bps: u16,
    /// Sortition: expected newly eligible nodes per free slot per chain slot, in percent.
    pub sortition_expected_pct: u16,
    /// Most replicas a job may ask for.
    pub max_replicas: u8,
    /// Most escalation rounds a job may budget for.
    pub escalation_cap: u8,
    /// When true, no new jobs, claims, stakes or registrations (exits stay open).
    pub paused: bool,
    /// Canonical bump of this PDA.
    pub bump: u8,
    /// Canonical bump of the escrow vault.
    pub vault_bump: u8,
    /// Explicit padding (always zero): no hidden padding bytes, so the core's memory is its
    /// Borsh encoding.
    pub reserved: [u8; 1],
}

/// Every tunable parameter of [`Config`], validated as a whole.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConfigParams {
    pub protocol_fee_bps: u16,
    pub min_stake: u64,
    pub unbonding_secs: i64,
    pub slash_timeout_bps: u16,
    pub slash_wrong_result_bps: u16,
    pub slash_no_reveal_bps: u16,
    pub slash_client_share_bps: u16,
    pub crank_reward_bps: u16,
    pub commit_window_secs: i64,
    pub reveal_window_secs: i64,
    pub challenge_window_secs: i64,
    pub max_replicas: u8,
    pub escalation_cap: u8,
    pub challenge_bond: u64,
    pub priority_min_value: u64,
    pub priority_window_secs: i64,
    pub priority_min_stake: u64,
    pub priority_min_reputation_bps: u16,
    pub min_price_per_replica: u64,
    pub reputation_unit: u64,
    pub collateral_bps: u16,
    pub sortition_expected_pct: u16,
    pub sortition_widen_slots: u64,
    pub stake_epoch_slots: u64,
}

fn bps_ok(v: u16, max: u16) -> bool {
    v <= max && u64::from(v) <= BPS_DENOMINATOR
}

fn period_ok(v: i64, max: i64) -> bool {
    v > 0 && v <= max
}

impl ConfigParams {
    /// Every parameter within its bound (constants.rs; the table in docs/PROTOCOL.md).
    pub fn validate(&self) -> Result<()> {
        require!(
            bps_ok(self.protocol_fee_bps, MAX_PROTOCOL_FEE_BPS)
                && bps_ok(self.slash_timeout_bps, MAX_SLASH_BPS)
                && bps_ok(self.slash_wrong_result_bps, MAX_SLASH_BPS)
                && bps_ok(self.slash_no_reveal_bps, MAX_SLASH_BPS)
                && bps_ok(self.slash_client_share_bps, BPS_DENOMINATOR as u16)
                && bps_ok(self.crank_reward_bps, MAX_CRANK_REWARD_BPS)
                && bps_ok(self.priority_min_reputation_bps, BPS_DENOMINATOR as u16),
            TesseraError::InvalidBps
        );
        require!(self.min_stake > 0, TesseraError::InvalidMinStake);
        require!(self.challenge_bond > 0, TesseraError::InvalidChallengeBond);
        require!(
            self.min_price_per_replica > 0 && self.reputation_unit > 0,
            TesseraError::InvalidPrice
        );
        require!(
            self.collateral_bps <= MAX_COLLATERAL_BPS,
            TesseraError::InvalidBps
        );
        require!(
            (MIN_SORTITION_PCT..=MAX_SORTITION_PCT).contains(&self.sortition_expected_pct),
            TesseraError::InvalidBps
        );
        require!(
            (1..=MAX_WIDEN_SLOTS).contains(&self.sortition_widen_slots),
            TesseraError::InvalidPeriod
        );
        require!(
            (MIN_STAKE_EPOCH_SLOTS..=MAX_STAKE_EPOCH_SLOTS).contains(&self.stake_epoch_slots),
            TesseraError::InvalidPeriod
        );
        require!(
            period_ok(self.unbonding_secs, MAX_UNBONDING_SECS)
                && period_ok(self.commit_window_secs, MAX_WINDOW_SECS)
                && period_ok(self.reveal_window_secs, MAX_WINDOW_SECS)
                && period_ok(self.challenge_window_secs, MAX_WINDOW_SECS),
            TesseraError::InvalidPeriod
        );
        require!(
            self.priority_window_secs >= 0 && self.priority_window_secs <= MAX_PRIORITY_WINDOW_SECS,
            TesseraError::InvalidPeriod
        );
        require!(
            self.max_replicas >= 1 && self.max_replicas <= MAX_REPLICAS,
            TesseraError::InvalidMaxReplicas
        );
        require!(
            self.escalation_cap <= MAX_ESCALATIONS,
            TesseraError::InvalidEscalationCap
        );
        Ok(())
    }
}

impl ConfigCore {
    pub fn apply(&mut self, p: &ConfigParams) {
        self.protocol_fee_bps = p.protocol_fee_bps;
        self.min_stake = p.min_stake;
        self.unbonding_secs = p.unbonding_secs;
        self.slash_timeout_bps = p.slash_timeout_bps;
        self.slash_wrong_result_bps = p.slash_wrong_result_bps;
        self.slash_no_reveal_bps = p.slash_no_reveal_bps;
        self.slash_client_share_bps = p.slash_client_share_bps;
        self.crank_reward_bps = p.crank_reward_bps;
        self.commit_window_secs = p.commit_window_secs;
        self.reveal_window_secs = p.reveal_window_secs;
        self.challenge_window_secs = p.challenge_window_secs;
        self.max_replicas = p.max_replicas;
        self.escalation_cap = p.escalation_cap;
        self.challenge_bond = p.challenge_bond;
        self.priority_min_value = p.priority_min_value;
        self.priority_window_secs = p.priority_window_secs;
        self.priority_min_stake = p.priority_min_stake;
        self.priority_min_reputation_bps = p.priority_min_reputation_bps;
        self.min_price_per_replica = p.min_price_per_replica;
        self.reputation_unit = p.reputation_unit;
        self.collateral_bps = p.collateral_bps;
        self.sortition_expected_pct = p.sortition_expected_pct;
        self.sortition_widen_slots = p.sortition_widen_slots;
        self.stake_epoch_slots = p.stake_epoch_slots;
    }

    /// The economic terms a job posted now runs under, to its end.
    pub fn terms(&self) -> JobTerms {
        JobTerms {
            protocol_fee_bps: self.protocol_fee_bps,
            slash_timeout_bps: self.slash_timeout_bps,
            slash_wrong_result_bps: self.slash_wrong_result_bps,
            slash_no_reveal_bps: self.slash_no_reveal_bps,
            slash_client_share_bps: self.slash_client_share_bps,
            crank_reward_bps: self.crank_reward_bps,
            commit_window_secs: self.commit_window_secs,
            reveal_window_secs: self.reveal_window_secs,
            challenge_window_secs: self.challenge_window_secs,
            challenge_bond: self.challenge_bond,
            collateral_bps: self.collateral_bps,
            reputation_unit: self.reputation_unit,
            sortition_expected_pct: self.sortition_expected_pct,
            sortition_widen_slots: self.sortition_widen_slots,
        }
    }

    /// The network's bonded stake at the start of `epoch`, the denominator of every draw of a
    /// round seeded in that epoch; `None` when older than the two epochs kept.
    pub fn draw_total(&self, epoch: u64) -> Option<u64> {
        self.draw_total.at_start_of(self.total_bonded, epoch)
    }

    /// Add `amount` to the network's bonded stake in `epoch`.
    pub fn bond(&mut self, amount: u64, epoch: u64) -> Result<()> {
        self.draw_total.roll(self.total_bonded, epoch);
        self.total_bonded = self
            .total_bonded
            .checked_add(amount)
            .ok_or(TesseraError::MathOverflow)?;
        self.draw_total.note(self.total_bonded);
        Ok(())
    }

    /// Remove `amount` from the network's bonded stake in `epoch`.
    pub fn unbond(&mut self, amount: u64, epoch: u64) -> Result<()> {
        self.draw_total.roll(self.total_bonded, epoch);
        self.total_bonded = self
            .total_bonded
            .checked_sub(amount)
            .ok_or(TesseraError::MathOverflow)?;
        self.draw_total.note(self.total_bonded);
        Ok(())
    }

    pub fn params(&self) -> ConfigParams {
        ConfigParams {
            protocol_fee_bps: self.protocol_fee_bps,
            min_stake: self.min_stake,
            unbonding_secs: self.unbonding_secs,
            slash_timeout_bps: self.slash_timeout_bps,
            slash_wrong_result_bps: self.slash_wrong_result_bps,
            slash_no_reveal_bps: self.slash_no_reveal_bps,
            slash_client_share_bps: self.slash_client_share_bps,
            crank_reward_bps: self.crank_reward_bps,
            commit_window_secs: self.commit_window_secs,
            reveal_window_secs: self.reveal_window_secs,
            challenge_window_secs: self.challenge_window_secs,
            max_replicas: self.max_replicas,
            escalation_cap: self.escalation_cap,
            challenge_bond: self.challenge_bond,
            priority_min_value: self.priority_min_value,
            priority_window_secs: self.priority_window_secs,
            priority_min_stake: self.priority_min_stake,
            priority_min_reputation_bps: self.priority_min_reputation_bps,
            min_price_per_replica: self.min_price_per_replica,
            reputation_unit: self.reputation_unit,
            collateral_bps: self.collateral_bps,
            sortition_expected_pct: self.sortition_expected_pct,
            sortition_widen_slots: self.sortition_widen_slots,
            stake_epoch_slots: self.stake_epoch_slots,
        }
    }

    /// The stake epoch of `slot`.
    pub fn stake_epoch(&self, slot: u64) -> u64 {
        slot.checked_div(self.stake_epoch_slots).unwrap_or(slot)
    }

    /// The first slot of stake epoch `epoch`.
    pub fn stake_epoch_start(&self, epoch: u64) -> u64 {
        epoch.saturating_mul(self.stake_epoch_slots)
    }
}
