use anchor_lang::prelude::*;

use crate::constants::*;
use crate::errors::TesseraError;

#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    InitSpace,
    bytemuck::NoUninit,
    bytemuck::CheckedBitPattern,
)]
#[repr(u8)]
pub enum MarketType {
    /// First eligible claimers take the slots at the posted price.
    Fixed,
    /// Nodes bid until `bid_deadline`; `close_auction` picks the k lowest bids.
    Auction,
}

#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    InitSpace,
    bytemuck::NoUninit,
    bytemuck::CheckedBitPattern,
)]
#[repr(u8)]
pub enum JobState {
    /// Auction jobs before `close_auction`.
    Bidding,
    /// Slots may be claimed and claims may commit (until `commit_deadline`).
    Open,
    /// Committed claims of this round reveal (until `reveal_deadline`).
    Revealing,
    /// A strict majority agreed; anyone may challenge until `challenge_deadline`.
    Challenge,
    /// Winners are paid; terminal.
    Completed,
    /// Client cancelled before any claim; terminal.
    Cancelled,
    /// Job deadline passed with no result to evaluate; terminal.
    Expired,
    /// No majority and no escalation left; terminal, client refunded.
    Failed,
}

impl JobState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Cancelled | JobState::Expired | JobState::Failed
        )
    }
}

/// What a node must have to claim the job.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq, InitSpace)]
pub struct Requirements {
    pub min_vram_mb: u32,
    pub min_compute_capability: u16,
    /// `CAP_*` flags the node must all have.
    pub capabilities: u8,
    /// Bonded stake the node needs (at least config.min_stake applies too).
    pub min_stake: u64,
    pub min_reputation_bps: u16,
}

/// [`Requirements`] as a job keeps them, in its core (`#[repr(C)]`, no padding).
#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    InitSpace,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(C)]
pub struct JobRequirements {
    /// Bonded stake the node needs (at least config.min_stake applies too).
    pub min_stake: u64,
    pub min_vram_mb: u32,
    pub min_compute_capability: u16,
    pub min_reputation_bps: u16,
    /// `CAP_*` flags the node must all have.
    pub capabilities: u8,
    /// Explicit padding (always zero).
    pub reserved: [u8; 7],
}

impl From<&Requirements> for JobRequirements {
    fn from(r: &Requirements) -> Self {
        JobRequirements {
            min_stake: r.min_stake,
            min_vram_mb: r.min_vram_mb,
            min_compute_capability: r.min_compute_capability,
            min_reputation_bps: r.min_reputation_bps,
            capabilities: r.capabilities,
            reserved: [0; 7],
        }
    }
}

/// One distinct revealed result hash and how many replicas revealed it.
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
pub struct Tally {
    pub hash: [u8; 32],
    pub count: u8,
}

/// The economic terms a job runs under: copied from the config when the job is posted, so a
/// later `update_config` never changes the fees, slashes, windows or bond of a job in flight.
#[derive(
    AnchorSerialize,
    AnchorDeserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    InitSpace,
    bytemuck::Pod,
    bytemuck::Zeroable,
)]
#[repr(C)]
pub struct JobTerms {
    pub commit_window_secs: i64,
    pub reveal_window_secs: i64,
    pub challenge_window_secs: i64,
    pub challenge_bond: u64,
    /// Protocol fee on a paid replica that counts as one full success for reputation.
    pub reputation_unit: u64,
    /// Sortition: threshold doubling period in chain slots (see `sortition_expected_pct`).
    pub sortition_widen_slots: u64,
    pub protocol_fee_bps: u16,
    pub slash_timeout_bps: u16,
    pub slash_wrong_result_bps: u16,
    pub slash_no_reveal_bps: u16,
    pub slash_client_share_bps: u16,
    pub crank_reward_bps: u16,
    /// Bonded stake each claim locks, bps of its price.
    pub collateral_bps: u16,
    /// Sortition: newly eligible nodes per free slot per chain slot, percent.
    pub sortition_expected_pct: u16,
}

impl JobTerms {
    /// Collateral a claim at `price` locks.
    pub fn collateral(&self, price: u64) -> Result<u64> {
        crate::token_ops::bps_of(price, self.collateral_bps)
    }
}

/// What a node's draw in a round counts ([`Job::round_draw`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundDraw {
    /// The round's seed is known and kept: stake-weighted sortition with the node's `weight`
    /// and the network's `total`, both as of the start of the seed's epoch, `age` chain slots
    /// after the seed became readable.
    Seeded {
        seed: [u8; 32],
        weight: u64,
        total: u64,
        age: u64,
    },
    /// The seed is gone: open to every node whose stake counted when this epoch began.
    Open { weight: u64 },
}

