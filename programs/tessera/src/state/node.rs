use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;
use crate::state::StakeHistory;

/// Hardware a node declares. Backed by stake and checked by benchmark jobs, never trusted alone.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct Hardware {
    #[max_len(MAX_GPU_MODEL_LEN)]
    pub gpu_model: String,
    /// GPU memory in MiB (0 for CPU-only nodes).
    pub vram_mb: u32,
    /// CUDA compute capability as major*10 + minor (e.g. 90 for sm_90); 0 for none.
    pub compute_capability: u16,
    /// `CAP_*` flags: which backends the node runs.
    pub capabilities: u8,
    /// Where the node serves its outputs (`http(s)://host:port`), may be empty.
    #[max_len(MAX_ENDPOINT_LEN)]
    pub endpoint: String,
}

impl Hardware {
    pub fn validate(&self) -> Result<()> {
        require!(
            self.gpu_model.len() <= MAX_GPU_MODEL_LEN && self.endpoint.len() <= MAX_ENDPOINT_LEN,
            TesseraError::StringTooLong
        );
        require!(
            self.capabilities != 0 && self.capabilities & !CAP_ALL == 0,
            TesseraError::InvalidCapabilities
        );
        Ok(())
    }
}

/// Outcome counters and the reputation score derived from them (`#[repr(C)]`, no padding: it
/// is part of [`NodeCore`]).
#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    InitSpace,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(C)]
pub struct Reputation {
    /// Total tokens slashed from this node.
    pub slashed_total: u64,
    /// Total tokens earned (net of fees).
    pub earned_total: u64,
    /// When `penalty` was last decayed.
    pub penalty_updated_at: i64,
    /// Fee-backed successes, in hundredths: a paid replica whose protocol fee reached the
    /// terms' `reputation_unit` adds 100, a cheaper one proportionally less (a dust job adds 0).
    pub credit: u64,
    /// Replicas that were in the winning majority and got paid.
    pub completed: u32,
    /// Replicas whose revealed result lost the vote.
    pub disagreed: u32,
    /// Claims that never committed in time.
    pub timed_out: u32,
    /// Commitments never revealed.
    pub no_reveal: u32,
    /// Failure weight in hundredths; +300 per failure, halves every REPUTATION_HALF_LIFE_SECS.
    pub penalty: u32,
    /// Score in bps, see [`Reputation::recompute`].
    pub score_bps: u16,
    /// Explicit padding (always zero).
    pub reserved: [u8; 2],
}

/// Half-life of failure weight: failures fade over 30 days.
pub const REPUTATION_HALF_LIFE_SECS: i64 = 30 * 24 * 3600;
/// Weight of one failure, in hundredths of a success.
pub const FAILURE_WEIGHT: u32 = 300;

impl Reputation {
    pub fn new(now: i64) -> Self {
        Reputation {
            penalty_updated_at: now,
            score_bps: INITIAL_REPUTATION_BPS,
            ..Default::default()
        }
    }

    /// Decay the failure weight to `now`: halve once per whole half-life, then linearly.
    fn decay(&mut self, now: i64) {
        let elapsed = now.saturating_sub(self.penalty_updated_at).max(0);
        let halvings = elapsed / REPUTATION_HALF_LIFE_SECS;
        let mut p = if halvings >= 32 {
            0
        } else {
            self.penalty >> halvings
        };
        let rest = elapsed % REPUTATION_HALF_LIFE_SECS;
        // p * (1 - rest / (2 * half_life)), in u128 to stay exact
        let cut = u128::from(p)
            .saturating_mul(rest as u128)
            .checked_div((REPUTATION_HALF_LIFE_SECS as u128).saturating_mul(2))
            .unwrap_or(0);
        p = p.saturating_sub(cut as u32);
        self.penalty = p;
        self.penalty_updated_at = now;
    }

    /// score = (credit + 100) / (credit + penalty + 200), in bps: a Beta(1,1)-mean over
    /// fee-backed successes (100 per replica whose protocol fee reached one `reputation_unit`)
    /// and decayed, 3x-weighted failures. A new node scores 5000; ten full-value jobs give 9166;
    /// one fresh failure after those ten 7333; any number of dust jobs leaves it at 5000.
    pub fn recompute(&mut self, now: i64) {
        self.decay(now);
        let wins = u128::from(self.credit);
        let good = wins.saturating_add(100);
        let total = wins
            .saturating_add(u128::from(self.penalty))
            .saturating_add(200);
        self.score_bps = good
            .saturating_mul(u128::from(BPS_DENOMINATOR))
            .checked_div(total)
            .unwrap_or(0) as u16;
    }

