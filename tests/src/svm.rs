//! LiteSVM fixture: loads the real SBF build of the program, creates the network token, and
//! sends transactions while recording the compute units each instruction used.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anchor_lang::error::ERROR_CODE_OFFSET;
use litesvm::types::{FailedTransactionMetadata, TransactionMetadata};
use litesvm::LiteSVM;
use solana_clock::Clock;
use solana_sdk::{
    instruction::{Instruction, InstructionError},
    pubkey::Pubkey,
    signature::Keypair,
    signer::Signer,
    transaction::{Transaction, TransactionError},
};
use tessera::errors::TesseraError;
use tessera_sdk::{ix, pda, token};

pub type TxResult = Result<TransactionMetadata, FailedTransactionMetadata>;

/// Compute units per instruction name, filled by [`Svm::send_named`].
pub static CU_TABLE: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

pub const DECIMALS: u8 = 6;
pub const TOKEN: u64 = 1_000_000;

/// Path of the program built by `anchor build` (our cargo-build-sbf).
pub fn program_so() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = std::env::var_os("TESSERA_PROGRAM_SO")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/deploy/tessera.so"));
    assert!(
        path.exists(),
        "{} not found: build the program first (`anchor build` or scripts/test.sh)",
        path.display()
    );
    path
}

pub struct Svm {
    pub svm: LiteSVM,
    /// Payer, mint authority and the program's upgrade authority.
    pub authority: Keypair,
    pub mint: Pubkey,
    pub treasury: Pubkey,
    /// Token program of the network mint (classic Token unless `new_with_token_program`).
    pub token_program: Pubkey,
}

impl Svm {
    /// A fresh VM with the program deployed (upgrade authority = `authority`) and the network
    /// token mint created. The config is not initialised.
    pub fn new() -> Self {
        Self::new_with_token_program(token::TOKEN_PROGRAM_ID)
    }

    /// A fresh VM whose network mint lives under `token_program` (Token or Token-2022).
    pub fn new_with_token_program(token_program: Pubkey) -> Self {
        let mut svm = LiteSVM::new();
        svm.add_program_from_file(tessera::ID, program_so())
            .expect("load tessera.so");
        let authority = Keypair::new();
        svm.airdrop(&authority.pubkey(), 1_000_000_000_000).unwrap();
        // Give the deployed program a real upgrade authority, as on a real cluster.
        let pd = pda::program_data();
        let mut acc = svm.get_account(&pd).expect("programdata");
        acc.data[12] = 1; // Option::Some
        acc.data[13..45].copy_from_slice(authority.pubkey().as_ref());
        svm.set_account(pd, acc).unwrap();

        let mint = Keypair::new();
        let rent = svm.minimum_balance_for_rent_exemption(token::MINT_LEN);
        let mut s = Svm {
            svm,
            mint: mint.pubkey(),
            treasury: token::ata_for(&token_program, &authority.pubkey(), &mint.pubkey()),
            authority,
            token_program,
        };
        let auth = s.authority.pubkey();
        let mut ixs =
            token::create_mint_for(&token_program, &auth, &mint.pubkey(), &auth, DECIMALS, rent);
        ixs.push(token::create_ata_for(
            &token_program,
            &auth,
            &auth,
            &mint.pubkey(),
        ));
        s.send(&ixs, &[&mint]).expect("create mint");
        s
    }

    /// A VM with the config initialised with the localnet parameters.
    pub fn with_config() -> Self {
        Self::with_config_on(token::TOKEN_PROGRAM_ID)
    }

    /// [`Svm::with_config`] with the network mint under `token_program`.
    pub fn with_config_on(token_program: Pubkey) -> Self {
        Self::with_params_on(token_program, test_params())
    }

    /// A VM with the config initialised with `params`.
    pub fn with_params(params: tessera::state::ConfigParams) -> Self {
        Self::with_params_on(token::TOKEN_PROGRAM_ID, params)
    }

