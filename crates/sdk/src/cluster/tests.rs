use super::*;
use crate::ix;
use tessera::state::ConfigParams;

fn workspace_file(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn clusters_parse_by_name_and_refuse_others() {
    assert_eq!("localnet".parse(), Ok(Cluster::Localnet));
    assert_eq!("devnet".parse(), Ok(Cluster::Devnet));
    assert_eq!("mainnet".parse(), Ok(Cluster::Mainnet));
    assert_eq!("mainnet-beta".parse(), Ok(Cluster::Mainnet));
    assert_eq!(
        "testnet".parse::<Cluster>(),
        Err(ClusterError::Unknown("testnet".into()))
    );
    for c in Cluster::ALL {
        assert_eq!(c.name().parse(), Ok(c));
        assert_eq!(Cluster::from_url(c.rpc_url()), Some(c), "{c}");
        assert_eq!(Cluster::from_url(c.ws_url()), Some(c), "{c}");
    }
}

#[test]
fn urls_name_their_cluster_by_host() {
    let cases = [
        ("http://localhost:8899", Some(Cluster::Localnet)),
        ("http://127.0.0.1:18899", Some(Cluster::Localnet)),
        ("http://[::1]:8899", Some(Cluster::Localnet)),
        (
            "https://devnet.helius-rpc.com/?api-key=x",
            Some(Cluster::Devnet),
        ),
        (
            "https://mainnet.helius-rpc.com/?api-key=x",
            Some(Cluster::Mainnet),
        ),
        ("https://api.testnet.solana.com", None),
        ("https://rpc.example.org", None),
        ("not a url", None),
    ];
    for (url, want) in cases {
        assert_eq!(Cluster::from_url(url), want, "{url}");
    }
}

#[test]
fn the_default_build_is_localnet_with_the_committed_key_as_in_anchor_toml() {
    assert_eq!(Cluster::built_for(), Cluster::Localnet);
    assert_eq!(Cluster::program_id(), LOCALNET_PROGRAM_ID);
    let anchor = workspace_file("Anchor.toml");
    assert_eq!(
        Cluster::Localnet.anchor_toml_id(&anchor),
        Some(LOCALNET_PROGRAM_ID)
    );
    // the committed keypair file is that key
    let bytes: Vec<u8> = serde_json::from_str(&workspace_file("keys/tessera-program-keypair.json"))
        .expect("keypair JSON");
    let kp = solana_sdk::signature::Keypair::try_from(&bytes[..]).expect("64 bytes");
    use solana_sdk::signer::Signer;
    assert_eq!(kp.pubkey(), LOCALNET_PROGRAM_ID);
    // no public cluster may be recorded with the key whose secret is in the repository
    for c in [Cluster::Devnet, Cluster::Mainnet] {
        assert_ne!(c.anchor_toml_id(&anchor), Some(LOCALNET_PROGRAM_ID), "{c}");
    }
}

#[test]
fn targets_are_checked_against_the_build() {
    let dev_id = Pubkey::new_unique();
    let local = |c, url| check_target_for(c, url, Cluster::Localnet, LOCALNET_PROGRAM_ID);
    let dev = |c, url| check_target_for(c, url, Cluster::Devnet, dev_id);
    // a localnet build: anything local, and a rehearsal of a public profile on a local validator
    assert_eq!(local(Cluster::Localnet, "http://127.0.0.1:8899"), Ok(()));
    assert_eq!(local(Cluster::Devnet, "http://127.0.0.1:8899"), Ok(()));
    // but never a public cluster
    assert_eq!(
        local(Cluster::Devnet, Cluster::Devnet.rpc_url()),
        Err(ClusterError::BuiltForAnotherCluster {
            built: Cluster::Localnet,
            program: LOCALNET_PROGRAM_ID,
            wanted: Cluster::Devnet
        })
    );
    assert!(matches!(
        local(Cluster::Mainnet, "https://rpc.example.org"),
        Err(ClusterError::BuiltForAnotherCluster {
            wanted: Cluster::Mainnet,
            ..
        })
    ));
    // a devnet build on devnet, not on mainnet; and --cluster must agree with the URL
    assert_eq!(dev(Cluster::Devnet, Cluster::Devnet.rpc_url()), Ok(()));
    assert!(matches!(
        dev(Cluster::Mainnet, Cluster::Mainnet.rpc_url()),
        Err(ClusterError::BuiltForAnotherCluster {
            built: Cluster::Devnet,
            ..
        })
    ));
    assert!(matches!(
        dev(Cluster::Mainnet, Cluster::Devnet.rpc_url()),
        Err(ClusterError::UrlMismatch {
            url_cluster: Cluster::Devnet,
            ..
        })
    ));
    // a devnet build that still carries the localnet key is refused
    assert_eq!(
        check_target_for(
            Cluster::Devnet,
            Cluster::Devnet.rpc_url(),
            Cluster::Devnet,
            LOCALNET_PROGRAM_ID
        ),
        Err(ClusterError::LocalnetKeyOnPublicCluster(
            LOCALNET_PROGRAM_ID,
            Cluster::Devnet
        ))
    );
}

#[test]
fn the_table_covers_every_field_of_config_params() {
    use anchor_lang::AnchorSerialize;
    let mut bytes = Vec::new();
    profile(Cluster::Localnet).serialize(&mut bytes).unwrap();
    let len = bytes.len();
    assert_eq!(FIELDS.iter().map(|f| f.size).sum::<usize>(), len);
    let mut names: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), FIELDS.len());
    // get and set address the same field, and each field a different one
    let base = profile(Cluster::Localnet);
    for f in &FIELDS {
        let mut p = base.clone();
        let v = if (f.get)(&p) == f.min { f.max } else { f.min };
        f.set(&mut p, v).unwrap();
        assert_eq!((f.get)(&p), v, "{}", f.name);
        let changed = FIELDS
            .iter()
            .filter(|g| (g.get)(&p) != (g.get)(&base))
            .count();
        assert_eq!(changed, 1, "{}", f.name);
    }
}

