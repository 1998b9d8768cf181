use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenInterface;

use crate::errors::TesseraError;
use crate::events::{ClaimSettled, JobCompleted, NodeSlashed, ResultRecorded};
use crate::state::{
    Claim, ClaimHead, ClaimOutcome, ClaimState, Config, Job, JobHead, JobState, NodeHead,
    SlashReason,
};
use crate::token_ops;

#[derive(Accounts)]
pub struct SettleClaim<'info> {
    /// Anyone; receives the crank reward of any slash.
    pub cranker: Signer<'info>,
    /// The cranker's own token account of the network mint (never a program vault: a stake
    /// vault or escrow passed here would turn the reward into a self-transfer). Checked when a
    /// slash pays it (`token_ops::check_crank_account`) rather than by Anchor, because an
    /// operator settling its own claim passes the same account as `operator_token` too.
    /// CHECK: token-program-owned, of the config mint, owned by `cranker`; checked on use.
    #[account(mut)]
    pub cranker_token: UncheckedAccount<'info>,
    /// Writable: a slash lowers the network's bonded total (sortition), and closing the job
    /// moves what it owes the treasury into `treasury_owed`.
    #[account(mut)]
    pub config: Box<Account<'info, Config>>,
    #[account(mut)]
    pub job: Box<Account<'info, JobHead>>,
    #[account(
        mut,
        close = operator,
        has_one = job @ TesseraError::ClaimMismatch,
        has_one = node @ TesseraError::ClaimMismatch,
        has_one = operator @ TesseraError::ClaimMismatch,
    )]
    pub claim: Box<Account<'info, ClaimHead>>,
    #[account(mut)]
    pub node: Box<Account<'info, NodeHead>>,
    /// CHECK: the claim's operator (checked by `has_one`); receives the claim's rent.
    #[account(mut)]
    pub operator: UncheckedAccount<'info>,
    /// Where a winning replica is paid: the operator's token account of the network mint.
    /// CHECK: checked when a payment goes to it (`token_ops::check_wallet_account`).
    #[account(mut)]
    pub operator_token: UncheckedAccount<'info>,
    /// CHECK: the node's stake vault, pinned by address (the token program checks the rest).
    #[account(mut, address = node.stake_vault @ TesseraError::VaultMismatch)]
    pub stake_vault: UncheckedAccount<'info>,
    /// CHECK: the network's escrow vault, pinned by address (the token program checks the
    /// rest).
    #[account(mut, address = config.vault @ TesseraError::VaultMismatch)]
    pub escrow: UncheckedAccount<'info>,
    /// The job's client: when it settles the last claim the job closes, its rent goes here.
    /// CHECK: pinned to the job's client.
    #[account(mut, address = job.client @ TesseraError::NotClient)]
    pub client: UncheckedAccount<'info>,
    /// Where the job's unspent escrow goes when the client's last settlement closes it.
    /// CHECK: checked when a refund goes to it (`token_ops::check_wallet_account`).
    #[account(mut)]
    pub client_token: UncheckedAccount<'info>,
    /// CHECK: pinned to the config's mint by address.
    #[account(address = config.mint @ TesseraError::MintMismatch)]
    pub mint: UncheckedAccount<'info>,
    #[account(address = config.token_program @ TesseraError::MintMismatch)]
    pub token_program: Interface<'info, TokenInterface>,
}

impl SettleClaim<'_> {
    pub fn validate(&self) -> Result<()> {
        crate::cu_mark!("validate");
        let now = Clock::get()?.unix_timestamp;
        let job = &self.job;
        let settled = matches!(
            job.state,
            JobState::Completed | JobState::Failed | JobState::Expired
        );
        // A job whose challenge window closed unchallenged is complete: the first settlement
        // records that itself, so no separate finalize_job crank is needed.
        let unchallenged = job.state == JobState::Challenge && now > job.challenge_deadline;
        require!(settled || unchallenged, TesseraError::JobNotSettled);
        Ok(())
    }
}

