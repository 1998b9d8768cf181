//! Instruction builders for every Tessera instruction. Accounts come from the program's own
//! generated `tessera::accounts::*` structs and data from `tessera::instruction::*`, so a
//! change in the program's account list is a compile error here, not a runtime surprise.
use anchor_lang::{InstructionData, ToAccountMetas};
use solana_sdk::{instruction::Instruction, pubkey::Pubkey};
use tessera::instructions as args;
use tessera::state::ConfigParams;

use crate::pda;

/// The SlotHashes sysvar: where a round's seed slot stands (`tessera::sortition::round_seed`).
pub const SLOT_HASHES: Pubkey = tessera::constants::SLOT_HASHES_SYSVAR;
/// The RecentBlockhashes sysvar: the seed itself (`tessera::sortition::round_seed`).
pub const RECENT_BLOCKHASHES: Pubkey = tessera::constants::RECENT_BLOCKHASHES_SYSVAR;

fn build(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: tessera::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

/// Parameters used by the local network demo and tests: short windows so a job settles in
/// seconds, a 2.5% protocol fee, 100-token minimum stake (6 decimals), a 0.01-token minimum
/// price, 2 tokens per full reputation success, collateral of 1× the price per open claim.
pub fn localnet_params() -> ConfigParams {
    ConfigParams {
        protocol_fee_bps: 250,
        min_stake: 100_000_000,
        unbonding_secs: 10,
        slash_timeout_bps: 500,
        slash_wrong_result_bps: 2_000,
        slash_no_reveal_bps: 1_000,
        slash_client_share_bps: 5_000,
        crank_reward_bps: 500,
        commit_window_secs: 60,
        reveal_window_secs: 30,
        challenge_window_secs: 5,
        max_replicas: 5,
        escalation_cap: 2,
        challenge_bond: 10_000_000,
        priority_min_value: 1_000_000_000,
        priority_window_secs: 5,
        priority_min_stake: 500_000_000,
        priority_min_reputation_bps: 6_000,
        // 0.01 token: no dust jobs
        min_price_per_replica: 10_000,
        // a replica whose protocol fee is 0.5 token or more (20 tokens of work at 2.5 %) is a
        // full success for reputation
        reputation_unit: 500_000,
        // each open claim locks bonded stake equal to its price
        collateral_bps: 10_000,
        // sortition: 2 expected eligible nodes per free slot, doubling every 5 s
        sortition_expected_pct: 100,
        sortition_widen_slots: 25,
        // stake counts in the draws from the next 32-slot (13 s) epoch on
        stake_epoch_slots: 32,
    }
}

/// `initialize_config`. `upgradeable`: pass the ProgramData account (required when the program
/// was deployed through the upgradeable loader; `authority` must be its upgrade authority).
pub fn initialize_config(
    authority: &Pubkey,
    mint: &Pubkey,
    treasury: &Pubkey,
    token_program: &Pubkey,
    upgradeable: bool,
    params: ConfigParams,
) -> Instruction {
    build(
        tessera::accounts::InitializeConfig {
            authority: *authority,
            config: pda::config().0,
            mint: *mint,
            treasury: *treasury,
            program: tessera::ID,
            program_data: upgradeable.then(pda::program_data),
            token_program: *token_program,
            system_program: solana_system_interface::program::ID,
            escrow: pda::escrow().0,
        },
        tessera::instruction::InitializeConfig {
            args: args::InitializeConfigArgs { params },
        },
    )
}

pub fn update_config(
    authority: &Pubkey,
    token_program: &Pubkey,
    params: Option<ConfigParams>,
    new_authority: Option<Pubkey>,
    new_treasury: Option<Pubkey>,
) -> Instruction {
    build(
        tessera::accounts::UpdateConfig {
            authority: *authority,
            config: pda::config().0,
            new_treasury,
            token_program: *token_program,
        },
        tessera::instruction::UpdateConfig {
            args: args::UpdateConfigArgs {
                params,
                new_authority,
            },
        },
    )
}

/// Second step of an authority transfer: the key `update_config` proposed signs.
pub fn accept_authority(new_authority: &Pubkey) -> Instruction {
    build(
        tessera::accounts::AcceptAuthority {
            new_authority: *new_authority,
            config: pda::config().0,
        },
        tessera::instruction::AcceptAuthority {},
    )
}

pub fn set_paused(authority: &Pubkey, paused: bool) -> Instruction {
    build(
        tessera::accounts::SetPaused {
            authority: *authority,
            config: pda::config().0,
        },
        tessera::instruction::SetPaused {
            args: args::SetPausedArgs { paused },
        },
    )
}

/// Accounts every token-moving instruction needs, resolved once from the config.
#[derive(Clone, Copy, Debug)]
pub struct TokenCtx {
    pub mint: Pubkey,
    pub token_program: Pubkey,
    pub treasury: Pubkey,
}

impl TokenCtx {
    pub fn from_config(c: &tessera::state::Config) -> Self {
        TokenCtx {
            mint: c.mint,
            token_program: c.token_program,
            treasury: c.treasury,
        }
    }

    /// The associated token account of `owner` for the network token.
    pub fn ata(&self, owner: &Pubkey) -> Pubkey {
        spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            owner,
            &self.mint,
            &self.token_program,
        )
    }
}

