//! `update_config` as the CLI prepares it: the current parameters with the overrides applied,
//! checked against the program's bounds and the cluster's rules, signed by the authority.
//! Everything the program would refuse is refused here first, by name.
use solana_sdk::pubkey::Pubkey;
use tessera::state::{Config, ConfigParams};

use super::params::{check_windows, field, Kind};
use super::profile::{profile, PROFILE_DECIMALS};
use super::{apply_override, check_for_cluster, Cluster, ParamError};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpdateError {
    #[error(
        "{signer} is not the config authority ({authority}): sign with the authority's key \
         (--keypair)"
    )]
    NotAuthority { signer: Pubkey, authority: Pubkey },
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("nothing to change: the config already has these values")]
    NothingToChange,
}

/// The parameters an `update_config` by `signer` would set on `current`.
pub fn plan_update(
    current: &Config,
    signer: &Pubkey,
    cluster: Cluster,
    overrides: &[String],
    decimals: u8,
) -> Result<ConfigParams, UpdateError> {
    if *signer != current.authority {
        return Err(UpdateError::NotAuthority {
            signer: *signer,
            authority: current.authority,
        });
    }
    let mut p = current.params();
    for kv in overrides {
        apply_override(&mut p, kv, decimals)?;
    }
    check_for_cluster(cluster, &p)?;
    if p == current.params() {
        return Err(UpdateError::NothingToChange);
    }
    Ok(p)
}

/// The checks on `KEY=VALUE` overrides that need no chain, so bad input is refused before any
/// RPC: syntax, the program's bounds, and `cluster`'s minimum windows. (Token amounts need the
/// mint's decimals, so for them only the key is checked; the unbonding rule needs the other
/// values: both are checked again on the full parameters.)
pub fn precheck_overrides(cluster: Cluster, overrides: &[String]) -> Result<(), ParamError> {
    let mut scratch = profile(cluster);
    for kv in overrides {
        let key = kv.split_once('=').map(|(k, _)| k.trim());
        match key.and_then(field) {
            Some(f) if f.kind == Kind::Tokens => {}
            _ => apply_override(&mut scratch, kv, PROFILE_DECIMALS)?,
        }
    }
    check_windows(cluster, &scratch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::AccountDeserialize;

    fn config_with(authority: Pubkey, params: &ConfigParams) -> Config {
        let zeros = vec![0u8; 8 + <Config as anchor_lang::Space>::INIT_SPACE];
        let mut c = Config::try_deserialize_unchecked(&mut &zeros[..]).unwrap();
        c.authority = authority;
        c.apply(params);
        c
    }

    #[test]
    fn only_the_authority_may_update_and_only_within_the_rules() {
        let auth = Pubkey::new_unique();
        let c = config_with(auth, &super::super::profile(Cluster::Devnet));
        let kv = |s: &str| vec![s.to_string()];
        let intruder = Pubkey::new_unique();
        assert_eq!(
            plan_update(
                &c,
                &intruder,
                Cluster::Devnet,
                &kv("protocol_fee_bps=100"),
                6
            ),
            Err(UpdateError::NotAuthority {
                signer: intruder,
                authority: auth
            })
        );
        let p = plan_update(&c, &auth, Cluster::Devnet, &kv("protocol_fee_bps=100"), 6).unwrap();
        assert_eq!(p.protocol_fee_bps, 100);
        assert_eq!(
            p.commit_window_secs, c.commit_window_secs,
            "the rest is kept"
        );
        assert!(matches!(
            plan_update(&c, &auth, Cluster::Devnet, &kv("commit_window_secs=30"), 6),
            Err(UpdateError::Param(ParamError::TooShortForCluster { .. }))
        ));
        assert!(matches!(
            plan_update(&c, &auth, Cluster::Devnet, &kv("max_replicas=8"), 6),
            Err(UpdateError::Param(ParamError::OutOfBounds {
                field: "max_replicas",
                ..
            }))
        ));
        assert_eq!(
            plan_update(&c, &auth, Cluster::Devnet, &kv("max_replicas=5"), 6),
            Err(UpdateError::NothingToChange)
        );
    }
}
