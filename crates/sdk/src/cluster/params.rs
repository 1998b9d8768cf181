//! Every `ConfigParams` field with the bounds `ConfigParams::validate` enforces on chain, so a
//! bad value is refused here, by name, before anything is sent; `--param key=value`
//! overrides; and the rules a public cluster adds on top of the program's bounds.
//!
//! The bounds are the program's own constants; `tests/tests/program_cluster.rs` tries every
//! bound's edges against the program (in-process and in LiteSVM) and checks both agree.
use tessera::constants::*;
use tessera::errors::TesseraError;
use tessera::state::ConfigParams;

use super::{minimums::Minimums, Cluster};
use crate::units::parse_amount;

/// What a field counts, which decides how `--param` values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Basis points (10 000 = 100 %) or a percentage: an integer.
    Bps,
    /// Seconds: `90`, `90s`, `15m`, `2h`, `7d`.
    Secs,
    /// Token amounts, in tokens as people write them (`500`, `0.01`), stored in base units.
    Tokens,
    /// A count of replicas, rounds or chain slots: an integer.
    Count,
}

/// One parameter: its name (the `ConfigParams` field), kind, inclusive bounds and the error
/// the program gives outside them.
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub min: i128,
    pub max: i128,
    /// `None` for the fields the program does not bound.
    pub program_error: Option<TesseraError>,
    /// Size of the field in the Borsh encoding (a test checks the table covers the struct).
    pub size: usize,
    pub get: fn(&ConfigParams) -> i128,
    set: fn(&mut ConfigParams, i128),
}

impl Field {
    /// Sets the field, refusing a value outside its bounds (so the cast never truncates).
    pub fn set(&self, p: &mut ConfigParams, v: i128) -> Result<(), ParamError> {
        if v < self.min || v > self.max {
            return Err(ParamError::OutOfBounds {
                field: self.name,
                value: v,
                min: self.min,
                max: self.max,
                program_error: self.program_error_name(),
            });
        }
        (self.set)(p, v);
        Ok(())
    }

    pub fn program_error_name(&self) -> String {
        self.program_error
            .map(|e| format!("{e:?}"))
            .unwrap_or_else(|| "none".into())
    }
}

macro_rules! field {
    ($name:ident: $ty:ty, $kind:ident, $min:expr, $max:expr, $err:expr) => {
        Field {
            name: stringify!($name),
            kind: Kind::$kind,
            min: $min as i128,
            max: $max as i128,
            program_error: $err,
            size: std::mem::size_of::<$ty>(),
            get: |p| p.$name as i128,
            set: |p, v| p.$name = v as $ty,
        }
    };
}

const BPS: u16 = BPS_DENOMINATOR as u16;
const E_BPS: Option<TesseraError> = Some(TesseraError::InvalidBps);
const E_PERIOD: Option<TesseraError> = Some(TesseraError::InvalidPeriod);
const E_PRICE: Option<TesseraError> = Some(TesseraError::InvalidPrice);

/// Every field of `ConfigParams`, in declaration order, with the program's bounds
/// (`programs/tessera/src/state/config.rs`, `ConfigParams::validate`).
pub static FIELDS: [Field; 24] = [
    field!(protocol_fee_bps: u16, Bps, 0, MAX_PROTOCOL_FEE_BPS, E_BPS),
    field!(min_stake: u64, Tokens, 1, u64::MAX, Some(TesseraError::InvalidMinStake)),
    field!(unbonding_secs: i64, Secs, 1, MAX_UNBONDING_SECS, E_PERIOD),
    field!(slash_timeout_bps: u16, Bps, 0, MAX_SLASH_BPS, E_BPS),
    field!(slash_wrong_result_bps: u16, Bps, 0, MAX_SLASH_BPS, E_BPS),
    field!(slash_no_reveal_bps: u16, Bps, 0, MAX_SLASH_BPS, E_BPS),
    field!(slash_client_share_bps: u16, Bps, 0, BPS, E_BPS),
    field!(crank_reward_bps: u16, Bps, 0, MAX_CRANK_REWARD_BPS, E_BPS),
    field!(commit_window_secs: i64, Secs, 1, MAX_WINDOW_SECS, E_PERIOD),
    field!(reveal_window_secs: i64, Secs, 1, MAX_WINDOW_SECS, E_PERIOD),
    field!(challenge_window_secs: i64, Secs, 1, MAX_WINDOW_SECS, E_PERIOD),
    field!(max_replicas: u8, Count, 1, MAX_REPLICAS, Some(TesseraError::InvalidMaxReplicas)),
    field!(escalation_cap: u8, Count, 0, MAX_ESCALATIONS, Some(TesseraError::InvalidEscalationCap)),
    field!(challenge_bond: u64, Tokens, 1, u64::MAX, Some(TesseraError::InvalidChallengeBond)),
    field!(priority_min_value: u64, Tokens, 0, u64::MAX, None),
    field!(priority_window_secs: i64, Secs, 0, MAX_PRIORITY_WINDOW_SECS, E_PERIOD),
    field!(priority_min_stake: u64, Tokens, 0, u64::MAX, None),
    field!(priority_min_reputation_bps: u16, Bps, 0, BPS, E_BPS),
    field!(min_price_per_replica: u64, Tokens, 1, u64::MAX, E_PRICE),
    field!(reputation_unit: u64, Tokens, 1, u64::MAX, E_PRICE),
    field!(collateral_bps: u16, Bps, 0, MAX_COLLATERAL_BPS, E_BPS),
    field!(sortition_expected_pct: u16, Bps, MIN_SORTITION_PCT, MAX_SORTITION_PCT, E_BPS),
    field!(sortition_widen_slots: u64, Count, 1, MAX_WIDEN_SLOTS, E_PERIOD),
    field!(stake_epoch_slots: u64, Count, MIN_STAKE_EPOCH_SLOTS, MAX_STAKE_EPOCH_SLOTS, E_PERIOD),
];