// ---------------------------------------------------------------- nodes and stake

pub fn register_node(
    t: &TokenCtx,
    operator: &Pubkey,
    hardware: tessera::state::Hardware,
) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::RegisterNode {
            operator: *operator,
            config: pda::config().0,
            node,
            stake_vault: pda::stake_vault(&node).0,
            mint: t.mint,
            token_program: t.token_program,
            system_program: solana_system_interface::program::ID,
        },
        tessera::instruction::RegisterNode {
            args: args::RegisterNodeArgs { hardware },
        },
    )
}

pub fn update_node(operator: &Pubkey, hardware: tessera::state::Hardware) -> Instruction {
    build(
        tessera::accounts::UpdateNode {
            operator: *operator,
            node: pda::node(operator).0,
        },
        tessera::instruction::UpdateNode {
            args: args::UpdateNodeArgs { hardware },
        },
    )
}

pub fn stake(t: &TokenCtx, operator: &Pubkey, amount: u64) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::Stake {
            operator: *operator,
            config: pda::config().0,
            node,
            stake_vault: pda::stake_vault(&node).0,
            operator_token: t.ata(operator),
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::Stake {
            args: args::StakeArgs { amount },
        },
    )
}

pub fn request_unstake(operator: &Pubkey, amount: u64) -> Instruction {
    build(
        tessera::accounts::RequestUnstake {
            operator: *operator,
            config: pda::config().0,
            node: pda::node(operator).0,
        },
        tessera::instruction::RequestUnstake {
            args: args::RequestUnstakeArgs { amount },
        },
    )
}

pub fn withdraw_stake(t: &TokenCtx, operator: &Pubkey) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::WithdrawStake {
            operator: *operator,
            config: pda::config().0,
            node,
            stake_vault: pda::stake_vault(&node).0,
            operator_token: t.ata(operator),
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::WithdrawStake {},
    )
}

pub fn deregister_node(t: &TokenCtx, operator: &Pubkey) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::DeregisterNode {
            operator: *operator,
            config: pda::config().0,
            node,
            stake_vault: pda::stake_vault(&node).0,
            operator_token: t.ata(operator),
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::DeregisterNode {},
    )
}

// ---------------------------------------------------------------- jobs

pub fn post_job(t: &TokenCtx, client: &Pubkey, a: args::PostJobArgs) -> Instruction {
    let job = pda::job(client, a.job_id).0;
    build(
        tessera::accounts::PostJob {
            client: *client,
            config: pda::config().0,
            job,
            escrow: pda::escrow().0,
            client_token: t.ata(client),
            mint: t.mint,
            token_program: t.token_program,
            system_program: solana_system_interface::program::ID,
        },
        tessera::instruction::PostJob { args: a },
    )
}

pub fn cancel_job(t: &TokenCtx, client: &Pubkey, job: &Pubkey) -> Instruction {
    build(
        tessera::accounts::CancelJob {
            client: *client,
            config: pda::config().0,
            job: *job,
            escrow: pda::escrow().0,
            client_token: t.ata(client),
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::CancelJob {},
    )
}

pub fn close_job(t: &TokenCtx, client: &Pubkey, job: &Pubkey) -> Instruction {
    build(
        tessera::accounts::CloseJob {
            config: pda::config().0,
            job: *job,
            client: *client,
            client_token: t.ata(client),
            escrow: pda::escrow().0,
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::CloseJob {},
    )
}

/// `with_bid`: pass the node's bid account (auction jobs, first round).
pub fn claim_job(operator: &Pubkey, job: &Pubkey, with_bid: bool) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::ClaimJob {
            operator: *operator,
            config: pda::config().0,
            job: *job,
            node,
            claim: pda::claim(job, &node).0,
            bid: with_bid.then(|| pda::bid(job, &node).0),
            slot_hashes: SLOT_HASHES,
            recent_blockhashes: RECENT_BLOCKHASHES,
            system_program: solana_system_interface::program::ID,
        },
        tessera::instruction::ClaimJob {},
    )
}

