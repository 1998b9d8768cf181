//! Cluster profiles against the real program (LiteSVM): the devnet and mainnet profiles
//! initialise the config as they are, and the client's parameter bounds
//! (`tessera_sdk::cluster`) give the program's verdict, with the program's error, at every
//! bound's edge — so `tessera config init|update` refuses exactly what the chain would.
#![allow(clippy::result_large_err)]
use solana_sdk::signer::Signer;
use tessera::errors::TesseraError;
use tessera::state::{Config, ConfigParams};
use tessera_sdk::cluster::{self, Cluster, ParamError, FIELDS};
use tessera_sdk::{ix, pda, token};
use tessera_tests::svm::*;

#[test]
fn devnet_and_mainnet_profiles_initialise_the_program_as_they_are() {
    for c in [Cluster::Devnet, Cluster::Mainnet] {
        let p = cluster::params_for(c, DECIMALS).unwrap();
        assert_eq!(cluster::check_for_cluster(c, &p), Ok(()), "{c}");
        let mut s = Svm::new();
        let ix = s.init_config_ix(p.clone());
        s.send(&[ix], &[])
            .unwrap_or_else(|e| panic!("{c}: {:?}\n{}", e.err, e.meta.logs.join("\n")));
        let cfg: Config = s.account(&pda::config().0);
        assert_eq!(cfg.params(), p, "{c}: stored exactly");
        // windows of minutes
        assert!(cfg.commit_window_secs >= 15 * 60, "{c}");
        assert!(cfg.challenge_window_secs >= 10 * 60, "{c}");
    }
}

/// `base` with field `name` set to `v`, bypassing the client's bounds; `None` if `v` does not
/// fit the field's type (the type is then the bound, on both sides).
fn raw_with(base: &ConfigParams, name: &str, v: i128) -> Option<ConfigParams> {
    let mut p = base.clone();
    macro_rules! put {
        ($($f:ident),*) => {
            match name {
                $(stringify!($f) => p.$f = v.try_into().ok()?,)*
                _ => panic!("no field {name}"),
            }
        };
    }
    put!(
        protocol_fee_bps,
        min_stake,
        unbonding_secs,
        slash_timeout_bps,
        slash_wrong_result_bps,
        slash_no_reveal_bps,
        slash_client_share_bps,
        crank_reward_bps,
        commit_window_secs,
        reveal_window_secs,
        challenge_window_secs,
        max_replicas,
        escalation_cap,
        challenge_bond,
        priority_min_value,
        priority_window_secs,
        priority_min_stake,
        priority_min_reputation_bps,
        min_price_per_replica,
        reputation_unit,
        collateral_bps,
        sortition_expected_pct,
        sortition_widen_slots,
        stake_epoch_slots
    );
    Some(p)
}

fn update(s: &mut Svm, p: ConfigParams) -> TxResult {
    let ix = ix::update_config(
        &s.authority.pubkey(),
        &token::TOKEN_PROGRAM_ID,
        Some(p),
        None,
        None,
    );
    s.send(&[ix], &[])
}

#[test]
fn client_bounds_give_the_programs_verdict_and_error_at_every_edge() {
    let base = cluster::profile(Cluster::Devnet);
    let mut live = Svm::with_params(base.clone()); // update_config on an initialised network
    let mut fresh = Svm::new(); // initialize_config, never succeeding here
    let (mut accepted, mut refused) = (0, 0);
    for f in &FIELDS {
        for v in [f.min - 1, f.min, f.min + 1, f.max - 1, f.max, f.max + 1] {
            let Some(p) = raw_with(&base, f.name, v) else {
                continue;
            };
            match cluster::validate_bounds(&p) {
                // in bounds, but fixed once the config exists: stake snapshots count in its
                // epochs
                Ok(()) if f.name == "stake_epoch_slots" && p != base => {
                    assert_err(
                        &update(&mut live, p.clone()),
                        tessera::errors::TesseraError::StakeEpochFixed,
                    );
                    accepted += 1;
                }
                Ok(()) => {
                    update(&mut live, p.clone()).unwrap_or_else(|e| {
                        panic!(
                            "{} = {v}: client accepts, program refuses: {:?}",
                            f.name, e.err
                        )
                    });
                    assert_eq!(live.account::<Config>(&pda::config().0).params(), p);
                    accepted += 1;
                }
                Err(ParamError::OutOfBounds {
                    field,
                    program_error,
                    ..
                }) => {
                    assert_eq!(field, f.name);
                    let want = f.program_error.expect("a bounded field names its error");
                    assert_eq!(program_error, format!("{want:?}"));
                    assert_err(&update(&mut live, p.clone()), want);
                    let ix = fresh.init_config_ix(p);
                    assert_err(&fresh.send(&[ix], &[]), want);
                    refused += 1;
                }
                Err(e) => panic!("{}: {e}", f.name),
            }
        }
    }
    assert!(!fresh.exists(&pda::config().0));
    // every field has at least its two inner edges accepted; each bounded one an outer edge
    assert!(accepted >= 2 * FIELDS.len(), "{accepted}");
    assert!(refused >= 19, "{refused}");
}