/// Permissionless: settle one claim of a finished job (or of one whose challenge window has
/// closed, which completes it) and close it (rent to the operator).
/// Majority replicas are paid their price minus the protocol fee; losing, silent and late
/// replicas are slashed; reputations update. When the job's client settles its last claim (no
/// claim, challenge or bid left), the job closes too (`job_close::close_settled`): no separate
/// `close_job`.
#[access_control(ctx.accounts.validate())]
pub fn handler(mut ctx: Context<SettleClaim>) -> Result<()> {
    crate::cu_mark!("handler");
    let now = Clock::get()?.unix_timestamp;
    let a = &mut ctx.accounts;
    if a.job.state == JobState::Challenge {
        a.job.state = JobState::Completed;
        emit!(JobCompleted {
            job: a.job.key(),
            result_hash: a.job.winning_hash,
        });
    }
    let completed = a.job.state == JobState::Completed;
    let claim_state = a.claim.state;
    let wins = completed
        && claim_state == ClaimState::Revealed
        && a.claim.result_hash == a.job.winning_hash;
    let (outcome, slash_reason) = match claim_state {
        ClaimState::Revealed if wins => (ClaimOutcome::Paid, None),
        // an audit left undecided by silent seats decides nobody wrong (docs/PROTOCOL.md)
        ClaimState::Revealed if completed && a.job.audit_undecided => {
            (ClaimOutcome::Unresolved, None)
        }
        ClaimState::Revealed if completed => {
            (ClaimOutcome::Disagreed, Some(SlashReason::WrongResult))
        }
        ClaimState::Revealed => (ClaimOutcome::Unresolved, None),
        ClaimState::Committed => (ClaimOutcome::NoReveal, Some(SlashReason::NoReveal)),
        ClaimState::Claimed => (ClaimOutcome::TimedOut, Some(SlashReason::Timeout)),
        ClaimState::TimedOut => (ClaimOutcome::TimedOut, None),
    };

    let mut paid = 0;
    let mut fee = 0;
    // A revealed replica of a job that failed without a majority is paid too: no one can tell
    // which replica was honest, and its output is public (docs/PROTOCOL.md, "Split votes").
    if matches!(outcome, ClaimOutcome::Paid | ClaimOutcome::Unresolved) {
        let price = a.claim.price;
        token_ops::check_wallet_account(&a.operator_token, &a.operator.key(), &a.config)?;
        fee = token_ops::bps_of(price, a.job.terms.protocol_fee_bps)?;
        paid = price.checked_sub(fee).ok_or(TesseraError::MathOverflow)?;
        require!(
            a.job.escrow_expected()? >= price,
            TesseraError::MathOverflow
        );
        crate::config_signer_seeds!(a.config => seeds);
        let config_info = a.config.to_account_info();
        token_ops::transfer(
            &a.token_program,
            &a.mint.to_account_info(),
            &a.escrow.to_account_info(),
            &a.operator_token.to_account_info(),
            &config_info,
            &[seeds],
            paid,
        )?;
        crate::cu_mark!("pay_transfer");
        a.job.paid_out = a
            .job
            .paid_out
            .checked_add(price)
            .ok_or(TesseraError::MathOverflow)?;
        // the fee stays in escrow, owed to the treasury (moved to the config when the job
        // closes, paid by sweep_fees)
        a.job.treasury_owed = a
            .job
            .treasury_owed
            .checked_add(fee)
            .ok_or(TesseraError::MathOverflow)?;
        if outcome == ClaimOutcome::Paid {
            // the first winning claim settled records where the result is: the job keeps it for
            // its client, the event for everyone once the job is closed (the client settling
            // the last claim closes it now: the event alone)
            let job_info = a.job.to_account_info();
            if Job::result_uri_is_empty(&job_info)? {
                let uri = Claim::output_uri(&a.claim.to_account_info())?;
                if !uri.is_empty() {
                    let closes_now = a.cranker.key() == a.job.client
                        && a.job.unsettled_claims == 1
                        && a.job.open_challenges == 0
                        && a.job.bids == 0;
                    if !closes_now {
                        Job::write_result_uri(&job_info, &uri)?;
                    }
                    emit!(ResultRecorded {
                        job: a.job.key(),
                        result_hash: a.job.winning_hash,
                        uri,
                    });
                }
            }
            let unit = a.job.terms.reputation_unit;
            crate::cu_mark!("result_uri");
            a.node.reputation.record_success(paid, fee, unit, now);
            crate::cu_mark!("reputation");
        } else {
            a.node.reputation.earned_total = a.node.reputation.earned_total.saturating_add(paid);
        }
    }
    if let Some(reason) = slash_reason {
        token_ops::check_crank_account(&a.cranker_token, &a.cranker.key(), &a.config)?;
        // A losing majority that a challenger disputed pays the challenger, not the client.
        let to_challenger = reason == SlashReason::WrongResult
            && a.job.challenged
            && a.claim.result_hash == a.job.challenged_hash;
        let mut s = SlashAccounts {
            config: &mut a.config,
            node: &mut a.node,
            stake_vault: a.stake_vault.to_account_info(),
            escrow: a.escrow.to_account_info(),
            cranker_token: a.cranker_token.to_account_info(),
            mint: a.mint.to_account_info(),
            token_program: &a.token_program,
        };
        apply_slash(&mut s, &mut a.job, reason, to_challenger, now)?;
        let r = &mut a.node.reputation;
        match reason {
            SlashReason::WrongResult => r.disagreed = r.disagreed.saturating_add(1),
            SlashReason::NoReveal => r.no_reveal = r.no_reveal.saturating_add(1),
            SlashReason::Timeout => r.timed_out = r.timed_out.saturating_add(1),
        }
    }
    if claim_state != ClaimState::TimedOut {
        a.node.unlock(a.claim.collateral)?;
        a.node.open_claims = a
            .node
            .open_claims
            .checked_sub(1)
            .ok_or(TesseraError::MathOverflow)?;
    }
    a.job.unsettled_claims = a
        .job
        .unsettled_claims
        .checked_sub(1)
        .ok_or(TesseraError::MathOverflow)?;
    a.node.unsettled_claims = a
        .node
        .unsettled_claims
        .checked_sub(1)
        .ok_or(TesseraError::MathOverflow)?;
    a.node.last_active = now;
    crate::cu_mark!("counters");
    emit!(ClaimSettled {
        job: a.job.key(),
        claim: a.claim.key(),
        node: a.node.key(),
        outcome,
        paid,
        fee,
        reputation_bps: a.node.reputation.score_bps,
    });
    crate::cu_mark!("event");
    // The client settling the job's last claim has its result: the job closes at once. Anyone
    // else's settlement leaves it open, its result readable, until the client closes it.
    if a.cranker.key() == a.job.client && super::job_close::closable(&a.job) {
        super::job_close::close_settled(
            &mut a.config,
            &mut a.job,
            &a.client,
            &a.client_token,
            &a.escrow,
            &a.mint,
            &a.token_program,
        )?;
        crate::cu_mark!("job_closed");
    }
    Ok(())
}

