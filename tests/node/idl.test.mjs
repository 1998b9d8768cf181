// Wallet-side check: the IDL that `anchor build` generates loads in @coral-xyz/anchor, and the
// TypeScript client builds a correct `initialize_config` instruction from it (accounts resolved
// from the IDL's PDA seeds and fixed addresses, data Borsh-encoded behind the discriminator).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import anchor from "@coral-xyz/anchor";

const { Program, AnchorProvider, BN, BorshCoder, web3 } = anchor;
const idlPath = new URL("../../target/idl/tessera.json", import.meta.url);
const idl = JSON.parse(fs.readFileSync(idlPath, "utf8"));
const PROGRAM_ID = new web3.PublicKey("H5Hi3xwQ22nX6Lm79ZXqzBNjuH37oj8nZ5Yvd1u7uvzP");
const TOKEN_PROGRAM = new web3.PublicKey("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");

function program() {
  const authority = web3.Keypair.generate();
  const wallet = {
    publicKey: authority.publicKey,
    signTransaction: async (tx) => tx,
    signAllTransactions: async (txs) => txs,
  };
  // .instruction() makes no network call; the URL is never contacted.
  const provider = new AnchorProvider(new web3.Connection("http://127.0.0.1:8899"), wallet, {});
  return { program: new Program(idl, provider), authority: authority.publicKey };
}

const params = {
  protocolFeeBps: 250,
  minStake: new BN(100_000_000),
  unbondingSecs: new BN(10),
  slashTimeoutBps: 500,
  slashWrongResultBps: 2000,
  slashNoRevealBps: 1000,
  slashClientShareBps: 5000,
  crankRewardBps: 500,
  commitWindowSecs: new BN(60),
  revealWindowSecs: new BN(30),
  challengeWindowSecs: new BN(5),
  maxReplicas: 5,
  escalationCap: 2,
  challengeBond: new BN(10_000_000),
  priorityMinValue: new BN(1_000_000_000),
  priorityWindowSecs: new BN(5),
  priorityMinStake: new BN(500_000_000),
  priorityMinReputationBps: 6000,
  minPricePerReplica: new BN(10_000),
  reputationUnit: new BN(500_000),
  collateralBps: 10_000,
  sortitionExpectedPct: 100,
  sortitionWidenSlots: new BN(25),
  stakeEpochSlots: new BN(32),
};

test("the IDL describes the Tessera program", () => {
  assert.equal(idl.address, PROGRAM_ID.toBase58());
  assert.equal(idl.metadata.name, "tessera");
  const names = idl.instructions.map((i) => i.name);
  for (const n of ["initialize_config", "update_config", "set_paused", "post_job", "claim_job",
    "commit_result", "reveal_result", "finalize_job", "settle_claim"]) {
    assert.ok(names.includes(n), `instruction ${n} in the IDL`);
  }
  for (const a of ["Config", "Node", "Job", "Claim", "Bid", "Challenge"]) {
    assert.ok(idl.accounts.some((x) => x.name === a), `account ${a} in the IDL`);
  }
  assert.ok(idl.events.some((e) => e.name === "JobPosted"), "events in the IDL");
  assert.ok(idl.errors.some((e) => e.name === "Unauthorized" && e.code === 6000), "errors in the IDL");
});

test("@coral-xyz/anchor builds initialize_config from the IDL", async () => {
  const { program: p, authority } = program();
  const mint = web3.Keypair.generate().publicKey;
  const treasury = web3.Keypair.generate().publicKey;
  const ix = await p.methods
    .initializeConfig({ params })
    .accountsPartial({ authority, mint, treasury, programData: null, tokenProgram: TOKEN_PROGRAM })
    .instruction();

  assert.ok(ix.programId.equals(PROGRAM_ID));
  const spec = idl.instructions.find((i) => i.name === "initialize_config");
  assert.deepEqual([...ix.data.subarray(0, 8)], spec.discriminator);
  // accounts in IDL order, PDA resolved from its seeds, fixed addresses filled in
  const [config] = web3.PublicKey.findProgramAddressSync([Buffer.from("config")], PROGRAM_ID);
  const keys = ix.keys.map((k) => k.pubkey.toBase58());
  assert.equal(keys.length, spec.accounts.length);
  assert.equal(keys[0], authority.toBase58());
  assert.ok(ix.keys[0].isSigner && ix.keys[0].isWritable);
  assert.equal(keys[1], config.toBase58(), "config PDA from the IDL seeds");
  assert.equal(keys[4], PROGRAM_ID.toBase58(), "program account from its address constraint");
  assert.equal(keys[5], PROGRAM_ID.toBase58(), "absent optional account = program id");
  assert.equal(keys[7], web3.SystemProgram.programId.toBase58());

  // the data decodes back to the same parameters (Borsh layout agrees with the program)
  const decoded = new BorshCoder(idl).instruction.decode(ix.data);
  assert.equal(decoded.name, "initialize_config");
  const got = decoded.data.args.params;
  assert.equal(got.protocol_fee_bps ?? got.protocolFeeBps, 250);
  assert.equal((got.min_stake ?? got.minStake).toString(), "100000000");
  assert.equal(got.max_replicas ?? got.maxReplicas, 5);
  // 8-byte discriminator + 18 fields
  // ... + min_price_per_replica, reputation_unit, collateral_bps, sortition pct and widening,
  // stake epoch length
  assert.equal(ix.data.length, 8 + 2 + 8 + 8 + 2 * 5 + 8 * 3 + 1 + 1 + 8 + 8 + 8 + 8 + 2 + 8 + 8 + 2 + 2 + 8 + 8);
  assert.equal((got.stake_epoch_slots ?? got.stakeEpochSlots).toString(), "32");
});

test("account and event layouts decode with the IDL coder", () => {
  const coder = new BorshCoder(idl);
  const cfg = idl.accounts.find((a) => a.name === "Config");
  assert.equal(cfg.discriminator.length, 8);
  // an all-zero Config body behind its discriminator decodes: its one field is the fixed-size
  // core (programs/tessera/src/state/layout.rs): 6 keys, 15 u64/i64, the bonded-total history
  // (5 u64), 9 u16, 5 one-byte fields and 1 reserved byte
  const size = 8 + 32 * 6 + 8 * 15 + 8 * 5 + 2 * 9 + 5 + 1;
  const buf = Buffer.alloc(size);
  Buffer.from(cfg.discriminator).copy(buf, 0);
  const decoded = coder.accounts.decode("Config", buf).core;
  assert.equal(decoded.paused, false);
  const pending = decoded.pending_authority ?? decoded.pendingAuthority;
  assert.ok(pending.equals(web3.PublicKey.default), "no authority transfer pending");
});