#[test]
fn out_of_bounds_overrides_are_refused_by_name_on_both_sides() {
    let cases: [(&str, TesseraError); 9] = [
        ("protocol_fee_bps=1001", TesseraError::InvalidBps),
        ("slash_wrong_result_bps=5001", TesseraError::InvalidBps),
        ("collateral_bps=50001", TesseraError::InvalidBps),
        ("sortition_expected_pct=9", TesseraError::InvalidBps),
        ("commit_window_secs=8d", TesseraError::InvalidPeriod),
        ("unbonding_secs=91d", TesseraError::InvalidPeriod),
        ("max_replicas=8", TesseraError::InvalidMaxReplicas),
        ("escalation_cap=4", TesseraError::InvalidEscalationCap),
        ("challenge_bond=0", TesseraError::InvalidChallengeBond),
    ];
    let base = cluster::params_for(Cluster::Devnet, DECIMALS).unwrap();
    let mut s = Svm::with_params(base.clone());
    for (kv, want) in cases {
        let mut p = base.clone();
        let err = cluster::apply_override(&mut p, kv, DECIMALS).unwrap_err();
        let ParamError::OutOfBounds {
            field,
            value,
            program_error,
            ..
        } = err
        else {
            panic!("{kv}: {err}")
        };
        assert_eq!(program_error, format!("{want:?}"), "{kv}");
        assert_eq!(p, base, "{kv}: a refused override changes nothing");
        // the same value, sent raw, is refused by the program with that error
        let raw = raw_with(&base, field, value).expect("fits the type");
        assert_err(&update(&mut s, raw), want);
    }
    assert_eq!(s.account::<Config>(&pda::config().0).params(), base);
}

/// The program built for another id (`migrations/deploy.sh`'s build: `TESSERA_CLUSTER=devnet
/// TESSERA_PROGRAM_ID=<id> cargo build-sbf ...`) initialises at that id and refuses to run at
/// the localnet id. Needs that build: run with
/// `TESSERA_CLUSTER_SO=<.so> TESSERA_CLUSTER_PROGRAM_ID=<id> cargo test -p tessera-tests
/// --test program_cluster -- --ignored`.
#[test]
#[ignore = "needs a program built for another id (TESSERA_CLUSTER_SO, TESSERA_CLUSTER_PROGRAM_ID)"]
fn a_program_built_for_another_id_runs_at_that_id_only() {
    use anchor_lang::solana_program::bpf_loader_upgradeable;
    use litesvm::LiteSVM;
    use solana_sdk::{pubkey::Pubkey, signature::Keypair, transaction::Transaction};
    let so = std::env::var("TESSERA_CLUSTER_SO").expect("TESSERA_CLUSTER_SO");
    let id: Pubkey = std::env::var("TESSERA_CLUSTER_PROGRAM_ID")
        .expect("TESSERA_CLUSTER_PROGRAM_ID")
        .parse()
        .unwrap();
    assert_ne!(id, tessera::ID);
    let p = cluster::params_for(Cluster::Devnet, DECIMALS).unwrap();
    let try_at = |at: Pubkey| {
        let mut svm = LiteSVM::new();
        svm.add_program_from_file(at, &so).unwrap();
        let auth = Keypair::new();
        svm.airdrop(&auth.pubkey(), 1_000_000_000_000).unwrap();
        let program_data =
            Pubkey::find_program_address(&[at.as_ref()], &bpf_loader_upgradeable::ID).0;
        let mut acc = svm.get_account(&program_data).expect("programdata");
        acc.data[12] = 1;
        acc.data[13..45].copy_from_slice(auth.pubkey().as_ref());
        svm.set_account(program_data, acc).unwrap();
        let mint = Keypair::new();
        let rent = svm.minimum_balance_for_rent_exemption(token::MINT_LEN);
        let a = auth.pubkey();
        let mut ixs = token::create_mint(&a, &mint.pubkey(), &a, DECIMALS, rent);
        ixs.push(token::create_ata(&a, &a, &mint.pubkey()));
        let tx = Transaction::new_signed_with_payer(
            &ixs,
            Some(&a),
            &[&auth, &mint],
            svm.latest_blockhash(),
        );
        svm.send_transaction(tx).unwrap();
        // the SDK's initialize_config, re-addressed to `at`
        let mut init = ix::initialize_config(
            &a,
            &mint.pubkey(),
            &token::ata(&a, &mint.pubkey()),
            &token::TOKEN_PROGRAM_ID,
            true,
            p.clone(),
        );
        init.program_id = at;
        init.accounts[1].pubkey = Pubkey::find_program_address(&[b"config"], &at).0;
        init.accounts[4].pubkey = at;
        init.accounts[5].pubkey = program_data;
        let tx =
            Transaction::new_signed_with_payer(&[init], Some(&a), &[&auth], svm.latest_blockhash());
        svm.send_transaction(tx)
            .map(|_| ())
            .map_err(|e| e.meta.logs.join("\n"))
    };
    try_at(id).expect("initialize_config at the id it was built for");
    let logs = try_at(tessera::ID).expect_err("the localnet id is not this build's");
    assert!(logs.contains("DeclaredProgramIdMismatch"), "{logs}");
}