pub fn place_bid(operator: &Pubkey, job: &Pubkey, price: u64) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::PlaceBid {
            operator: *operator,
            config: pda::config().0,
            job: *job,
            node,
            bid: pda::bid(job, &node).0,
            slot_hashes: SLOT_HASHES,
            recent_blockhashes: RECENT_BLOCKHASHES,
            system_program: solana_system_interface::program::ID,
        },
        tessera::instruction::PlaceBid {
            args: args::PlaceBidArgs { price },
        },
    )
}

/// `bids`: every bid account of the job.
pub fn close_auction(job: &Pubkey, bids: &[Pubkey]) -> Instruction {
    let mut ix = build(
        tessera::accounts::CloseAuction {
            config: pda::config().0,
            job: *job,
        },
        tessera::instruction::CloseAuction {},
    );
    ix.accounts.extend(
        bids.iter()
            .map(|b| solana_sdk::instruction::AccountMeta::new(*b, false)),
    );
    ix
}

/// `closer` signs: anyone for a lost or lapsed bid, the bid's operator for a claimable win.
pub fn close_bid(closer: &Pubkey, job: &Pubkey, node: &Pubkey, operator: &Pubkey) -> Instruction {
    build(
        tessera::accounts::CloseBid {
            closer: *closer,
            job: *job,
            bid: pda::bid(job, node).0,
            operator: *operator,
        },
        tessera::instruction::CloseBid {},
    )
}

// ---------------------------------------------------------------- results

pub fn commit_result(operator: &Pubkey, job: &Pubkey, commitment: [u8; 32]) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::CommitResult {
            operator: *operator,
            job: *job,
            claim: pda::claim(job, &node).0,
        },
        tessera::instruction::CommitResult {
            args: args::CommitResultArgs { commitment },
        },
    )
}

pub fn reveal_result(
    operator: &Pubkey,
    job: &Pubkey,
    result_hash: [u8; 32],
    salt: [u8; 32],
    output_uri: String,
) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::RevealResult {
            operator: *operator,
            job: *job,
            claim: pda::claim(job, &node).0,
        },
        tessera::instruction::RevealResult {
            args: args::RevealResultArgs {
                result_hash,
                salt,
                output_uri,
            },
        },
    )
}

/// `commit_result` and `reveal_result` in one: only for the last commitment of a full round
/// (every slot claimed, every other claim of the round committed), e.g. a k = 1 job's replica.
pub fn submit_result(
    operator: &Pubkey,
    job: &Pubkey,
    result_hash: [u8; 32],
    output_uri: String,
) -> Instruction {
    let node = pda::node(operator).0;
    build(
        tessera::accounts::SubmitResult {
            operator: *operator,
            job: *job,
            claim: pda::claim(job, &node).0,
        },
        tessera::instruction::SubmitResult {
            args: args::SubmitResultArgs {
                result_hash,
                output_uri,
            },
        },
    )
}

