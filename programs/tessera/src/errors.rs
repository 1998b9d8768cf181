use anchor_lang::prelude::*;

/// Every way an instruction can fail. Clients match on these names (IDL `errors`).
#[error_code]
pub enum TesseraError {
    // ---- config
    #[msg("signer is not the config authority")]
    Unauthorized,
    #[msg("a basis-point value is above 10000")]
    InvalidBps,
    #[msg("minimum stake must be greater than zero")]
    InvalidMinStake,
    #[msg("a window or period is zero, negative or longer than a year")]
    InvalidPeriod,
    #[msg("max replicas must be between 1 and the protocol cap")]
    InvalidMaxReplicas,
    #[msg("escalation cap is above the protocol cap")]
    InvalidEscalationCap,
    #[msg("treasury token account does not hold the config mint")]
    TreasuryMintMismatch,
    #[msg("token account or mint does not match the config")]
    MintMismatch,
    #[msg("the protocol is paused")]
    Paused,
    // ---- nodes and stake
    #[msg("a string field is too long")]
    StringTooLong,
    #[msg("amount must be greater than zero")]
    ZeroAmount,
    #[msg("not enough stake for this operation")]
    InsufficientStake,
    #[msg("unbonding period has not elapsed")]
    UnbondingNotElapsed,
    #[msg("nothing is unbonding")]
    NothingUnbonding,
    #[msg("node still has open claims")]
    OpenClaims,
    #[msg("node still has stake in its vault")]
    StakeRemaining,
    #[msg("signer is not the node operator")]
    NotOperator,
    #[msg("unknown capability flags")]
    InvalidCapabilities,
    // ---- jobs
    #[msg("replicas must be between 1 and config.max_replicas")]
    InvalidReplicas,
    #[msg("price must be greater than zero")]
    InvalidPrice,
    #[msg("deadline is in the past, too soon or too far")]
    InvalidDeadline,
    #[msg("escalation budget above config.escalation_cap")]
    InvalidEscalations,
    #[msg("job is not in the state this instruction needs")]
    InvalidJobState,
    #[msg("signer is not the job client")]
    NotClient,
    #[msg("job already has claims")]
    JobHasClaims,
    #[msg("all replica slots are taken")]
    NoFreeSlot,
    #[msg("node does not meet the job's hardware requirements")]
    HardwareMismatch,
    #[msg("node reputation is below the job minimum")]
    ReputationTooLow,
    #[msg("job is in its priority window and the node does not qualify")]
    PriorityWindow,
    #[msg("the window for this action has closed")]
    WindowClosed,
    #[msg("the window for this action is still open")]
    WindowOpen,
    #[msg("job deadline has passed")]
    JobDeadlinePassed,
    #[msg("this auction job is still taking bids: use place_bid")]
    AuctionJob,
    #[msg("this is a fixed-price job: use claim_job")]
    NotAuctionJob,
    #[msg("bid is above the job's maximum price")]
    BidTooHigh,
    #[msg("bid accounts passed do not match the job's bids")]
    BidSetMismatch,
    #[msg("node did not win the auction")]
    NotAuctionWinner,
    // ---- results
    #[msg("claim is not in the state this instruction needs")]
    InvalidClaimState,
    #[msg("claim does not belong to this job / node")]
    ClaimMismatch,
    #[msg("revealed hash and salt do not match the commitment")]
    CommitmentMismatch,
    #[msg("the claim's deadline has not passed")]
    ClaimNotExpired,
    #[msg("this claim belongs to an earlier round")]
    StaleRound,
    #[msg("job is not settled")]
    JobNotSettled,
    #[msg("claims remain unsettled")]
    UnsettledClaims,
    #[msg("challenge target does not match the job's winning result")]
    ChallengeMismatch,
    #[msg("no escalation budget left for a challenge")]
    NoEscalationBudget,
    #[msg("vault or escrow account is not the one this node / job owns")]
    VaultMismatch,
    #[msg("arithmetic overflow")]
    MathOverflow,
    #[msg("no canonical program address exists for these seeds")]
    PdaNotFound,
    #[msg("account is not the canonical program address for its seeds")]
    WrongPda,
    // ---- added after the protocol review (appended: earlier codes keep their numbers)
    #[msg("challenge bond must be greater than zero")]
    InvalidChallengeBond,
    #[msg("signer is not the proposed config authority")]
    NotPendingAuthority,
    #[msg("the mint has a Token-2022 extension the network cannot hold safely")]
    UnsupportedMintExtension,
    #[msg("this bid won a slot that can still be claimed: only its operator may close it")]
    BidStillUsable,
    #[msg("the crank reward account must be a token account of the signing cranker")]
    CrankTokenNotCranker,
    #[msg("an even replica count needs an escalation budget to break a tie")]
    NoMajorityPossible,
    #[msg("the price is below the network's minimum price per replica")]
    PriceBelowMinimum,
    #[msg("the node's free bonded stake cannot cover this claim's collateral")]
    InsufficientCollateral,
    #[msg("the node's sortition draw does not make it eligible for this round yet")]
    NotEligible,
    #[msg("the round's sortition seed (the blockhash of the slot it opened in) is not known yet")]
    SeedNotReady,
    #[msg("an audit overturned this job's challenged result; the audit's result is final")]
    AuditOverturned,
    #[msg("the node has claims not yet settled (timed-out ones too); settle them first")]
    NodeHasUnsettledClaims,
    #[msg("the stake epoch length is fixed when the config is created (draw snapshots count in its epochs)")]
    StakeEpochFixed,
    #[msg("the token account is not the expected wallet's account of the network mint")]
    TokenAccountNotOwner,
    #[msg("submit_result takes only the last commitment of a full round; use commit_result")]
    RoundNotComplete,
}