    /// A paid replica: `earned` net of fees; its protocol `fee` (what left for the treasury,
    /// whoever posted the job) against `unit` decides how much the success weighs.
    pub fn record_success(&mut self, earned: u64, fee: u64, unit: u64, now: i64) {
        self.completed = self.completed.saturating_add(1);
        self.earned_total = self.earned_total.saturating_add(earned);
        self.credit = self.credit.saturating_add(success_credit(fee, unit));
        self.recompute(now);
    }

    pub fn record_failure(&mut self, slashed: u64, now: i64) {
        self.decay(now);
        self.penalty = self.penalty.saturating_add(FAILURE_WEIGHT);
        self.slashed_total = self.slashed_total.saturating_add(slashed);
        self.recompute(now);
    }
}

/// Reputation credit of one success whose protocol fee was `fee` when a fee of `unit` counts as
/// a full one: 100 for `fee >= unit`, proportionally less below, rounded down (so dust earns
/// nothing). Backed by the fee, not the price: a node that posts jobs to itself gets the price
/// back but never the fee, so its reputation costs it what anyone's costs (docs/PROTOCOL.md,
/// "Reputation").
pub fn success_credit(fee: u64, unit: u64) -> u64 {
    if unit == 0 || fee >= unit {
        return 100;
    }
    // fee < unit here, so the quotient is below 100
    u128::from(fee)
        .saturating_mul(100)
        .checked_div(u128::from(unit))
        .map_or(100, |c| c as u64)
}

/// A registered compute node. PDA `["node", operator]`. The fixed-size fields are in
/// [`NodeCore`] (one copy in and out, `state::layout`), reached through `Deref`.
#[account]
#[derive(Debug)]
pub struct Node {
    // the IDL builder cannot read `serialize_with`; it describes the same bytes from the
    // core's derived Borsh (`layout::tests` checks both encodings are equal)
    #[cfg_attr(
        not(feature = "idl-build"),
        borsh(
            serialize_with = "super::layout::write",
            deserialize_with = "super::layout::read"
        )
    )]
    pub core: NodeCore,
    pub hardware: Hardware,
}

// `InitSpace` cannot be derived through `serialize_with`: the same sum, by hand.
impl Space for Node {
    const INIT_SPACE: usize = NodeCore::INIT_SPACE + Hardware::INIT_SPACE;
}

/// A node through its core only ([`super::layout::Head`]): what every instruction that does
/// not change its hardware uses. (The IDL build describes the whole account.)
#[cfg(not(feature = "idl-build"))]
pub type NodeHead = super::layout::Head<Node, NodeCore>;
#[cfg(feature = "idl-build")]
pub type NodeHead = Node;

/// The numbers of a node's [`Hardware`] a job's requirements are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HardwareCaps {
    pub vram_mb: u32,
    pub compute_capability: u16,
    pub capabilities: u8,
}

impl From<&Hardware> for HardwareCaps {
    fn from(h: &Hardware) -> Self {
        HardwareCaps {
            vram_mb: h.vram_mb,
            compute_capability: h.compute_capability,
            capabilities: h.capabilities,
        }
    }
}

impl Node {
    /// The hardware numbers of the Node account `info`, read from its data without decoding
    /// the strings: after the core, `gpu_model` (u32 length + bytes), then `vram_mb`,
    /// `compute_capability` and `capabilities`. The caller has checked it is a Node (an
    /// `Account<NodeHead>` of the same account).
    pub fn hardware_caps(info: &AccountInfo) -> Result<HardwareCaps> {
        let data = info.try_borrow_data()?;
        let start = 8 + core::mem::size_of::<NodeCore>();
        let bytes = |at: usize, n: usize| {
            data.get(at..at + n)
                .ok_or_else(|| error!(anchor_lang::error::ErrorCode::AccountDidNotDeserialize))
        };
        let model_len = u32::from_le_bytes(bytes(start, 4)?.try_into().unwrap()) as usize;
        let at = start + 4 + model_len;
        Ok(HardwareCaps {
            vram_mb: u32::from_le_bytes(bytes(at, 4)?.try_into().unwrap()),
            compute_capability: u16::from_le_bytes(bytes(at + 4, 2)?.try_into().unwrap()),
            capabilities: bytes(at + 6, 1)?[0],
        })
    }
}

