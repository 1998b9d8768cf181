//! Attack classes, instruction by instruction, on LiteSVM against the SBF build: missing
//! signer, account substitution / type cosplay, wrong owner, re-initialisation, duplicate
//! mutable accounts, non-canonical / foreign PDAs, closed-account reuse, fake mint or vault.
use anchor_lang::error::ErrorCode as AnchorError;
use solana_sdk::{instruction::Instruction, pubkey::Pubkey, signature::Keypair, signer::Signer};
use tessera::errors::TesseraError;
use tessera::state::JobState;
use tessera_sdk::{ix, pda, token};
use tessera_tests::svm::*;

const STAKE: u64 = 1_000 * TOKEN;
const PRICE: u64 = 10 * TOKEN;

/// A network with one node holding a committed claim on `job`, and a second, idle node.
struct Scene {
    s: Svm,
    client: Keypair,
    op: Keypair,
    other: Keypair,
    job: Pubkey,
    cranker: Keypair,
}

fn scene() -> Scene {
    let mut s = Svm::with_config();
    let client = s.actor(1_000 * TOKEN);
    let op = s.node(STAKE, 0);
    let other = s.node(STAKE, 0);
    let cranker = s.actor(0);
    let args = s.job_args(1, 2, PRICE, 1);
    s.post(&client, args).unwrap();
    let job = pda::job(&client.pubkey(), 1).0;
    s.send(&[ix::claim_job(&op.pubkey(), &job, false)], &[&op])
        .unwrap();
    let (c, _) = commit_for(&op.pubkey(), [1; 32], 1);
    s.send(&[ix::commit_result(&op.pubkey(), &job, c)], &[&op])
        .unwrap();
    Scene {
        s,
        client,
        op,
        other,
        job,
        cranker,
    }
}

/// Every signer-bearing instruction, with the keypair that must sign it.
fn signed_instructions(sc: &Scene) -> Vec<(&'static str, Instruction, Pubkey)> {
    let t = sc.s.tctx();
    let auth = sc.s.authority.pubkey();
    let op = sc.op.pubkey();
    let client = sc.client.pubkey();
    let job = sc.job;
    let cr = sc.cranker.pubkey();
    let mut args = sc.s.job_args(2, 1, PRICE, 0);
    args.job_id = 2;
    vec![
        (
            "update_config",
            ix::update_config(&auth, &t.token_program, None, None, None),
            auth,
        ),
        ("set_paused", ix::set_paused(&auth, true), auth),
        ("update_node", ix::update_node(&op, gpu_hardware()), op),
        ("stake", ix::stake(&t, &op, 1), op),
        ("request_unstake", ix::request_unstake(&op, 1), op),
        ("withdraw_stake", ix::withdraw_stake(&t, &op), op),
        ("deregister_node", ix::deregister_node(&t, &op), op),
        ("post_job", ix::post_job(&t, &client, args), client),
        ("cancel_job", ix::cancel_job(&t, &client, &job), client),
        (
            "claim_job",
            ix::claim_job(&sc.other.pubkey(), &job, false),
            sc.other.pubkey(),
        ),
        ("place_bid", ix::place_bid(&op, &job, 1), op),
        ("commit_result", ix::commit_result(&op, &job, [0; 32]), op),
        (
            "reveal_result",
            ix::reveal_result(&op, &job, [1; 32], [1; 32], String::new()),
            op,
        ),
        (
            "close_bid",
            ix::close_bid(&cr, &job, &pda::node(&op).0, &op),
            cr,
        ),
        ("accept_authority", ix::accept_authority(&cr), cr),
        ("expire_claim", ix::expire_claim(&t, &cr, &job, &op), cr),
        (
            "settle_claim",
            ix::settle_claim(&t, &cr, &job, &client, &op),
            cr,
        ),
        (
            "challenge_result",
            ix::challenge_result(&t, &cr, &job, [1; 32]),
            cr,
        ),
    ]
}

#[test]
fn every_signed_instruction_rejects_a_missing_signature() {
    let mut sc = scene();
    let payer = sc.s.actor(0);
    for (name, mut ix, signer) in signed_instructions(&sc) {
        let meta = ix.accounts.iter_mut().find(|m| m.pubkey == signer).unwrap();
        meta.is_signer = false;
        let res = sc.s.send_as(&payer, &[ix], &[]);
        assert_eq!(
            custom_code(&res),
            Some(AnchorError::AccountNotSigner as u32),
            "{name} without its signer: {:?}",
            res.as_ref().err().map(|e| &e.err)
        );
    }
}