impl RoundDraw {
    /// Does this draw let `node_key` take a slot of `round` of the job at `job_key`?
    pub fn eligible(&self, job_key: &Pubkey, round: u8, node_key: &Pubkey, t: &JobTerms) -> bool {
        match *self {
            RoundDraw::Seeded {
                seed,
                weight,
                total,
                age,
            } => crate::sortition::eligible_for(
                &seed,
                job_key,
                round,
                node_key,
                weight,
                total,
                t.sortition_expected_pct,
                age,
                t.sortition_widen_slots,
            ),
            RoundDraw::Open { weight } => weight > 0,
        }
    }
}

/// A compute job and its escrow accounting (its share of the network's escrow vault,
/// [`Job::escrow_expected`]). PDA `["job", client, job_id u64 le]`.
///
/// The fixed-size fields are in [`JobCore`] (one copy in and out of the account, see
/// `state::layout`), reached through `Deref` (`job.state` is `job.core.state`); the
/// variable-size ones follow it.
#[account]
#[derive(Debug)]
pub struct Job {
    // the IDL builder cannot read `serialize_with`; it describes the same bytes from the
    // core's derived Borsh (`layout::tests` checks both encodings are equal)
    #[cfg_attr(
        not(feature = "idl-build"),
        borsh(
            serialize_with = "super::layout::write",
            deserialize_with = "super::layout::read"
        )
    )]
    pub core: JobCore,
    /// At most `MAX_URI_LEN` bytes.
    pub input_uri: String,
    /// Where the agreed result can be fetched: the `output_uri` of the first winning claim
    /// settled, kept here because claims are closed at settlement. Empty until then. The
    /// client checks what it downloads against `winning_hash`. At most `MAX_URI_LEN` bytes.
    pub result_uri: String,
}

// `InitSpace` cannot be derived through `serialize_with`: the same sum, by hand.
impl Space for Job {
    const INIT_SPACE: usize = JobCore::INIT_SPACE + (4 + MAX_URI_LEN) + (4 + MAX_URI_LEN);
}

/// A job through its core only ([`super::layout::Head`]): what every instruction but
/// `post_job` uses. (The IDL build describes the whole account.)
#[cfg(not(feature = "idl-build"))]
pub type JobHead = super::layout::Head<Job, JobCore>;
#[cfg(feature = "idl-build")]
pub type JobHead = Job;