crate::deref_to_core!(Node => NodeCore);

/// The fixed-size fields of a [`Node`], `#[repr(C)]` in Borsh order with no padding
/// (`operator` first, at offset 8).
#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    InitSpace,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(C)]
pub struct NodeCore {
    pub operator: Pubkey,
    /// The node's stake vault token account (PDA `["stake_vault", node]`).
    pub stake_vault: Pubkey,
    /// Tokens in the stake vault (bonded + unbonding).
    pub stake: u64,
    /// Part of `stake` that is unbonding (does not back new claims).
    pub unbonding: u64,
    /// When the current unbonding started.
    pub unbonding_since: i64,
    pub registered_at: i64,
    pub last_active: i64,
    /// Collateral locked by open claims (Σ `Claim::collateral`); it cannot back another claim
    /// or be unbonded until the claim is expired or settled.
    pub locked: u64,
    /// Bonded stake at the start of the last two epochs: what sortition draws count
    /// ([`Node::draw_weight`]).
    pub draw_stake: StakeHistory,
    pub reputation: Reputation,
    /// Claims not yet settled. Stake cannot leave while this is non-zero.
    pub open_claims: u32,
    /// Claims made and not yet settled (closed), timed-out ones included: the node cannot be
    /// deregistered before they are, since settling a claim needs the Node account.
    pub unsettled_claims: u32,
    pub bump: u8,
    pub vault_bump: u8,
    /// Explicit padding (always zero): no hidden padding bytes, so the core's memory is its
    /// Borsh encoding.
    pub reserved: [u8; 6],
}

impl NodeCore {
    /// Stake that backs new claims.
    pub fn bonded(&self) -> u64 {
        self.stake.saturating_sub(self.unbonding)
    }

    /// What a sortition draw of a round seeded in `epoch` counts: the stake that has stayed
    /// bonded since that epoch began; `None` when that epoch is older than the two kept.
    pub fn draw_weight(&self, epoch: u64) -> Option<u64> {
        self.draw_stake.lowest_since_start_of(self.bonded(), epoch)
    }

    /// A change of the bonded stake in `epoch`, with the draw snapshot kept around it.
    fn change_bonded(
        &mut self,
        epoch: u64,
        change: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        self.draw_stake.roll(self.bonded(), epoch);
        change(self)?;
        self.draw_stake.note(self.bonded());
        Ok(())
    }

    /// Add `amount` to the stake in `epoch` (bonded at once; counted by draws from the next
    /// epoch on).
    pub fn add_stake(&mut self, amount: u64, epoch: u64) -> Result<()> {
        self.change_bonded(epoch, |n| {
            n.stake = n
                .stake
                .checked_add(amount)
                .ok_or(TesseraError::MathOverflow)?;
            Ok(())
        })
    }

    /// Start unbonding `amount` more in `epoch` (it stops backing claims and draws at once).
    pub fn start_unbonding(&mut self, amount: u64, epoch: u64) -> Result<()> {
        self.change_bonded(epoch, |n| {
            n.unbonding = n
                .unbonding
                .checked_add(amount)
                .ok_or(TesseraError::MathOverflow)?;
            Ok(())
        })
    }

    /// Bonded stake not locked by open claims: what a new claim's collateral must fit in.
    pub fn free_collateral(&self) -> u64 {
        self.bonded().saturating_sub(self.locked)
    }

    /// Lock `amount` for a new claim (InsufficientCollateral when it does not fit).
    pub fn lock(&mut self, amount: u64) -> Result<()> {
        require!(
            self.free_collateral() >= amount,
            TesseraError::InsufficientCollateral
        );
        self.locked = self
            .locked
            .checked_add(amount)
            .ok_or(TesseraError::MathOverflow)?;
        Ok(())
    }

    /// Release a claim's collateral.
    pub fn unlock(&mut self, amount: u64) -> Result<()> {
        self.locked = self
            .locked
            .checked_sub(amount)
            .ok_or(TesseraError::MathOverflow)?;
        Ok(())
    }

    /// Remove `amount` from the stake after a slash in `epoch`: unbonding tokens are taken
    /// last.
    pub fn take_slash(&mut self, amount: u64, epoch: u64) -> Result<()> {
        self.change_bonded(epoch, |n| {
            n.stake = n
                .stake
                .checked_sub(amount)
                .ok_or(TesseraError::MathOverflow)?;
            n.unbonding = n.unbonding.min(n.stake);
            Ok(())
        })
    }
}