/// The token accounts a slash moves tokens between.
pub struct SlashAccounts<'a, 'info> {
    pub config: &'a mut Account<'info, Config>,
    pub node: &'a mut Account<'info, NodeHead>,
    pub stake_vault: AccountInfo<'info>,
    pub escrow: AccountInfo<'info>,
    pub cranker_token: AccountInfo<'info>,
    pub mint: AccountInfo<'info>,
    pub token_program: &'a Interface<'info, TokenInterface>,
}

/// Slash the node for `reason`: crank reward to the cranker; the job share (for its client, or
/// its challenger when `to_challenger`) and the treasury share into the job's escrow, the
/// latter owed to the treasury until `close_job`.
pub fn apply_slash(
    s: &mut SlashAccounts,
    job: &mut Account<JobHead>,
    reason: SlashReason,
    to_challenger: bool,
    now: i64,
) -> Result<u64> {
    let terms = job.terms;
    let rate = match reason {
        SlashReason::Timeout => terms.slash_timeout_bps,
        SlashReason::WrongResult => terms.slash_wrong_result_bps,
        SlashReason::NoReveal => terms.slash_no_reveal_bps,
    };
    let split = token_ops::slash_split(&terms, s.node.stake, rate)?;
    crate::node_signer_seeds!(s.node => seeds);
    let node_info = s.node.to_account_info();
    token_ops::transfer(
        s.token_program,
        &s.mint,
        &s.stake_vault,
        &s.cranker_token,
        &node_info,
        &[seeds],
        split.crank,
    )?;
    // job share and treasury share travel together into the escrow; the treasury's part is
    // paid out by close_job
    let to_escrow = split
        .job
        .checked_add(split.treasury)
        .ok_or(TesseraError::MathOverflow)?;
    token_ops::transfer(
        s.token_program,
        &s.mint,
        &s.stake_vault,
        &s.escrow,
        &node_info,
        &[seeds],
        to_escrow,
    )?;
    job.treasury_owed = job
        .treasury_owed
        .checked_add(split.treasury)
        .ok_or(TesseraError::MathOverflow)?;
    let bonded = s.node.bonded();
    let epoch = s.config.stake_epoch(Clock::get()?.slot);
    s.node.take_slash(split.total, epoch)?;
    let lost = bonded
        .checked_sub(s.node.bonded())
        .ok_or(TesseraError::MathOverflow)?;
    s.config.unbond(lost, epoch)?;
    s.node.reputation.record_failure(split.total, now);
    if to_challenger {
        job.challenger_pool = job
            .challenger_pool
            .checked_add(split.job)
            .ok_or(TesseraError::MathOverflow)?;
    } else {
        job.slashed_to_client = job
            .slashed_to_client
            .checked_add(split.job)
            .ok_or(TesseraError::MathOverflow)?;
    }
    emit!(NodeSlashed {
        node: s.node.key(),
        job: job.key(),
        reason,
        amount: split.total,
        to_crank: split.crank,
        to_job: split.job,
        to_treasury: split.treasury,
        reputation_bps: s.node.reputation.score_bps,
    });
    Ok(split.total)
}