/// The field called `name`.
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("`{0}` is not KEY=VALUE (e.g. --param commit_window_secs=15m)")]
    NotKeyValue(String),
    #[error("unknown parameter `{key}`; the parameters are: {known}")]
    Unknown { key: String, known: String },
    #[error("{field} = `{value}`: {why}")]
    BadValue {
        field: &'static str,
        value: String,
        why: String,
    },
    #[error(
        "{field} = {value} is outside the program's bounds [{min}, {max}] (the program refuses \
         it with {program_error})"
    )]
    OutOfBounds {
        field: &'static str,
        value: i128,
        min: i128,
        max: i128,
        program_error: String,
    },
    #[error(
        "{field} = {value} s is too short for {cluster}: at least {min} s there (slots of \
         ~400 ms, RPC lag and operators' own machines need minutes)"
    )]
    TooShortForCluster {
        field: &'static str,
        value: i64,
        min: i64,
        cluster: Cluster,
    },
    #[error(
        "unbonding_secs = {unbonding} is shorter than the {min} s {cluster} requires (and than \
         one job, {job} s: every round's commit and reveal windows plus the challenge window), \
         so a node could withdraw before its slash"
    )]
    UnbondingTooShort {
        unbonding: i64,
        min: i64,
        job: i64,
        cluster: Cluster,
    },
    #[error(
        "{field}: {units} base units at {from} decimals cannot be written with {decimals} \
         decimals; pass --param {field}=<tokens>"
    )]
    NotRepresentable {
        field: &'static str,
        units: u64,
        from: u8,
        decimals: u8,
    },
}

/// Every field within the program's bounds; the first one outside is named.
pub fn validate_bounds(p: &ConfigParams) -> Result<(), ParamError> {
    for f in &FIELDS {
        let v = (f.get)(p);
        if v < f.min || v > f.max {
            return Err(ParamError::OutOfBounds {
                field: f.name,
                value: v,
                min: f.min,
                max: f.max,
                program_error: f.program_error_name(),
            });
        }
    }
    Ok(())
}

/// The program's bounds, then the rules of a public cluster: windows of minutes, and an
/// unbonding period that outlasts a whole job (a node must not leave before its slash).
pub fn check_for_cluster(cluster: Cluster, p: &ConfigParams) -> Result<(), ParamError> {
    validate_bounds(p)?;
    check_windows(cluster, p)?;
    let Some(m) = Minimums::of(cluster) else {
        return Ok(());
    };
    let rounds = i64::from(p.escalation_cap) + 1;
    let job = rounds * (p.commit_window_secs + p.reveal_window_secs) + p.challenge_window_secs;
    if p.unbonding_secs < m.unbonding_secs.max(job) {
        return Err(ParamError::UnbondingTooShort {
            unbonding: p.unbonding_secs,
            min: m.unbonding_secs,
            job,
            cluster,
        });
    }
    Ok(())
}

/// Each window at least the cluster's minimum.
pub(super) fn check_windows(cluster: Cluster, p: &ConfigParams) -> Result<(), ParamError> {
    let Some(m) = Minimums::of(cluster) else {
        return Ok(());
    };
    for (field, value, min) in [
        (
            "commit_window_secs",
            p.commit_window_secs,
            m.commit_window_secs,
        ),
        (
            "reveal_window_secs",
            p.reveal_window_secs,
            m.reveal_window_secs,
        ),
        (
            "challenge_window_secs",
            p.challenge_window_secs,
            m.challenge_window_secs,
        ),
    ] {
        if value < min {
            return Err(ParamError::TooShortForCluster {
                field,
                value,
                min,
                cluster,
            });
        }
    }
    Ok(())
}

/// Applies one `KEY=VALUE` override (`decimals`: of the network mint, for token amounts).
pub fn apply_override(p: &mut ConfigParams, kv: &str, decimals: u8) -> Result<(), ParamError> {
    let (key, value) = kv
        .split_once('=')
        .ok_or_else(|| ParamError::NotKeyValue(kv.to_string()))?;
    let (key, value) = (key.trim(), value.trim());
    let f = field(key).ok_or_else(|| ParamError::Unknown {
        key: key.to_string(),
        known: FIELDS.iter().map(|f| f.name).collect::<Vec<_>>().join(", "),
    })?;
    let bad = |why: String| ParamError::BadValue {
        field: f.name,
        value: value.to_string(),
        why,
    };
    let v: i128 = match f.kind {
        Kind::Tokens => parse_amount(value, decimals)
            .map(i128::from)
            .map_err(|e| bad(e.to_string()))?,
        Kind::Secs => parse_secs(value).map_err(bad)?,
        Kind::Bps | Kind::Count => value
            .parse()
            .map_err(|_| bad("expected a whole number".into()))?,
    };
    f.set(p, v)
}

/// `90`, `90s`, `15m`, `2h`, `7d` as seconds.
fn parse_secs(s: &str) -> Result<i128, String> {
    let (num, unit) = match s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '-')
    {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("expected seconds, or a number with s, m, h or d (e.g. 15m)".into()),
    };
    let n: i128 = num
        .parse()
        .map_err(|_| "expected seconds, or a number with s, m, h or d (e.g. 15m)".to_string())?;
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_units() {
        assert_eq!(parse_secs("90"), Ok(90));
        assert_eq!(parse_secs("15m"), Ok(900));
        assert_eq!(parse_secs("2h"), Ok(7200));
        assert_eq!(parse_secs("7d"), Ok(604_800));
        assert!(parse_secs("5w").is_err());
        assert!(parse_secs("m").is_err());
    }
}
