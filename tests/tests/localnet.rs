//! End-to-end tests on a real `solana-test-validator` (started by `anchor test`, which
//! preloads target/deploy/tessera.so): real transactions through `solana-client`, accounts
//! read back over RPC.
use std::time::{Duration, Instant};

use solana_client::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::errors::TesseraError;
use tessera::state::{Config, Job, JobState, Node};
use tessera_rpc as rpc;
use tessera_rpc::network;
use tessera_sdk::{ix, pda, token};
use tessera_tests::localnet;

const TOKEN: u64 = 1_000_000;

fn fund(client: &RpcClient, payer: &Keypair, to: &Pubkey, lamports: u64) {
    let ixs = [solana_system_interface::instruction::transfer(
        &payer.pubkey(),
        to,
        lamports,
    )];
    rpc::send(client, &ixs, payer, &[]).expect("fund");
}

/// Retry `f` until it succeeds (the validator's clock moves with its slots).
fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> anyhow::Result<T>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if start.elapsed() < timeout => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => panic!("{what}: still failing after {timeout:?}: {e:#}"),
        }
    }
}

/// The round's seed as a worker reads it (one `getMultipleAccounts` at `processed`, the
/// seed slot's own view at the earliest, turned into what the next slot's transactions see by
/// `slot_hashes_for_child`) is the seed slot's blockhash, and so is every other ancestor's
/// looked up the same way: RecentBlockhashes read at a frozen block starts with that block's
/// own blockhash, then follows SlotHashes' order (docs/PROTOCOL.md, "When a claim can land").
fn seed_is_readable_from_the_seed_slots_own_view(client: &RpcClient, job: &Pubkey) {
    use solana_commitment_config::CommitmentConfig;
    let raw = client.get_account(job).unwrap();
    let seed_slot = tessera_sdk::accounts::decode::<Job>("Job", &raw.data)
        .unwrap()
        .seed_slot;
    let keys = [ix::SLOT_HASHES, ix::RECENT_BLOCKHASHES];
    let view = eventually(
        "a processed view at the seed slot",
        Duration::from_secs(20),
        || {
            let r = rpc::read::multiple(client, &keys, CommitmentConfig::processed())?;
            anyhow::ensure!(
                r.context.slot >= seed_slot,
                "view {} behind",
                r.context.slot
            );
            Ok(r)
        },
    );
    let v = view.context.slot;
    let sh = view.value[0].as_ref().expect("SlotHashes").data.clone();
    let rb = view.value[1]
        .as_ref()
        .expect("RecentBlockhashes")
        .data
        .clone();
    let child = tessera_sdk::sortition::slot_hashes_for_child(v, &sh);
    let blockhash = |slot: u64| -> [u8; 32] {
        let b = eventually("the block, confirmed", Duration::from_secs(20), || {
            Ok(client.get_block(slot)?)
        });
        b.blockhash
            .parse::<solana_sdk::hash::Hash>()
            .expect("a blockhash")
            .to_bytes()
    };
    let seed = tessera::sortition::round_seed(&child, &rb, seed_slot).expect("seed in the view");
    assert_eq!(
        seed,
        blockhash(seed_slot),
        "the seed slot's blockhash (view {v})"
    );
    // every ancestor the view lists, as far as RecentBlockhashes reaches
    let n = u64::from_le_bytes(child[..8].try_into().unwrap()).min(40);
    for i in 0..n as usize {
        let slot = u64::from_le_bytes(child[8 + 40 * i..16 + 40 * i].try_into().unwrap());
        assert_eq!(
            tessera::sortition::round_seed(&child, &rb, slot),
            Some(blockhash(slot)),
            "ancestor {slot} (place {i}) of view {v}"
        );
    }
}