#[test]
fn type_cosplay_and_wrong_owner_are_rejected() {
    let mut sc = scene();
    let node = pda::node(&sc.op.pubkey()).0;
    let claim = pda::claim(&sc.job, &node).0;
    // a Node (program-owned, other discriminator) passed as the Job
    let mut f = ix::finalize_job(&sc.job);
    f.accounts[0].pubkey = node;
    assert_anchor_err(
        &sc.s.send(&[f], &[]),
        AnchorError::AccountDiscriminatorMismatch,
    );
    // a Claim passed as the Config
    let other = sc.other.insecure_clone();
    let mut f = ix::claim_job(&other.pubkey(), &sc.job, false);
    f.accounts[1].pubkey = claim;
    assert_anchor_err(
        &sc.s.send(&[f], &[&other]),
        AnchorError::AccountDiscriminatorMismatch,
    );
    // a system-owned account passed as the Job
    let mut f = ix::finalize_job(&sc.job);
    f.accounts[0].pubkey = sc.client.pubkey();
    assert_anchor_err(
        &sc.s.send(&[f], &[]),
        AnchorError::AccountOwnedByWrongProgram,
    );
    // an account that does not exist passed as the Claim
    let mut c = ix::commit_result(&sc.op.pubkey(), &sc.job, [0; 32]);
    c.accounts[2].pubkey = Pubkey::new_unique();
    assert_anchor_err(
        &sc.s.send(&[c], &[&sc.op]),
        AnchorError::AccountNotInitialized,
    );
    // a token program that is not the config's
    let t = sc.s.tctx();
    let mut st = ix::stake(&t, &sc.op.pubkey(), 1);
    let last = st.accounts.len() - 1;
    st.accounts[last].pubkey = solana_system_interface::program::ID;
    assert_fails(&sc.s.send(&[st], &[&sc.op]));
}

#[test]
fn re_initialisation_is_impossible() {
    let mut sc = scene();
    let t = sc.s.tctx();
    let op = sc.op.insecure_clone();
    // node, job, claim: each PDA can be created once
    assert_fails(&sc.s.send(
        &[ix::register_node(&t, &op.pubkey(), gpu_hardware())],
        &[&op],
    ));
    let args = sc.s.job_args(1, 2, PRICE, 1);
    let c = sc.client.insecure_clone();
    let res = sc.s.post(&c, args);
    assert!(res
        .unwrap_err()
        .meta
        .logs
        .join("\n")
        .contains("already in use"));
    assert_fails(
        &sc.s
            .send(&[ix::claim_job(&op.pubkey(), &sc.job, false)], &[&op]),
    );
    // re-running the config init is covered in program_config.rs
}

#[test]
fn foreign_pdas_and_non_canonical_addresses_are_rejected() {
    let mut sc = scene();
    let t = sc.s.tctx();
    let other = sc.other.insecure_clone();
    // `other` tries to commit on `op`'s claim
    let mut c = ix::commit_result(&other.pubkey(), &sc.job, [0; 32]);
    c.accounts[2].pubkey = pda::claim(&sc.job, &pda::node(&sc.op.pubkey()).0).0;
    assert_err(&sc.s.send(&[c], &[&other]), TesseraError::NotOperator);
    // `other` stakes into `op`'s node
    let mut st = ix::stake(&t, &other.pubkey(), 1);
    st.accounts[2].pubkey = pda::node(&sc.op.pubkey()).0;
    assert_err(&sc.s.send(&[st], &[&other]), TesseraError::NotOperator);
    // a claim account at an address that is not the (job, node) PDA
    let mut cl = ix::claim_job(&other.pubkey(), &sc.job, false);
    let (odd, _) = Pubkey::find_program_address(&[b"claim", sc.job.as_ref()], &tessera::ID);
    cl.accounts[4].pubkey = odd;
    assert_err(&sc.s.send(&[cl], &[&other]), TesseraError::WrongPda);
    // a non-canonical bump for the same seeds is a different address, refused the same way
    let node = pda::node(&other.pubkey()).0;
    let addr = non_canonical(&[b"claim", sc.job.as_ref(), node.as_ref()]);
    let mut cl = ix::claim_job(&other.pubkey(), &sc.job, false);
    cl.accounts[4].pubkey = addr;
    assert_err(&sc.s.send(&[cl], &[&other]), TesseraError::WrongPda);
}

