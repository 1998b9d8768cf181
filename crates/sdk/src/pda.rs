//! Program-derived addresses, from the seeds in `tessera::constants`.
use solana_sdk::pubkey::Pubkey;
use tessera::constants::*;

fn find(seeds: &[&[u8]]) -> (Pubkey, u8) {
    Pubkey::find_program_address(seeds, &tessera::ID)
}

pub fn config() -> (Pubkey, u8) {
    find(&[CONFIG_SEED])
}

pub fn node(operator: &Pubkey) -> (Pubkey, u8) {
    find(&[NODE_SEED, operator.as_ref()])
}

pub fn stake_vault(node: &Pubkey) -> (Pubkey, u8) {
    find(&[STAKE_VAULT_SEED, node.as_ref()])
}

pub fn job(client: &Pubkey, job_id: u64) -> (Pubkey, u8) {
    find(&[JOB_SEED, client.as_ref(), &job_id.to_le_bytes()])
}

/// The network's escrow vault (every job's escrow; each job's share is its own accounting).
pub fn escrow() -> (Pubkey, u8) {
    find(&[ESCROW_SEED])
}

pub fn claim(job: &Pubkey, node: &Pubkey) -> (Pubkey, u8) {
    find(&[CLAIM_SEED, job.as_ref(), node.as_ref()])
}

pub fn bid(job: &Pubkey, node: &Pubkey) -> (Pubkey, u8) {
    find(&[BID_SEED, job.as_ref(), node.as_ref()])
}

pub fn challenge(job: &Pubkey, challenger: &Pubkey) -> (Pubkey, u8) {
    find(&[CHALLENGE_SEED, job.as_ref(), challenger.as_ref()])
}

/// Address of the upgradeable loader's ProgramData account for the Tessera program.
pub fn program_data() -> Pubkey {
    Pubkey::find_program_address(
        &[tessera::ID.as_ref()],
        &anchor_lang::solana_program::bpf_loader_upgradeable::ID,
    )
    .0
}

/// The first job id `>= start` whose job PDA has bump 255. `post_job` derives the address
/// with a canonical bump search that costs ~300 CU per step (`tessera::pda`), so ids found
/// here make posting as cheap as it can be (about two ids are tried on average).
pub fn fast_job_id(client: &Pubkey, start: u64) -> u64 {
    let mut id = start;
    loop {
        if job(client, id).1 == u8::MAX {
            return id;
        }
        id = id.wrapping_add(1);
    }
}