/// Permissionless: pay what closed jobs owe the treasury from the escrow vault.
pub fn sweep_fees(t: &TokenCtx) -> Instruction {
    build(
        tessera::accounts::SweepFees {
            config: pda::config().0,
            escrow: pda::escrow().0,
            treasury: t.treasury,
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::SweepFees {},
    )
}

/// Compute units a transaction asks for per Tessera instruction. The largest a job runs through uses
/// about 15k (docs/CU.md, asserted by the test suite); without a limit the runtime
/// assumes 200k per instruction, and the leader's scheduler budgets blocks and per-account
/// write limits by that, so an explicit limit lets more of our transactions into each block.
pub const CU_PER_INSTRUCTION: u32 = 50_000;

/// `ixs` (all Tessera instructions) preceded by a compute-unit limit of
/// [`CU_PER_INSTRUCTION`] each.
pub fn with_compute_limit(ixs: &[Instruction]) -> Vec<Instruction> {
    let units = CU_PER_INSTRUCTION.saturating_mul(ixs.len() as u32);
    let mut out = Vec::with_capacity(ixs.len() + 1);
    out.push(
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(units),
    );
    out.extend_from_slice(ixs);
    out
}

/// The most bytes a transaction may take on the wire (`PACKET_DATA_SIZE`).
pub const MAX_TRANSACTION_BYTES: usize = 1232;

/// Size in bytes of a legacy transaction of `ixs` paid (and signed, alone) by `payer`.
pub fn transaction_size(payer: &Pubkey, ixs: &[Instruction]) -> usize {
    let m = solana_sdk::message::Message::new(ixs, Some(payer));
    let signatures = usize::from(m.header.num_required_signatures);
    // a short-vec count (one byte below 128), the signatures, the message
    1 + 64 * signatures + m.serialize().len()
}

/// `ixs`, in order, split into the fewest runs that each fit one transaction paid by `payer`
/// with [`with_compute_limit`]'s instruction in front: a client's settlement of every claim of
/// a job is one transaction up to four replicas (the claims share most of their accounts).
/// An instruction too large for a transaction of its own still gets one (and fails there).
pub fn pack(payer: &Pubkey, ixs: &[Instruction]) -> Vec<Vec<Instruction>> {
    let mut runs: Vec<Vec<Instruction>> = vec![];
    let mut run: Vec<Instruction> = vec![];
    for ix in ixs {
        run.push(ix.clone());
        if run.len() > 1
            && transaction_size(payer, &with_compute_limit(&run)) > MAX_TRANSACTION_BYTES
        {
            let last = run.pop().expect("just pushed");
            runs.push(std::mem::replace(&mut run, vec![last]));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

pub fn finalize_job(job: &Pubkey) -> Instruction {
    build(
        tessera::accounts::FinalizeJob { job: *job },
        tessera::instruction::FinalizeJob {},
    )
}

pub fn expire_job(job: &Pubkey) -> Instruction {
    build(
        tessera::accounts::ExpireJob { job: *job },
        tessera::instruction::ExpireJob {},
    )
}

/// `node_operator`: the operator of the claim's node.
pub fn expire_claim(
    t: &TokenCtx,
    cranker: &Pubkey,
    job: &Pubkey,
    node_operator: &Pubkey,
) -> Instruction {
    let node = pda::node(node_operator).0;
    build(
        tessera::accounts::ExpireClaim {
            cranker: *cranker,
            cranker_token: t.ata(cranker),
            config: pda::config().0,
            job: *job,
            claim: pda::claim(job, &node).0,
            node,
            stake_vault: pda::stake_vault(&node).0,
            escrow: pda::escrow().0,
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::ExpireClaim {},
    )
}

/// `client`: the job's client. When the client itself settles the job's last claim, the job
/// closes in the same instruction (its refund to the client's token account).
pub fn settle_claim(
    t: &TokenCtx,
    cranker: &Pubkey,
    job: &Pubkey,
    client: &Pubkey,
    node_operator: &Pubkey,
) -> Instruction {
    let node = pda::node(node_operator).0;
    build(
        tessera::accounts::SettleClaim {
            cranker: *cranker,
            cranker_token: t.ata(cranker),
            config: pda::config().0,
            job: *job,
            claim: pda::claim(job, &node).0,
            node,
            operator: *node_operator,
            operator_token: t.ata(node_operator),
            stake_vault: pda::stake_vault(&node).0,
            escrow: pda::escrow().0,
            client: *client,
            client_token: t.ata(client),
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::SettleClaim {},
    )
}

pub fn challenge_result(
    t: &TokenCtx,
    challenger: &Pubkey,
    job: &Pubkey,
    challenged_hash: [u8; 32],
) -> Instruction {
    build(
        tessera::accounts::ChallengeResult {
            challenger: *challenger,
            challenger_token: t.ata(challenger),
            config: pda::config().0,
            job: *job,
            challenge: pda::challenge(job, challenger).0,
            escrow: pda::escrow().0,
            mint: t.mint,
            token_program: t.token_program,
            system_program: solana_system_interface::program::ID,
        },
        tessera::instruction::ChallengeResult {
            args: args::ChallengeResultArgs { challenged_hash },
        },
    )
}

pub fn settle_challenge(t: &TokenCtx, challenger: &Pubkey, job: &Pubkey) -> Instruction {
    build(
        tessera::accounts::SettleChallenge {
            config: pda::config().0,
            job: *job,
            challenge: pda::challenge(job, challenger).0,
            challenger: *challenger,
            challenger_token: t.ata(challenger),
            escrow: pda::escrow().0,
            mint: t.mint,
            token_program: t.token_program,
        },
        tessera::instruction::SettleChallenge {},
    )
}