#[test]
fn created_accounts_must_sit_at_their_canonical_pdas() {
    let mut sc = scene();
    let t = sc.s.tctx();
    let client = sc.client.insecure_clone();
    let fresh = sc.s.actor(1_000 * TOKEN);
    let mut args = sc.s.job_args(7, 1, PRICE, 0);
    args.job_id = 7;
    let job = pda::job(&client.pubkey(), 7).0;
    // post_job: the job at a non-canonical bump of its seeds, then the escrow
    let mut post = ix::post_job(&t, &client.pubkey(), args.clone());
    post.accounts[2].pubkey =
        non_canonical(&[b"job", client.pubkey().as_ref(), &7u64.to_le_bytes()]);
    assert_err(&sc.s.send(&[post], &[&client]), TesseraError::WrongPda);
    // the escrow is the config's vault (created at its canonical PDA by initialize_config)
    let mut post = ix::post_job(&t, &client.pubkey(), args.clone());
    post.accounts[3].pubkey = non_canonical(&[b"escrow"]);
    assert_err(&sc.s.send(&[post], &[&client]), TesseraError::VaultMismatch);
    let config: tessera::state::Config = sc.s.account(&pda::config().0);
    assert_eq!(config.vault, pda::escrow().0);
    let _ = job;
    // another client's job PDA cannot be created by this client
    let mut post = ix::post_job(&t, &fresh.pubkey(), args.clone());
    post.accounts[2].pubkey = job;
    assert_err(&sc.s.send(&[post], &[&fresh]), TesseraError::WrongPda);
    // register_node: node, then stake vault
    let node = pda::node(&fresh.pubkey()).0;
    let mut reg = ix::register_node(&t, &fresh.pubkey(), gpu_hardware());
    reg.accounts[2].pubkey = non_canonical(&[b"node", fresh.pubkey().as_ref()]);
    assert_err(&sc.s.send(&[reg], &[&fresh]), TesseraError::WrongPda);
    let mut reg = ix::register_node(&t, &fresh.pubkey(), gpu_hardware());
    reg.accounts[3].pubkey = non_canonical(&[b"stake_vault", node.as_ref()]);
    assert_err(&sc.s.send(&[reg], &[&fresh]), TesseraError::WrongPda);
    // nothing was created by the failed attempts
    assert!(sc.s.svm.get_account(&job).is_none());
    assert!(sc.s.svm.get_account(&node).is_none());
    // an address pre-funded by a griefer is still created (topped up, not blocked)
    sc.s.fund(&job, 1_000_000);
    sc.s.post(&client, args).unwrap();
    let acc = sc.s.svm.get_account(&job).unwrap();
    assert_eq!(acc.owner, tessera::ID);
    sc.s.fund(&node, 1_000_000);
    sc.s.send(
        &[ix::register_node(&t, &fresh.pubkey(), gpu_hardware())],
        &[&fresh],
    )
    .unwrap();
    assert_eq!(sc.s.svm.get_account(&node).unwrap().owner, tessera::ID);
}

/// The highest off-curve address of `seeds` below the canonical bump.
fn non_canonical(seeds: &[&[u8]]) -> Pubkey {
    let canonical = Pubkey::find_program_address(seeds, &tessera::ID).1;
    (0..canonical)
        .rev()
        .find_map(|b| {
            let mut s = seeds.to_vec();
            let bump = [b];
            s.push(&bump);
            Pubkey::create_program_address(&s, &tessera::ID).ok()
        })
        .expect("some lower bump is off the curve")
}