#[test]
fn every_profile_passes_its_own_rules_and_the_programs() {
    for c in Cluster::ALL {
        let p = profile(c);
        assert_eq!(check_for_cluster(c, &p), Ok(()), "{c}");
        assert!(p.validate().is_ok(), "{c}: the program's own validate()");
    }
    assert_eq!(profile(Cluster::Localnet), ix::localnet_params());
    // windows of minutes on public clusters
    for c in [Cluster::Devnet, Cluster::Mainnet] {
        let p = profile(c);
        assert!(
            p.commit_window_secs >= 10 * 60 && p.challenge_window_secs >= 10 * 60,
            "{c}"
        );
    }
    // the localnet profile is refused on a public cluster, by name
    assert!(matches!(
        check_for_cluster(Cluster::Devnet, &ix::localnet_params()),
        Err(ParamError::TooShortForCluster {
            field: "commit_window_secs",
            ..
        })
    ));
}

#[test]
fn client_bounds_agree_with_the_programs_validate_at_every_edge() {
    let base = profile(Cluster::Devnet);
    for f in &FIELDS {
        for v in [f.min - 1, f.min, f.min + 1, f.max - 1, f.max, f.max + 1] {
            let mut p = base.clone();
            match f.set(&mut p, v) {
                Ok(()) => {
                    assert_eq!(validate_bounds(&p), Ok(()));
                    assert!(p.validate().is_ok(), "{} = {v}: program refuses", f.name);
                }
                Err(ParamError::OutOfBounds { .. }) => {
                    // the value cannot even be stored when it is outside the type: the
                    // program's type is then the bound; otherwise store it raw and compare
                    if let Some(raw) = raw_with(&base, f.name, v) {
                        let err = p_validate_name(&raw);
                        assert_eq!(
                            Some(f.program_error_name()),
                            err,
                            "{} = {v}: client refuses, program says {err:?}",
                            f.name
                        );
                        assert!(validate_bounds(&raw).is_err());
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

/// `base` with field `name` set to `v` if `v` fits the field's type (bypassing the bounds).
fn raw_with(base: &ConfigParams, name: &str, v: i128) -> Option<ConfigParams> {
    let mut p = base.clone();
    macro_rules! put {
        ($($f:ident),*) => {
            match name {
                $(stringify!($f) => p.$f = v.try_into().ok()?,)*
                _ => unreachable!("{name}"),
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

/// The name of the error the program's own `ConfigParams::validate` gives, if any.
fn p_validate_name(p: &ConfigParams) -> Option<String> {
    match p.validate() {
        Ok(()) => None,
        Err(anchor_lang::error::Error::AnchorError(e)) => Some(e.error_name.clone()),
        Err(e) => Some(format!("{e}")),
    }
}

#[test]
fn overrides_parse_by_kind_and_name_their_errors() {
    let mut p = profile(Cluster::Devnet);
    apply_override(&mut p, "commit_window_secs=20m", 6).unwrap();
    apply_override(&mut p, "min_stake=250.5", 6).unwrap();
    apply_override(&mut p, " protocol_fee_bps = 100 ", 6).unwrap();
    assert_eq!(p.commit_window_secs, 1200);
    assert_eq!(p.min_stake, 250_500_000);
    assert_eq!(p.protocol_fee_bps, 100);
    assert_eq!(
        apply_override(&mut p, "commit_window_secs", 6),
        Err(ParamError::NotKeyValue("commit_window_secs".into()))
    );
    assert!(matches!(
        apply_override(&mut p, "fee=1", 6),
        Err(ParamError::Unknown { key, known }) if key == "fee" && known.contains("protocol_fee_bps")
    ));
    assert!(matches!(
        apply_override(&mut p, "max_replicas=many", 6),
        Err(ParamError::BadValue {
            field: "max_replicas",
            ..
        })
    ));
    assert!(matches!(
        apply_override(&mut p, "min_stake=0.0000001", 6),
        Err(ParamError::BadValue {
            field: "min_stake",
            ..
        })
    ));
    assert_eq!(
        apply_override(&mut p, "protocol_fee_bps=1001", 6),
        Err(ParamError::OutOfBounds {
            field: "protocol_fee_bps",
            value: 1001,
            min: 0,
            max: 1000,
            program_error: "InvalidBps".into()
        })
    );
    assert!(matches!(
        apply_override(&mut p, "commit_window_secs=8d", 6),
        Err(ParamError::OutOfBounds { field: "commit_window_secs", program_error, .. }) if program_error == "InvalidPeriod"
    ));
    // a refused override changes nothing
    assert_eq!(p.protocol_fee_bps, 100);
    assert_eq!(p.commit_window_secs, 1200);
}

#[test]
fn public_cluster_rules_are_named() {
    let mut p = profile(Cluster::Mainnet);
    p.reveal_window_secs = 60;
    assert_eq!(
        check_for_cluster(Cluster::Mainnet, &p),
        Err(ParamError::TooShortForCluster {
            field: "reveal_window_secs",
            value: 60,
            min: 300,
            cluster: Cluster::Mainnet
        })
    );
    // fine on localnet, which takes what the program takes
    assert_eq!(check_for_cluster(Cluster::Localnet, &p), Ok(()));
    let mut p = profile(Cluster::Devnet);
    p.unbonding_secs = 2 * 3600; // above devnet's 1 h floor, below one job with 3 rounds
    p.commit_window_secs = 3600;
    assert!(matches!(
        check_for_cluster(Cluster::Devnet, &p),
        Err(ParamError::UnbondingTooShort {
            unbonding: 7200,
            ..
        })
    ));
}

#[test]
fn profiles_follow_the_mint_decimals() {
    let p9 = params_for(Cluster::Devnet, 9).unwrap();
    assert_eq!(p9.min_stake, 100_000_000_000);
    assert_eq!(p9.min_price_per_replica, 10_000_000);
    assert_eq!(
        p9.commit_window_secs,
        profile(Cluster::Devnet).commit_window_secs
    );
    assert_eq!(
        params_for(Cluster::Mainnet, 6).unwrap(),
        profile(Cluster::Mainnet)
    );
    assert!(matches!(
        params_for(Cluster::Devnet, 0),
        Err(ParamError::NotRepresentable {
            field: "min_price_per_replica",
            ..
        })
    ));
}

#[test]
fn prechecks_need_no_chain() {
    let kv = |s: &str| vec![s.to_string()];
    assert!(matches!(
        precheck_overrides(Cluster::Devnet, &kv("reveal_window_secs=30")),
        Err(ParamError::TooShortForCluster {
            field: "reveal_window_secs",
            ..
        })
    ));
    assert_eq!(
        precheck_overrides(Cluster::Localnet, &kv("reveal_window_secs=30")),
        Ok(())
    );
    assert!(matches!(
        precheck_overrides(Cluster::Localnet, &kv("max_replicas=9")),
        Err(ParamError::OutOfBounds { .. })
    ));
    // token amounts wait for the mint's decimals; unknown keys do not
    assert_eq!(
        precheck_overrides(Cluster::Devnet, &kv("min_stake=0.000000001")),
        Ok(())
    );
    assert!(matches!(
        precheck_overrides(Cluster::Devnet, &kv("nope=1")),
        Err(ParamError::Unknown { .. })
    ));
}