#[test]
fn program_on_a_real_validator() {
    let Some(url) = localnet::provider_url() else {
        eprintln!("SKIPPED: ANCHOR_PROVIDER_URL is not set; these tests run under `anchor test` (scripts/test.sh)");
        return;
    };
    let client = localnet::rpc(&url);
    let wallet = localnet::wallet();

    // The program anchor deployed is an executable SBF program.
    let prog = client.get_account(&tessera::ID).expect("program deployed");
    assert!(prog.executable);
    println!("program {} owned by {}", tessera::ID, prog.owner);

    // ---- config: create the mint, initialise, read back
    let mint = network::create_mint(&client, &wallet, 6).unwrap();
    let cfg = network::init_config(&client, &wallet, &mint, ix::localnet_params()).unwrap();
    let raw = client.get_account(&pda::config().0).unwrap();
    assert_eq!(raw.owner, tessera::ID);
    let c: Config = tessera_sdk::accounts::decode("Config", &raw.data).unwrap();
    assert_eq!(c.authority, wallet.pubkey());
    assert_eq!(c.mint, mint);
    assert_eq!(c.treasury, token::ata(&wallet.pubkey(), &mint));
    assert_eq!(c.params(), ix::localnet_params());
    assert_eq!(c.bump, pda::config().1);
    assert_eq!((c.vault, c.vault_bump), pda::escrow());
    assert_eq!(
        rpc::token_balance(&client, &c.vault).unwrap(),
        0,
        "a new, empty vault"
    );
    assert_eq!(cfg.authority, c.authority);
    println!("{}", network::describe_config(&c));

    // ---- a second initialise fails; a stranger cannot update
    let again = ix::initialize_config(
        &wallet.pubkey(),
        &mint,
        &c.treasury,
        &token::TOKEN_PROGRAM_ID,
        network::program_is_upgradeable(&client).unwrap(),
        ix::localnet_params(),
    );
    assert!(rpc::send(&client, &[again], &wallet, &[]).is_err());
    let stranger = Keypair::new();
    fund(&client, &wallet, &stranger.pubkey(), 1_000_000_000);
    let mut p = ix::localnet_params();
    p.protocol_fee_bps = 0;
    let err = rpc::send(
        &client,
        &[ix::update_config(
            &stranger.pubkey(),
            &token::TOKEN_PROGRAM_ID,
            Some(p),
            None,
            None,
        )],
        &stranger,
        &[],
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("0x1770"),
        "Unauthorized (6000): {err:#}"
    );
    // the authority can
    rpc::send(
        &client,
        &[ix::set_paused(&wallet.pubkey(), true)],
        &wallet,
        &[],
    )
    .unwrap();
    assert!(rpc::fetch_config(&client).unwrap().paused);
    rpc::send(
        &client,
        &[ix::set_paused(&wallet.pubkey(), false)],
        &wallet,
        &[],
    )
    .unwrap();

    // ---- a whole job on the real cluster: 2 honest nodes, escrow, commit-reveal, payout
    let t = ix::TokenCtx::from_config(&c);
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let op = Keypair::new();
        fund(&client, &wallet, &op.pubkey(), 2_000_000_000);
        let ata = token::ata(&op.pubkey(), &mint);
        rpc::send(
            &client,
            &[
                token::create_ata(&wallet.pubkey(), &op.pubkey(), &mint),
                token::mint_to(&mint, &ata, &wallet.pubkey(), 500 * TOKEN),
            ],
            &wallet,
            &[],
        )
        .unwrap();
        let hw = tessera::state::Hardware {
            gpu_model: "cpu-reference".into(),
            vram_mb: 0,
            compute_capability: 0,
            capabilities: tessera::constants::CAP_CPU,
            endpoint: String::new(),
        };
        rpc::send(
            &client,
            &[
                ix::register_node(&t, &op.pubkey(), hw),
                ix::stake(&t, &op.pubkey(), 200 * TOKEN),
            ],
            &op,
            &[],
        )
        .unwrap();
        nodes.push(op);
    }
    // draws count stake bonded before the seed's epoch began
    localnet::wait_for_next_stake_epoch(&client, &c);
    let client_kp = Keypair::new();
    fund(&client, &wallet, &client_kp.pubkey(), 2_000_000_000);
    let client_ata = token::ata(&client_kp.pubkey(), &mint);
    rpc::send(
        &client,
        &[
            token::create_ata(&wallet.pubkey(), &client_kp.pubkey(), &mint),
            token::mint_to(&mint, &client_ata, &wallet.pubkey(), 100 * TOKEN),
        ],
        &wallet,
        &[],
    )
    .unwrap();
    let now = client
        .get_block_time(client.get_slot().unwrap())
        .unwrap_or(0);
    let args = tessera::instructions::PostJobArgs {
        job_id: 1,
        kernel_id: 1,
        spec_version: 1,
        spec_hash: [1; 32],
        input_uri: "file:///dev/null".into(),
        market: tessera::state::MarketType::Fixed,
        price_per_replica: 10 * TOKEN,
        replicas: 2,
        max_escalations: 1,
        requirements: tessera::state::Requirements {
            min_vram_mb: 0,
            min_compute_capability: 0,
            capabilities: tessera::constants::CAP_CPU,
            min_stake: 0,
            min_reputation_bps: 0,
        },
        exec_secs: 60,
        deadline: now + 3_600,
        bid_deadline: 0,
    };
    rpc::send(
        &client,
        &[ix::post_job(&t, &client_kp.pubkey(), args)],
        &client_kp,
        &[],
    )
    .unwrap();
    let job = pda::job(&client_kp.pubkey(), 1).0;
    assert_eq!(
        rpc::token_balance(&client, &pda::escrow().0).unwrap(),
        40 * TOKEN
    );
    seed_is_readable_from_the_seed_slots_own_view(&client, &job);
    let result = [0x5A; 32];
    for (i, op) in nodes.iter().enumerate() {
        let salt = [i as u8 + 1; 32];
        let commitment = tessera::state::commitment(&result, &pda::node(&op.pubkey()).0, &salt);
        // the round's sortition seed is the blockhash of the slot the job was posted in: claims
        // are accepted from the next slot on (the preflight may still run on that slot), and
        // each node only from the slot its draw names (about one node per slot)
        let mut tries = 0;
        loop {
            match rpc::send(
                &client,
                &[ix::claim_job(&op.pubkey(), &job, false)],
                op,
                &[],
            ) {
                Ok(_) => break,
                Err(e)
                    if [TesseraError::SeedNotReady, TesseraError::NotEligible]
                        .iter()
                        .any(|c| {
                            format!("{e:#}")
                                .contains(&format!("custom program error: {:#x}", *c as u32 + 6000))
                        })
                        && tries < 150 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(e) => panic!("claim_job: {e:#}"),
            }
        }
        rpc::send(
            &client,
            &[ix::commit_result(&op.pubkey(), &job, commitment)],
            op,
            &[],
        )
        .unwrap();
    }
    for (i, op) in nodes.iter().enumerate() {
        let salt = [i as u8 + 1; 32];
        rpc::send(
            &client,
            &[ix::reveal_result(
                &op.pubkey(),
                &job,
                result,
                salt,
                format!("file:///out/{i}"),
            )],
            op,
            &[],
        )
        .unwrap();
    }
    // the last reveal with a majority opens the challenge window (no finalize_job)
    let j: Job = rpc::fetch(&client, "Job", &job).unwrap();
    assert_eq!(j.state, JobState::Challenge);
    assert_eq!(j.winning_hash, result);
    eventually(
        "finalize after the challenge window",
        Duration::from_secs(60),
        || rpc::send(&client, &[ix::finalize_job(&job)], &wallet, &[]),
    );
    // The cranker must not be the treasury's owner (a token account cannot be both the crank
    // reward and the fee destination of one instruction: Anchor rejects duplicate mutables).
    let cranker = &stranger;
    rpc::send(
        &client,
        &[token::create_ata(
            &wallet.pubkey(),
            &stranger.pubkey(),
            &mint,
        )],
        &wallet,
        &[],
    )
    .unwrap();
    for op in &nodes {
        rpc::send(
            &client,
            &[ix::settle_claim(
                &t,
                &cranker.pubkey(),
                &job,
                &client_kp.pubkey(),
                &op.pubkey(),
            )],
            cranker,
            &[],
        )
        .unwrap();
        let fee = 10 * TOKEN * u64::from(c.protocol_fee_bps) / 10_000;
        let earned = rpc::token_balance(&client, &token::ata(&op.pubkey(), &mint)).unwrap();
        assert_eq!(earned, 300 * TOKEN + 10 * TOKEN - fee);
        let n: Node = rpc::fetch(&client, "Node", &pda::node(&op.pubkey()).0).unwrap();
        assert_eq!(n.reputation.completed, 1);
    }
    rpc::send(
        &client,
        &[ix::close_job(&t, &client_kp.pubkey(), &job)],
        &wallet,
        &[],
    )
    .unwrap();
    assert!(client.get_account(&job).is_err(), "job closed");
    assert_eq!(
        rpc::token_balance(&client, &client_ata).unwrap(),
        80 * TOKEN
    );
    println!("localnet: config, nodes, a 2-replica job and its settlement all went through");
}