impl Job {
    /// Writes `uri` as the job's `result_uri` straight into the account data (`info`, a Job):
    /// the tail after the core is `input_uri` then `result_uri`, both allocated at their
    /// maximum length when the job was created, so it always fits.
    pub fn write_result_uri(info: &AccountInfo, uri: &str) -> Result<()> {
        require!(uri.len() <= MAX_URI_LEN, TesseraError::StringTooLong);
        let mut data = info.try_borrow_mut_data()?;
        let start = 8 + core::mem::size_of::<JobCore>();
        let input_len = data
            .get(start..start + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or(TesseraError::StringTooLong)? as usize;
        let at = start + 4 + input_len;
        let end = at + 4 + uri.len();
        let dst = data.get_mut(at..end).ok_or(TesseraError::StringTooLong)?;
        dst[..4].copy_from_slice(&(uri.len() as u32).to_le_bytes());
        dst[4..].copy_from_slice(uri.as_bytes());
        Ok(())
    }

    /// Is the job's `result_uri` (in its account data, see [`Job::write_result_uri`]) empty?
    pub fn result_uri_is_empty(info: &AccountInfo) -> Result<bool> {
        let data = info.try_borrow_data()?;
        let start = 8 + core::mem::size_of::<JobCore>();
        let len = |at: usize| {
            data.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
                .ok_or(TesseraError::StringTooLong)
        };
        let input_len = len(start)? as usize;
        Ok(len(start + 4 + input_len)? == 0)
    }
}

crate::deref_to_core!(Job => JobCore);

/// The fixed-size fields of a [`Job`], `#[repr(C)]` in Borsh order with no padding (fields
/// grouped by alignment; `client` and `state` first so workers filter on them at fixed
/// offsets).
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
pub struct JobCore {
    pub client: Pubkey,
    /// Right after `client` so indexers and workers can filter on it (`memcmp` at offset 40,
    /// `Job::STATE_OFFSET`).
    pub state: JobState,
    pub market: MarketType,
    /// Replicas asked for (k).
    pub replicas: u8,
    /// Escalation rounds the client budgeted for.
    pub max_escalations: u8,
    /// Replica slots now: k plus every escalation and audit round's slots.
    pub slots: u8,
    /// Escalation round (0 = first).
    pub round: u8,
    /// Claims holding a slot (not timed out), all rounds.
    pub active_claims: u8,
    /// Claims made in the current round that still hold a slot.
    pub round_claims: u8,
    pub job_id: u64,
    /// Price per replica (fixed market) or the maximum price (auction).
    pub price_per_replica: u64,
    /// Seconds a claimer has from claiming to commit.
    pub exec_secs: i64,
    pub created_at: i64,
    /// Overall deadline: unspent escrow goes back to the client after it.
    pub deadline: i64,
    /// Claims inside [created_at, priority_until) need the priority stake / reputation.
    pub priority_until: i64,
    pub bid_deadline: i64,
    pub commit_deadline: i64,
    pub reveal_deadline: i64,
    pub challenge_deadline: i64,
    /// Auction: winners may claim their reserved slot until this time (the end of the first
    /// commit window after `close_auction`).
    pub wins_until: i64,
    /// Tokens the client deposited.
    pub deposit: u64,
    /// Tokens paid out of escrow to nodes and the treasury (payouts + fees).
    pub paid_out: u64,
    /// Slashed tokens credited to this job's client (held in escrow until close).
    pub slashed_to_client: u64,
    /// Slashed tokens set aside for a successful challenger (held in escrow).
    pub challenger_pool: u64,
    /// Challenge bonds held in escrow.
    pub bonds_held: u64,
    /// Tokens returned to the client (cancel / close).
    pub refunded: u64,
    /// Protocol fees and the treasury's share of slashes and forfeited bonds, held in escrow;
    /// when the job closes they move to `Config::treasury_owed` (paid out by `sweep_fees`).
    pub treasury_owed: u64,
    /// Sortition seed of the current round (or of the bidding): the hash of this slot, the
    /// one the round opened in, which nobody knew then.
    pub seed_slot: u64,
    /// Fees, slashes, windows and bond of this job, fixed at post time.
    pub terms: JobTerms,
    /// What a node must have to claim the job.
    pub requirements: JobRequirements,
    /// Kernel identifier and the version of its spec (see docs/KERNELS.md).
    pub kernel_id: u16,
    pub spec_version: u16,
    /// Commitments in the current round.
    pub round_commits: u8,
    /// Reveals in the current round.
    pub round_reveals: u8,
    /// Claims created and not yet settled (closed).
    pub unsettled_claims: u8,
    /// Open bids (auction).
    pub bids: u8,
    /// Auction: round-0 slots held for winners that have not claimed yet (until `wins_until`);
    /// every other round-0 slot is open to fixed-price claims at the maximum price.
    pub reserved_slots: u8,
    /// Challenges not yet settled.
    pub open_challenges: u8,
    pub tally_len: u8,
    pub has_winner: bool,
    /// A challenge forced an audit round; `challenged_hash` is the disputed majority.
    pub challenged: bool,
    /// Slots the current round opened: k in round 0, ESCALATION_SLOTS in an escalation
    /// round, one more than the challenged majority's votes in an audit round.
    pub round_size: u8,
    /// Challenges made against this job (all dispute `challenged_hash`).
    pub challenges: u8,
    pub bump: u8,
    /// The last audit could not finish (silent seats, no budget or time to draw them again):
    /// the challenged result stands, auditors who revealed another hash are paid unslashed,
    /// challengers lose the audit's cost.
    pub audit_undecided: bool,
    /// BLAKE3 of the input blob; workers check the downloaded input against it.
    pub spec_hash: [u8; 32],
    /// Distinct revealed hashes, all rounds.
    pub tally: [Tally; MAX_SLOTS],
    pub winning_hash: [u8; 32],
    pub challenged_hash: [u8; 32],
    /// Explicit padding (always zero): the core's size is a multiple of its alignment, so it
    /// has no hidden padding bytes and its memory is its Borsh encoding.
    pub reserved: [u8; 2],
}

impl Job {
    /// Byte offset of `state` in the account data (discriminator + client).
    pub const STATE_OFFSET: usize = 8 + 32;
    /// Byte offset of `client` in the account data.
    pub const CLIENT_OFFSET: usize = 8;
}

impl JobCore {
    /// Tokens the escrow vault must hold right now.
    pub fn escrow_expected(&self) -> Result<u64> {
        self.deposit
            .checked_add(self.slashed_to_client)
            .and_then(|v| v.checked_add(self.challenger_pool))
            .and_then(|v| v.checked_add(self.bonds_held))
            .and_then(|v| v.checked_add(self.treasury_owed))
            .and_then(|v| v.checked_sub(self.paid_out))
            .and_then(|v| v.checked_sub(self.refunded))
            .ok_or_else(|| error!(TesseraError::MathOverflow))
    }

