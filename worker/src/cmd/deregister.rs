//! `tessera-worker deregister --yes`: closes the node account and its stake vault
//! (`deregister_node`). The program refuses while the node holds an open claim
//! (`OpenClaims`), a claim not yet settled (`NodeHasUnsettledClaims`) or any stake, bonded or
//! unbonding (`StakeRemaining`); this command checks them first and says what to run, in
//! order: drain, unstake, wait, withdraw.
use anyhow::{bail, Context, Result};
use solana_sdk::signer::Signer;
use tessera::state::Node;
use tessera_rpc as rpc;
use tessera_sdk::units::format_amount;
use tessera_sdk::{ix, pda};

use crate::config::Config;
use crate::control::client;

/// Why `deregister_node` would be refused now, one line each, named by the program's error
/// and saying what to do. Empty when it would pass.
pub fn blockers(node: &Node, unbonding_secs: i64, now: i64, decimals: u8) -> Vec<String> {
    let amount = |v| format_amount(v, decimals);
    let mut out = Vec::new();
    if node.open_claims > 0 {
        out.push(format!(
            "OpenClaims: the node holds {} open claim(s): `tessera-worker drain` finishes them (or wait until they settle or expire)",
            node.open_claims
        ));
    }
    let unsettled = node.unsettled_claims.saturating_sub(node.open_claims);
    if unsettled > 0 {
        out.push(format!(
            "NodeHasUnsettledClaims: {unsettled} timed-out claim(s) wait for their jobs to end and be settled (anyone may crank `settle_claim`; the worker does for its own)"
        ));
    }
    let bonded = node.bonded();
    if bonded > 0 {
        out.push(format!(
            "StakeRemaining: {} tokens are bonded: `tessera-worker unstake {}`, wait the unbonding period ({unbonding_secs} s), then `tessera-worker withdraw`",
            amount(bonded),
            amount(bonded)
        ));
    }
    if node.unbonding > 0 {
        let ready = node.unbonding_since.saturating_add(unbonding_secs);
        out.push(if now < ready {
            format!(
                "StakeRemaining: {} tokens are unbonding, withdrawable in {} s: then `tessera-worker withdraw`",
                amount(node.unbonding),
                ready - now
            )
        } else {
            format!(
                "StakeRemaining: {} tokens are unbonded but not withdrawn: `tessera-worker withdraw`",
                amount(node.unbonding)
            )
        });
    }
    out
}

pub fn run(cfg: &Config, yes: bool) -> Result<()> {
    let op = crate::keypair(cfg)?;
    let sock = cfg.control_socket();
    if let Some(st) = client::block_on(client::status(&sock))? {
        bail!(
            "a daemon is running for this node (pid {}): stop it first; `tessera-worker drain --exit` finishes its claims and stops it",
            st.pid
        );
    }
    let rpc = crate::rpc_client(cfg);
    let c = rpc::fetch_config(&rpc)?;
    let d = rpc::decimals(&rpc, &c)?;
    let node_key = pda::node(&op.pubkey()).0;
    let node: Node = rpc::fetch(&rpc, "Node", &node_key)
        .with_context(|| format!("node {node_key} is not registered (nothing to deregister)"))?;
    let now = rpc::cluster_time(&rpc)?;
    let why = blockers(&node, c.unbonding_secs, now, d);
    if !why.is_empty() {
        bail!("cannot deregister node {node_key} yet: {}", why.join("; "));
    }
    if !yes {
        bail!(
            "deregistering closes node {node_key} and deletes its on-chain reputation ({:.2} %, {} jobs completed) for good: pass --yes to confirm",
            node.reputation.score_bps as f64 / 100.0,
            node.reputation.completed
        );
    }
    let t = ix::TokenCtx::from_config(&c);
    rpc::send(&rpc, &[ix::deregister_node(&t, &op.pubkey())], &op, &[])
        .context("deregister_node")?;
    println!("node {node_key} deregistered: its account and stake vault are closed, their rent is back with {}", op.pubkey());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(stake: u64, unbonding: u64, since: i64, open_claims: u32) -> Node {
        let mut n: Node = zeroed_node();
        n.stake = stake;
        n.unbonding = unbonding;
        n.unbonding_since = since;
        n.open_claims = open_claims;
        n
    }

    /// A `Node` with every field zero (the account layout has no `Default`).
    fn zeroed_node() -> Node {
        use anchor_lang::AccountDeserialize;
        let mut data = <Node as anchor_lang::Discriminator>::DISCRIMINATOR.to_vec();
        data.resize(8 + <Node as anchor_lang::Space>::INIT_SPACE, 0);
        Node::try_deserialize(&mut data.as_slice()).expect("a zeroed node decodes")
    }

    #[test]
    fn a_timed_out_claim_still_to_settle_is_named() {
        let mut n = node(0, 0, 0, 1);
        n.unsettled_claims = 3;
        let b = blockers(&n, 100, 1_000, 6);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(
            b[1].starts_with("NodeHasUnsettledClaims: 2 timed-out claim(s)"),
            "{b:?}"
        );
    }

    #[test]
    fn each_precondition_is_named_with_what_to_do() {
        // 6 decimals: 500 tokens = 500_000_000
        let none = blockers(&node(0, 0, 0, 0), 100, 1_000, 6);
        assert!(none.is_empty(), "{none:?}");
        let b = blockers(&node(500_000_000, 0, 0, 2), 100, 1_000, 6);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(
            b[0].starts_with("OpenClaims: the node holds 2 open claim(s): `tessera-worker drain`")
        );
        assert!(b[1].starts_with(
            "StakeRemaining: 500 tokens are bonded: `tessera-worker unstake 500`, wait the unbonding period (100 s)"
        ), "{b:?}");
        // part unbonding, part bonded: both said
        let b = blockers(&node(500_000_000, 200_000_000, 950, 0), 100, 1_000, 6);
        assert_eq!(b.len(), 2, "{b:?}");
        assert!(b[0].contains("300 tokens are bonded"), "{b:?}");
        assert_eq!(
            b[1],
            "StakeRemaining: 200 tokens are unbonding, withdrawable in 50 s: then `tessera-worker withdraw`"
        );
        // all unbonded, the period over: withdraw
        let b = blockers(&node(500_000_000, 500_000_000, 800, 0), 100, 1_000, 6);
        assert_eq!(
            b,
            ["StakeRemaining: 500 tokens are unbonded but not withdrawn: `tessera-worker withdraw`"]
        );
    }
}