#[test]
fn fake_mints_and_vaults_are_rejected() {
    let mut sc = scene();
    let t = sc.s.tctx();
    let auth = sc.s.authority.pubkey();
    // an attacker mint with a token account for the client
    let fake = Keypair::new();
    let rent = sc.s.svm.minimum_balance_for_rent_exemption(token::MINT_LEN);
    let mut ixs = token::create_mint(&auth, &fake.pubkey(), &auth, 6, rent);
    ixs.push(token::create_ata(
        &auth,
        &sc.client.pubkey(),
        &fake.pubkey(),
    ));
    ixs.push(token::mint_to(
        &fake.pubkey(),
        &token::ata(&sc.client.pubkey(), &fake.pubkey()),
        &auth,
        1_000 * TOKEN,
    ));
    sc.s.send(&ixs, &[&fake]).unwrap();
    let fake_ctx = ix::TokenCtx {
        mint: fake.pubkey(),
        ..t
    };
    let args = sc.s.job_args(5, 1, PRICE, 0);
    let c = sc.client.insecure_clone();
    assert_err(
        &sc.s
            .send(&[ix::post_job(&fake_ctx, &c.pubkey(), args)], &[&c]),
        TesseraError::MintMismatch,
    );
    // an attacker token account (with the job PDA as authority) passed as the escrow
    let mut cancel = ix::cancel_job(&t, &c.pubkey(), &sc.job);
    cancel.accounts[3].pubkey = sc.s.ata(&sc.cranker.pubkey());
    assert_err(&sc.s.send(&[cancel], &[&c]), TesseraError::VaultMismatch);
    // another node's vault passed as the stake vault
    let op = sc.op.insecure_clone();
    let mut w = ix::withdraw_stake(&t, &op.pubkey());
    w.accounts[3].pubkey = pda::stake_vault(&pda::node(&sc.other.pubkey()).0).0;
    assert_err(&sc.s.send(&[w], &[&op]), TesseraError::VaultMismatch);
    // a mint that is not the config's
    let cr = sc.cranker.insecure_clone();
    let mut e = ix::expire_claim(&t, &cr.pubkey(), &sc.job, &op.pubkey());
    e.accounts[8].pubkey = fake.pubkey();
    assert_err(&sc.s.send(&[e], &[&cr]), TesseraError::MintMismatch);
}

#[test]
fn duplicate_mutable_accounts_are_rejected() {
    let mut sc = scene();
    let t = sc.s.tctx();
    let cr = sc.cranker.insecure_clone();
    // `other` claims and stays silent: its claim is really expirable, so each refusal below is
    // about the substituted account and nothing else
    let other = sc.other.insecure_clone();
    sc.s.send(&[ix::claim_job(&other.pubkey(), &sc.job, false)], &[&other])
        .unwrap();
    sc.s.warp(31);
    let op = other.pubkey();
    let vault = pda::stake_vault(&pda::node(&op).0).0;
    // the node's own stake vault passed as the crank reward account: the reward would be a
    // self-transfer while node.stake still drops (vault and stake would drift apart)
    let mut e = ix::expire_claim(&t, &cr.pubkey(), &sc.job, &op);
    e.accounts[1].pubkey = vault;
    assert_err(&sc.s.send(&[e], &[&cr]), TesseraError::CrankTokenNotCranker);
    // the escrow passed as the cranker's account
    let mut e = ix::expire_claim(&t, &cr.pubkey(), &sc.job, &op);
    e.accounts[1].pubkey = pda::escrow().0;
    assert_err(&sc.s.send(&[e], &[&cr]), TesseraError::CrankTokenNotCranker);
    // another operator's token account
    let mut e = ix::expire_claim(&t, &cr.pubkey(), &sc.job, &op);
    e.accounts[1].pubkey = sc.s.ata(&sc.client.pubkey());
    assert_err(&sc.s.send(&[e], &[&cr]), TesseraError::CrankTokenNotCranker);
    // (settle_claim refuses the same substitution when its slash would pay the reward:
    // a_slashing_settlement_pays_the_crank_reward_only_to_the_crankers_account)
    // with the cranker's own account the same expiry goes through, and the vault still holds
    // exactly the node's stake
    sc.s.send(&[ix::expire_claim(&t, &cr.pubkey(), &sc.job, &op)], &[&cr])
        .unwrap();
    let node: tessera::state::Node = sc.s.account(&pda::node(&op).0);
    assert!(node.stake < STAKE);
    assert_eq!(sc.s.balance(&vault), node.stake);
}