    /// Replicas that must agree: a strict majority of the current slots.
    pub fn quorum(&self) -> u8 {
        (self.slots >> 1).saturating_add(1)
    }

    /// Slots the client paid for: k + ESCALATION_SLOTS * max_escalations. Escalation rounds
    /// (ESCALATION_SLOTS each) and audit rounds (one more than the challenged votes) spend it.
    pub fn budget_slots(replicas: u8, max_escalations: u8) -> Result<u8> {
        max_escalations
            .checked_mul(ESCALATION_SLOTS)
            .and_then(|e| e.checked_add(replicas))
            .ok_or_else(|| error!(TesseraError::MathOverflow))
    }

    /// Revealed votes for `hash`, all rounds.
    pub fn votes(&self, hash: &[u8; 32]) -> u8 {
        self.tally
            .iter()
            .take(usize::from(self.tally_len))
            .find(|t| &t.hash == hash)
            .map_or(0, |t| t.count)
    }

    /// Can the client's budget pay `extra` more slots?
    pub fn budget_allows(&self, extra: u8) -> Result<bool> {
        let budget = Self::budget_slots(self.replicas, self.max_escalations)?;
        Ok(self.slots.checked_add(extra).is_some_and(|s| s <= budget))
    }

    /// Slots of an audit of the current winning hash: one more than its votes, so that
    /// overturning it takes more independent (sortition-drawn) replicas than agreed on it.
    pub fn audit_size(&self) -> Result<u8> {
        self.votes(&self.winning_hash)
            .checked_add(1)
            .ok_or_else(|| error!(TesseraError::MathOverflow))
    }

    /// Could `extra` more audit votes still overturn the challenged hash? True when some other
    /// hash (or one nobody revealed yet) plus `extra` would have strictly more votes.
    pub fn overturn_possible(&self, extra: u8) -> bool {
        let held = self.votes(&self.challenged_hash);
        let best_other = self
            .tally
            .iter()
            .take(usize::from(self.tally_len))
            .filter(|t| t.hash != self.challenged_hash)
            .map(|t| t.count)
            .max()
            .unwrap_or(0);
        best_other.saturating_add(extra) > held
    }

    /// Record a revealed hash.
    pub fn tally_add(&mut self, hash: [u8; 32]) -> Result<()> {
        let len = usize::from(self.tally_len);
        for t in self.tally.iter_mut().take(len) {
            if t.hash == hash {
                t.count = t.count.checked_add(1).ok_or(TesseraError::MathOverflow)?;
                return Ok(());
            }
        }
        require!(len < MAX_SLOTS, TesseraError::MathOverflow);
        self.tally[len] = Tally { hash, count: 1 };
        self.tally_len = self
            .tally_len
            .checked_add(1)
            .ok_or(TesseraError::MathOverflow)?;
        Ok(())
    }

    /// The winning hash, if any. Normally the hash held by a strict majority of all slots.
    /// After a challenge, votes of every round count: a hash overturns the challenged one only
    /// with strictly more votes than it (an audit has one slot more than the challenged votes,
    /// so overturning takes a unanimous audit); otherwise the challenged hash stands.
    pub fn majority(&self) -> Option<[u8; 32]> {
        if self.challenged {
            let held = self.votes(&self.challenged_hash);
            return Some(
                self.tally
                    .iter()
                    .take(usize::from(self.tally_len))
                    .find(|t| t.count > held)
                    .map(|t| t.hash)
                    .unwrap_or(self.challenged_hash),
            );
        }
        let q = self.quorum();
        self.tally
            .iter()
            .take(usize::from(self.tally_len))
            .find(|t| t.count >= q)
            .map(|t| t.hash)
    }

    /// True when a new round (commit + reveal windows) still fits before the job deadline.
    pub fn round_fits(&self, now: i64, commit_secs: i64, reveal_secs: i64) -> bool {
        now.checked_add(commit_secs)
            .and_then(|t| t.checked_add(reveal_secs))
            .is_some_and(|t| t <= self.deadline)
    }

    /// True when a new round (commit + reveal windows of this job's terms) still fits before the
    /// job deadline.
    pub fn next_round_fits(&self, now: i64) -> bool {
        self.round_fits(
            now,
            self.terms.commit_window_secs,
            self.terms.reveal_window_secs,
        )
    }

    /// Open a fresh claim/commit round starting `now` (first round, escalation, audit): the
    /// round counters restart because every claim holding a slot belongs to an earlier round.
    pub fn open_round(&mut self, now: i64, slot: u64) {
        self.round_claims = 0;
        self.round_commits = 0;
        self.round_reveals = 0;
        self.reopen_round(now, slot);
    }