    fn with_params_on(token_program: Pubkey, params: tessera::state::ConfigParams) -> Self {
        let mut s = Self::new_with_token_program(token_program);
        let ix = s.init_config_ix(params);
        s.send_named("initialize_config", ix, &[])
            .expect("initialize_config");
        s
    }

    pub fn init_config_ix(&self, params: tessera::state::ConfigParams) -> Instruction {
        ix::initialize_config(
            &self.authority.pubkey(),
            &self.mint,
            &self.treasury,
            &self.token_program,
            true,
            params,
        )
    }

    /// Send `ixs` paid by `authority`, signed also by `signers`.
    pub fn send(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> TxResult {
        self.send_as(&self.authority.insecure_clone(), ixs, signers)
    }

    pub fn send_as(
        &mut self,
        payer: &Keypair,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> TxResult {
        let res = self.send_in_slot(payer, ixs, signers);
        // every transaction lands in a slot of its own, as on a cluster: a round's sortition
        // seed (the blockhash of the slot it opened in) is known from the next transaction on
        self.advance_slots(1);
        res
    }

    /// Send in the current slot without moving to the next: several transactions landing in
    /// one slot, as a burst of claims does on a cluster.
    pub fn send_in_slot(
        &mut self,
        payer: &Keypair,
        ixs: &[Instruction],
        signers: &[&Keypair],
    ) -> TxResult {
        let mut all: Vec<&Keypair> = vec![payer];
        all.extend_from_slice(signers);
        let tx = Transaction::new_signed_with_payer(
            ixs,
            Some(&payer.pubkey()),
            &all,
            self.svm.latest_blockhash(),
        );
        let res = self.svm.send_transaction(tx);
        self.svm.expire_blockhash();
        // LiteSVM's expire_blockhash leaves a one-entry RecentBlockhashes
        self.sync_recent_blockhashes();
        res
    }

    /// Moves the slot forward by `n`, recording a hash for each new slot in the SlotHashes
    /// sysvar (newest first, the last 512 kept, as the runtime does) and its blockhash in
    /// RecentBlockhashes (see [`Self::sync_recent_blockhashes`]).
    pub fn advance_slots(&mut self, n: u64) {
        use solana_sdk::hash::Hash;
        use solana_sdk::slot_hashes::SlotHashes;
        let mut c: Clock = self.svm.get_sysvar();
        let mut hashes: SlotHashes = self.svm.get_sysvar();
        // only the newest 512 stay in the sysvar: a long jump records just those
        let from = (c.slot + n).saturating_sub(512).max(c.slot);
        for slot in from..c.slot + n {
            // the finished slot's bank hash: a fixed pseudo-random function of the slot
            hashes.add(
                slot,
                Hash::new_from_array(slot_mix(slot, 0x5eed_7e55_e4a0_0000)),
            );
        }
        c.slot += n;
        self.svm.set_sysvar(&c);
        self.svm.set_sysvar(&hashes);
        self.sync_recent_blockhashes();
    }

    /// The blockhash this fixture gives the block of `slot` (another fixed pseudo-random
    /// function of the slot than its bank hash).
    pub fn blockhash_of(slot: u64) -> [u8; 32] {
        slot_mix(slot, 0xb10c_4a54_0000_0000)
    }

    /// Sets RecentBlockhashes to what the runtime shows a transaction in the current slot: the
    /// blockhashes of the blocks SlotHashes lists, in its order, the newest 150. (LiteSVM keeps
    /// its own one-entry list, replaced whenever a blockhash expires.)
    pub fn sync_recent_blockhashes(&mut self) {
        use solana_sdk::slot_hashes::SlotHashes;
        let hashes: SlotHashes = self.svm.get_sysvar();
        let n = hashes
            .len()
            .min(tessera::sortition::RECENT_BLOCKHASHES_ENTRIES);
        let mut data = (n as u64).to_le_bytes().to_vec();
        for (slot, _) in hashes.iter().take(n) {
            data.extend_from_slice(&Self::blockhash_of(*slot));
            data.extend_from_slice(&5_000u64.to_le_bytes());
        }
        let lamports = self.svm.minimum_balance_for_rent_exemption(data.len());
        self.svm
            .set_account(
                ix::RECENT_BLOCKHASHES,
                solana_account::Account {
                    lamports,
                    data,
                    owner: solana_sdk::sysvar::ID,
                    executable: false,
                    rent_epoch: 0,
                },
            )
            .expect("RecentBlockhashes set");
    }

    /// The current chain slot.
    pub fn slot(&self) -> u64 {
        self.svm.get_sysvar::<Clock>().slot
    }

    /// The current slot's stake epoch (`Config::stake_epoch_slots`).
    pub fn epoch(&self) -> u64 {
        let c: tessera::state::Config = self.account(&pda::config().0);
        c.stake_epoch(self.slot())
    }

    /// Move to the first slot of the next stake epoch: stake bonded before it counts in the
    /// draws of rounds seeded from then on.
    pub fn next_epoch(&mut self) {
        let c: tessera::state::Config = self.account(&pda::config().0);
        let first = c.stake_epoch_start(c.stake_epoch(self.slot()) + 1);
        self.advance_slots(first - self.slot());
    }

    /// What the SDK (a worker) says of `operator`'s node's draw for `job` in the current slot.
    pub fn eligibility(
        &self,
        job: &Pubkey,
        operator: &Pubkey,
    ) -> tessera_sdk::sortition::Eligibility {
        let j: tessera::state::Job = self.account(job);
        let c: tessera::state::Config = self.account(&pda::config().0);
        let node = pda::node(operator).0;
        let n: tessera::state::Node = self.account(&node);
        let data = self.svm.get_account(&ix::SLOT_HASHES).unwrap().data;
        let recent = self.svm.get_account(&ix::RECENT_BLOCKHASHES).unwrap().data;
        tessera_sdk::sortition::eligibility(&tessera_sdk::sortition::RoundView {
            job_key: job,
            job: &j,
            node_key: &node,
            node: &n,
            config: &c,
            slot_hashes: &data,
            recent_blockhashes: &recent,
            slot: self.slot(),
        })
    }

    /// Send one instruction and, when it succeeds, record its compute units under `name`.
    pub fn send_named(&mut self, name: &str, ix: Instruction, signers: &[&Keypair]) -> TxResult {
        let res = self.send(&[ix], signers);
        if let Ok(meta) = &res {
            CU_TABLE
                .lock()
                .unwrap()
                .entry(name.to_string())
                .and_modify(|v| *v = (*v).max(meta.compute_units_consumed))
                .or_insert(meta.compute_units_consumed);
        }
        res
    }

    pub fn fund(&mut self, to: &Pubkey, lamports: u64) {
        self.svm.airdrop(to, lamports).unwrap();
    }

    /// A new funded keypair with an associated token account holding `tokens` network tokens.
    pub fn actor(&mut self, tokens: u64) -> Keypair {
        self.actor_with_key(Keypair::new(), tokens)
    }

    /// [`Svm::actor`] for a given keypair.
    pub fn actor_with_key(&mut self, kp: Keypair, tokens: u64) -> Keypair {
        self.fund(&kp.pubkey(), 10_000_000_000);
        let auth = self.authority.pubkey();
        let tp = self.token_program;
        let ata = token::ata_for(&tp, &kp.pubkey(), &self.mint);
        let ixs = vec![
            token::create_ata_for(&tp, &auth, &kp.pubkey(), &self.mint),
            token::mint_to_for(&tp, &self.mint, &ata, &auth, tokens),
        ];
        self.send(&ixs, &[]).expect("fund actor");
        kp
    }

    /// `from` sends `amount` of its network tokens to any token account (a "donation" when
    /// `to` is a program vault or escrow).
    pub fn donate(&mut self, from: &Keypair, to: &Pubkey, amount: u64) -> TxResult {
        let tp = self.token_program;
        let ix = token::transfer_checked_for(
            &tp,
            &self.ata(&from.pubkey()),
            &self.mint,
            to,
            &from.pubkey(),
            amount,
            DECIMALS,
        );
        self.send(&[ix], &[from])
    }

    pub fn ata(&self, owner: &Pubkey) -> Pubkey {
        token::ata_for(&self.token_program, owner, &self.mint)
    }

    pub fn balance(&self, token_account: &Pubkey) -> u64 {
        self.svm
            .get_account(token_account)
            .and_then(|a| token::balance_of(&a.data))
            .unwrap_or(0)
    }

    pub fn account<T: anchor_lang::AccountDeserialize>(&self, address: &Pubkey) -> T {
        let acc = self.svm.get_account(address).expect("account exists");
        tessera_sdk::accounts::decode_owned("account", &acc.owner, &acc.data).unwrap()
    }

    pub fn exists(&self, address: &Pubkey) -> bool {
        self.svm
            .get_account(address)
            .is_some_and(|a| a.lamports > 0)
    }

    pub fn now(&self) -> i64 {
        self.svm.get_sysvar::<Clock>().unix_timestamp
    }

    /// Move the clock forward by `secs` (and the slot by a matching amount, with its hashes).
    pub fn warp(&mut self, secs: i64) {
        let mut c: Clock = self.svm.get_sysvar();
        c.unix_timestamp += secs;
        self.svm.set_sysvar(&c);
        self.advance_slots((secs.max(1) as u64) * 2);
    }
}

/// 32 pseudo-random bytes, a fixed function of `slot` and `salt` (splitmix64).
fn slot_mix(slot: u64, salt: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    let mut x = slot ^ salt;
    for chunk in h.chunks_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    h
}

/// The localnet parameters with the sortition drawing every node that holds 1 % of the
/// stake or more at once: tests that are not about the sortition claim without waiting for
/// their draw (program_sortition.rs and the fuzzer run the real localnet draw).
pub fn test_params() -> tessera::state::ConfigParams {
    let mut p = ix::localnet_params();
    p.sortition_expected_pct = tessera::constants::MAX_SORTITION_PCT;
    p
}

impl Default for Svm {
    fn default() -> Self {
        Self::new()
    }
}

/// The custom error code a failed transaction carries, if any.
pub fn custom_code(res: &TxResult) -> Option<u32> {
    match res {
        Err(f) => match &f.err {
            TransactionError::InstructionError(_, InstructionError::Custom(c)) => Some(*c),
            _ => None,
        },
        Ok(_) => None,
    }
}

/// Assert that `res` failed with the named Tessera error.
#[track_caller]
pub fn assert_err(res: &TxResult, expected: TesseraError) {
    let want = expected as u32 + ERROR_CODE_OFFSET;
    match res {
        Ok(_) => panic!("expected {expected:?} ({want}), but the transaction succeeded"),
        Err(f) => assert_eq!(
            custom_code(res),
            Some(want),
            "expected {expected:?} ({want}), got {:?}\nlogs:\n{}",
            f.err,
            f.meta.logs.join("\n")
        ),
    }
}

/// Assert that `res` failed with one of Anchor's own errors (account constraints etc.).
#[track_caller]
pub fn assert_anchor_err(res: &TxResult, expected: anchor_lang::error::ErrorCode) {
    let want = expected as u32;
    match res {
        Ok(_) => panic!("expected {expected:?} ({want}), but the transaction succeeded"),
        Err(f) => assert_eq!(
            custom_code(res),
            Some(want),
            "expected {expected:?} ({want}), got {:?}\nlogs:\n{}",
            f.err,
            f.meta.logs.join("\n")
        ),
    }
}

/// Assert that `res` failed (any error), returning the error for further checks.
#[track_caller]
pub fn assert_fails(res: &TxResult) -> TransactionError {
    match res {
        Ok(_) => panic!("expected failure, but the transaction succeeded"),
        Err(f) => f.err.clone(),
    }
}

/// Render the CU table as Markdown.
pub fn cu_table_markdown() -> String {
    let t = CU_TABLE.lock().unwrap();
    let mut s = String::from("| instruction | compute units |\n|---|---:|\n");
    for (k, v) in t.iter() {
        s.push_str(&format!("| `{k}` | {v} |\n"));
    }
    s
}

// ---------------------------------------------------------------- marketplace helpers

use tessera::constants::{CAP_CPU, CAP_CUDA};
use tessera::instructions::PostJobArgs;
use tessera::state::{Hardware, MarketType, Requirements};

impl Svm {
    pub fn tctx(&self) -> ix::TokenCtx {
        ix::TokenCtx {
            mint: self.mint,
            token_program: self.token_program,
            treasury: self.treasury,
        }
    }

    /// A registered node staked with `stake` tokens (operator keeps `spare` tokens).
    pub fn node(&mut self, stake: u64, spare: u64) -> Keypair {
        let op = self.actor(stake + spare);
        self.register_staked(op, stake)
    }

    /// Like [`Svm::node`] with a fixed operator key (deterministic PDAs and compute units).
    pub fn node_with_key(&mut self, seed: [u8; 32], stake: u64) -> Keypair {
        let op = self.actor_with_key(Keypair::new_from_array(seed), stake);
        self.register_staked(op, stake)
    }

    fn register_staked(&mut self, op: Keypair, stake: u64) -> Keypair {
        let t = self.tctx();
        self.send_named(
            "register_node",
            ix::register_node(&t, &op.pubkey(), gpu_hardware()),
            &[&op],
        )
        .expect("register_node");
        self.send_named("stake", ix::stake(&t, &op.pubkey(), stake), &[&op])
            .expect("stake");
        // draws count stake bonded before the seed's epoch began
        self.next_epoch();
        op
    }

    /// Post a fixed-price job and return its address.
    pub fn post(&mut self, client: &Keypair, args: PostJobArgs) -> TxResult {
        let t = self.tctx();
        let ix = ix::post_job(&t, &client.pubkey(), args);
        self.send_named("post_job", ix, &[client])
    }

    pub fn job_args(
        &self,
        job_id: u64,
        replicas: u8,
        price: u64,
        max_escalations: u8,
    ) -> PostJobArgs {
        let now = self.now();
        PostJobArgs {
            job_id,
            kernel_id: 1,
            spec_version: 1,
            spec_hash: [7; 32],
            input_uri: "http://127.0.0.1:7070/blobs/abcd".into(),
            market: MarketType::Fixed,
            price_per_replica: price,
            replicas,
            max_escalations,
            requirements: Requirements {
                min_vram_mb: 8_000,
                min_compute_capability: 80,
                capabilities: CAP_CUDA,
                min_stake: 0,
                min_reputation_bps: 0,
            },
            exec_secs: 30,
            deadline: now + 3_600,
            bid_deadline: 0,
        }
    }

    /// Sum of the token balances of `accounts`.
    pub fn total(&self, accounts: &[Pubkey]) -> u64 {
        accounts.iter().map(|a| self.balance(a)).sum()
    }
}

pub fn gpu_hardware() -> Hardware {
    Hardware {
        gpu_model: "NVIDIA H100 80GB HBM3".into(),
        vram_mb: 81_559,
        compute_capability: 90,
        capabilities: CAP_CUDA | CAP_CPU,
        endpoint: "http://127.0.0.1:7071".into(),
    }
}

/// Commitment + salt for `result` by `operator`'s node.
pub fn commit_for(operator: &Pubkey, result: [u8; 32], salt_byte: u8) -> ([u8; 32], [u8; 32]) {
    let salt = [salt_byte; 32];
    let node = pda::node(operator).0;
    (tessera::state::commitment(&result, &node, &salt), salt)
}