#[test]
fn a_slashing_settlement_pays_the_crank_reward_only_to_the_crankers_account() {
    // a k = 1 job whose only replica commits and never reveals: the job fails, and settling
    // that claim slashes it for the missing reveal
    let mut w = tessera_tests::world::World::new(1);
    let job = w.post(1, 1, 0);
    w.claim(0, &job).unwrap();
    w.commit(0, &job, [1; 32]).unwrap();
    w.s.warp(ix::localnet_params().reveal_window_secs + 1);
    w.finalize(&job).unwrap();
    let j: tessera::state::Job = w.s.account(&job);
    assert_eq!(j.state, JobState::Failed);
    let t = w.s.tctx();
    let cr = w.cranker.insecure_clone();
    let op = w.nodes[0].pubkey();
    let client = w.client.pubkey();
    let vault = pda::stake_vault(&pda::node(&op).0).0;
    for bad in [vault, pda::escrow().0, w.s.ata(&client)] {
        let mut e = ix::settle_claim(&t, &cr.pubkey(), &job, &client, &op);
        e.accounts[1].pubkey = bad;
        assert_err(&w.s.send(&[e], &[&cr]), TesseraError::CrankTokenNotCranker);
    }
    w.settle(0, &job).unwrap();
    assert!(w.token(&cr) > 0, "the crank reward");
}

#[test]
fn closed_accounts_cannot_be_reused() {
    let mut sc = scene();
    let t = sc.s.tctx();
    let other = sc.other.insecure_clone();
    let op = sc.op.insecure_clone();
    sc.s.send(&[ix::claim_job(&other.pubkey(), &sc.job, false)], &[&other])
        .unwrap();
    let (c, _) = commit_for(&other.pubkey(), [1; 32], 2);
    sc.s.send(&[ix::commit_result(&other.pubkey(), &sc.job, c)], &[&other])
        .unwrap();
    let (_, s1) = commit_for(&op.pubkey(), [1; 32], 1);
    let (_, s2) = commit_for(&other.pubkey(), [1; 32], 2);
    sc.s.send(
        &[ix::reveal_result(
            &op.pubkey(),
            &sc.job,
            [1; 32],
            s1,
            String::new(),
        )],
        &[&op],
    )
    .unwrap();
    sc.s.send(
        &[ix::reveal_result(
            &other.pubkey(),
            &sc.job,
            [1; 32],
            s2,
            String::new(),
        )],
        &[&other],
    )
    .unwrap();
    sc.s.warp(10);
    sc.s.send(&[ix::finalize_job(&sc.job)], &[]).unwrap();
    let cr = sc.cranker.insecure_clone();
    sc.s.send(
        &[ix::settle_claim(
            &t,
            &cr.pubkey(),
            &sc.job,
            &sc.client.pubkey(),
            &op.pubkey(),
        )],
        &[&cr],
    )
    .unwrap();
    // paying the same claim twice: the claim is closed
    assert_anchor_err(
        &sc.s.send(
            &[ix::settle_claim(
                &t,
                &cr.pubkey(),
                &sc.job,
                &sc.client.pubkey(),
                &op.pubkey(),
            )],
            &[&cr],
        ),
        AnchorError::AccountNotInitialized,
    );
    sc.s.send(
        &[ix::settle_claim(
            &t,
            &cr.pubkey(),
            &sc.job,
            &sc.client.pubkey(),
            &other.pubkey(),
        )],
        &[&cr],
    )
    .unwrap();
    let c = sc.client.insecure_clone();
    sc.s.send(&[ix::close_job(&t, &c.pubkey(), &sc.job)], &[])
        .unwrap();
    // the closed job cannot be claimed, finalized or closed again
    let third = sc.s.node(STAKE, 0);
    assert_anchor_err(
        &sc.s
            .send(&[ix::claim_job(&third.pubkey(), &sc.job, false)], &[&third]),
        AnchorError::AccountNotInitialized,
    );
    assert_anchor_err(
        &sc.s.send(&[ix::finalize_job(&sc.job)], &[]),
        AnchorError::AccountNotInitialized,
    );
    assert_anchor_err(
        &sc.s.send(&[ix::close_job(&t, &c.pubkey(), &sc.job)], &[]),
        AnchorError::AccountNotInitialized,
    );
}