    /// Restart the commit window of the current round (it closed with no commitment). The
    /// round's silent claims keep counting in `round_claims` until `expire_claim` frees them:
    /// they belong to this round, and a claim's round decides which counters it touches.
    pub fn reopen_round(&mut self, now: i64, slot: u64) {
        self.state = JobState::Open;
        self.seed_slot = slot;
        self.commit_deadline = now
            .saturating_add(self.terms.commit_window_secs)
            .min(self.deadline);
    }

    /// What a draw for a slot of this round (or a bid) counts, at chain slot `slot`, from the
    /// SlotHashes and RecentBlockhashes sysvars' data (as a transaction executing in `slot`
    /// sees them) and the config's stake snapshots (its stake epochs): the program's check and
    /// the workers' forecast run this same function. `SeedNotReady` before the seed slot has
    /// ended.
    pub fn round_draw(
        &self,
        node: &super::NodeCore,
        config: &super::ConfigCore,
        slot: u64,
        slot_hashes: &[u8],
        recent_blockhashes: &[u8],
    ) -> Result<RoundDraw> {
        require!(slot > self.seed_slot, TesseraError::SeedNotReady);
        let seed_epoch = config.stake_epoch(self.seed_slot);
        let seed = crate::sortition::round_seed(slot_hashes, recent_blockhashes, self.seed_slot);
        let seeded = seed.and_then(|seed| {
            Some(RoundDraw::Seeded {
                seed,
                // stake bonded, and the total, as they stood when the seed's epoch began:
                // nothing moved in (or out) after the seed was known counts
                weight: node.draw_weight(seed_epoch)?,
                total: config.draw_total(seed_epoch)?,
                age: crate::sortition::age_slots(self.seed_slot, slot)?,
            })
        });
        // A seed older than the sysvar's 512 slots (~3 min), or than the two epochs of stake
        // kept: by then the threshold has widened past one for any real stake, so the round
        // is open to every node whose stake was bonded when the current epoch began.
        Ok(seeded.unwrap_or(RoundDraw::Open {
            weight: node.draw_weight(config.stake_epoch(slot)).unwrap_or(0),
        }))
    }

    /// Checks `node`'s sortition eligibility for a slot of this round (or a bid) in `clock`'s
    /// slot; `slot_hashes` and `recent_blockhashes` are the two sysvars' data.
    #[allow(clippy::too_many_arguments)]
    pub fn check_sortition(
        &self,
        key: &Pubkey,
        node_key: &Pubkey,
        node: &super::NodeCore,
        config: &super::ConfigCore,
        clock: &Clock,
        slot_hashes: &[u8],
        recent_blockhashes: &[u8],
    ) -> Result<()> {
        let draw = self.round_draw(node, config, clock.slot, slot_hashes, recent_blockhashes)?;
        require!(
            draw.eligible(key, self.round, node_key, &self.terms),
            TesseraError::NotEligible
        );
        Ok(())
    }

    /// Slots the current round opened (`round_size`): k in the first round, ESCALATION_SLOTS
    /// in an escalation round, the audit's size in an audit round.
    pub fn round_slots(&self) -> u8 {
        self.round_size
    }

    /// Round-0 slots still held for auction winners at `now`.
    pub fn reserved_at(&self, now: i64) -> u8 {
        if self.round == 0 && now <= self.wins_until {
            self.reserved_slots
        } else {
            0
        }
    }
}

impl JobCore {
    /// Can `node` take a replica of this job (claim or bid) at `now`?
    pub fn check_eligible(
        &self,
        config: &super::ConfigCore,
        node: &super::NodeCore,
        hw: &super::HardwareCaps,
        now: i64,
    ) -> Result<()> {
        let r = &self.requirements;
        require!(
            hw.vram_mb >= r.min_vram_mb
                && hw.compute_capability >= r.min_compute_capability
                && hw.capabilities & r.capabilities == r.capabilities,
            TesseraError::HardwareMismatch
        );
        let bonded = node.bonded();
        require!(
            bonded >= config.min_stake && bonded >= r.min_stake,
            TesseraError::InsufficientStake
        );
        require!(
            node.reputation.score_bps >= r.min_reputation_bps,
            TesseraError::ReputationTooLow
        );
        if now < self.priority_until {
            require!(
                bonded >= config.priority_min_stake
                    && node.reputation.score_bps >= config.priority_min_reputation_bps,
                TesseraError::PriorityWindow
            );
        }
        Ok(())
    }
}
