// Wallet-side check on a real validator: a plain @coral-xyz/anchor client, knowing nothing but the
// generated IDL, reads the Config, funds a fresh client wallet, posts a job with `post_job` and
// reads it back with `program.account.job.fetch`; the escrow holds the deposit to the unit.
//
// Runs under `anchor test` (Anchor.toml `[scripts] test`), after tests/tests/localnet.rs has
// created the mint (authority = the provider wallet) and initialised the Config. Anchor sets
// ANCHOR_PROVIDER_URL and ANCHOR_WALLET; without them the suite is reported as skipped.
import { describe, it, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import anchor from "@coral-xyz/anchor";
import {
  createAssociatedTokenAccountInstruction,
  createMintToInstruction,
  getAccount,
  getAssociatedTokenAddressSync,
  getMint,
} from "@solana/spl-token";

const { Program, AnchorProvider, AnchorError, BN, Wallet, web3 } = anchor;
const idlPath = new URL("../../target/idl/tessera.json", import.meta.url);
const idl = JSON.parse(fs.readFileSync(idlPath, "utf8"));
const PROGRAM_ID = new web3.PublicKey(idl.address);

const providerUrl = process.env.ANCHOR_PROVIDER_URL;
const skip = providerUrl
  ? false
  : "SKIPPED: ANCHOR_PROVIDER_URL is not set; this suite runs under `anchor test` (scripts/test.sh)";

/** programs/tessera/src/constants.rs: ESCALATION_SLOTS (not exported in the IDL). */
const ESCALATION_SLOTS = 2;
/** programs/tessera/src/constants.rs: CAP_CPU. */
const CAP_CPU = 1 << 1;
const TOKEN = 1_000_000; // 6 decimals
const OPTS = { commitment: "confirmed", preflightCommitment: "confirmed" };

const u64le = (n) => new BN(n).toArrayLike(Buffer, "le", 8);
const pda = (seeds) => web3.PublicKey.findProgramAddressSync(seeds, PROGRAM_ID)[0];
const jobPda = (client, jobId) => pda([Buffer.from("job"), client.toBuffer(), u64le(jobId)]);
// the network's escrow vault: one token account (owned by the config PDA) for every job's
// escrow, each job's share its own accounting
const escrowVault = () => pda([Buffer.from("escrow")]);

/** The validator's clock (what the program's `Clock::get()` sees), unix seconds. */
async function chainNow(connection) {
  const info = await connection.getAccountInfo(web3.SYSVAR_CLOCK_PUBKEY, "confirmed");
  // Clock: slot u64, epoch_start_timestamp i64, epoch u64, leader_schedule_epoch u64, unix_timestamp i64
  return Number(info.data.readBigInt64LE(32));
}

const SUITE = "an Anchor wallet client on the local validator";
// Skipped as a test (not a suite) so that the summary counts it under "# skipped".
if (skip) test(SUITE, { skip }, () => {});
else describe(SUITE, () => {
  let provider; // the anchor wallet (mint authority, funds the client)
  let program;
  let config;
  let configKey;
  let client; // a fresh keypair: the job's client, signs and pays for its own transactions
  let clientProgram;
  let clientToken;
  const minted = 100 * TOKEN;

  function postJobArgs(jobId, now, overrides = {}) {
    return {
      jobId: new BN(jobId),
      kernelId: 3,
      specVersion: 1,
      specHash: Array.from({ length: 32 }, (_, i) => i + 1),
      inputUri: "https://example.invalid/inputs/wallet-test.bin",
      market: { fixed: {} },
      pricePerReplica: new BN(7 * TOKEN),
      replicas: Math.min(2, config.maxReplicas),
      maxEscalations: Math.min(1, config.escalationCap),
      requirements: {
        minVramMb: 0,
        minComputeCapability: 0,
        capabilities: CAP_CPU,
        minStake: new BN(0),
        minReputationBps: 0,
      },
      execSecs: new BN(config.commitWindowSecs.toNumber()),
      // absolute: at least one commit + reveal round after now, well within MAX_PERIOD_SECS
      deadline: new BN(
        now + config.commitWindowSecs.toNumber() + config.revealWindowSecs.toNumber() + 3_600,
      ),
      bidDeadline: new BN(0),
      ...overrides,
    };
  }

  function postJobAccounts(job) {
    return {
      client: client.publicKey,
      config: configKey,
      job,
      escrow: escrowVault(),
      clientToken,
      mint: config.mint,
      tokenProgram: config.tokenProgram,
      systemProgram: web3.SystemProgram.programId,
    };
  }

  before(async () => {
    const secret = JSON.parse(fs.readFileSync(process.env.ANCHOR_WALLET, "utf8"));
    const walletKp = web3.Keypair.fromSecretKey(Uint8Array.from(secret));
    const connection = new web3.Connection(providerUrl, "confirmed");
    provider = new AnchorProvider(connection, new Wallet(walletKp), OPTS);
    program = new Program(idl, provider);
    assert.ok(program.programId.equals(PROGRAM_ID));

    configKey = pda([Buffer.from("config")]);
    // the fixed-size fields of the hot accounts are in their `core` (state/layout.rs)
    config = (await program.account.config.fetch(configKey)).core;

    // fund a fresh client with SOL, give it an associated token account and tokens
    client = web3.Keypair.generate();
    clientToken = getAssociatedTokenAddressSync(config.mint, client.publicKey, false, config.tokenProgram);
    const tx = new web3.Transaction().add(
      web3.SystemProgram.transfer({
        fromPubkey: walletKp.publicKey,
        toPubkey: client.publicKey,
        lamports: 2 * web3.LAMPORTS_PER_SOL,
      }),
      createAssociatedTokenAccountInstruction(
        walletKp.publicKey,
        clientToken,
        client.publicKey,
        config.mint,
        config.tokenProgram,
      ),
      createMintToInstruction(config.mint, clientToken, walletKp.publicKey, minted, [], config.tokenProgram),
    );
    await provider.sendAndConfirm(tx);
    clientProgram = new Program(idl, new AnchorProvider(connection, new Wallet(client), OPTS));
  });

  it("reads the Config through program.account.config", async () => {
    assert.equal(config.paused, false);
    assert.ok(config.maxReplicas >= 1);
    assert.ok(config.commitWindowSecs.toNumber() > 0);
    // localnet.rs made the mint with the provider wallet as its authority
    const mint = await getMint(provider.connection, config.mint, "confirmed", config.tokenProgram);
    assert.equal(mint.decimals, 6);
    assert.ok(mint.mintAuthority.equals(provider.wallet.publicKey));
    assert.equal(
      (await getAccount(provider.connection, clientToken, "confirmed", config.tokenProgram)).amount,
      BigInt(minted),
    );
  });

  it("posts a job with program.methods.postJob and reads it back", async () => {
    const jobId = 42;
    const job = jobPda(client.publicKey, jobId);
    const escrow = escrowVault();
    const vault0 = (await getAccount(provider.connection, escrow, "confirmed", config.tokenProgram)).amount;
    const now = await chainNow(provider.connection);
    const args = postJobArgs(jobId, now);

    const sig = await clientProgram.methods.postJob(args).accountsStrict(postJobAccounts(job)).rpc();
    assert.equal(typeof sig, "string");

    // Job::budget_slots: k + ESCALATION_SLOTS * max_escalations paid slots
    const slots = args.replicas + ESCALATION_SLOTS * args.maxEscalations;
    const deposit = BigInt(args.pricePerReplica.toString()) * BigInt(slots);

    const account = await program.account.job.fetch(job);
    const j = { ...account.core, inputUri: account.inputUri };
    assert.ok(j.client.equals(client.publicKey));
    assert.equal(j.jobId.toString(), String(jobId));
    assert.equal(j.kernelId, args.kernelId);
    assert.equal(j.specVersion, args.specVersion);
    assert.deepEqual(Array.from(j.specHash), args.specHash);
    assert.equal(j.inputUri, args.inputUri);
    assert.deepEqual(j.market, { fixed: {} });
    assert.equal(j.pricePerReplica.toString(), args.pricePerReplica.toString());
    assert.equal(j.replicas, args.replicas);
    assert.equal(j.maxEscalations, args.maxEscalations);
    assert.equal(j.slots, args.replicas);
    assert.equal(j.round, 0);
    assert.equal(j.requirements.capabilities, CAP_CPU);
    assert.equal(j.execSecs.toString(), args.execSecs.toString());
    assert.equal(j.deadline.toString(), args.deadline.toString());
    assert.deepEqual(j.state, { open: {} });
    assert.equal(j.deposit.toString(), deposit.toString());
    assert.equal(j.paidOut.toString(), "0");
    assert.equal(j.refunded.toString(), "0");
    assert.ok(config.vault.equals(escrow), "the config names the vault");
    // the job runs under the terms of the config at posting, whatever the authority does later
    assert.equal(j.terms.protocolFeeBps, config.protocolFeeBps);
    assert.equal(j.terms.slashTimeoutBps, config.slashTimeoutBps);
    assert.equal(j.terms.commitWindowSecs.toString(), config.commitWindowSecs.toString());
    assert.equal(j.terms.challengeBond.toString(), config.challengeBond.toString());
    // a fixed-price job opens its first round at posting
    assert.ok(j.createdAt.toNumber() >= now);
    assert.equal(
      j.commitDeadline.toNumber(),
      Math.min(j.createdAt.toNumber() + config.commitWindowSecs.toNumber(), j.deadline.toNumber()),
    );

    // the vault is a token account of the config mint owned by the config; the deposit went in
    const esc = await getAccount(provider.connection, escrow, "confirmed", config.tokenProgram);
    assert.ok(esc.mint.equals(config.mint));
    assert.ok(esc.owner.equals(configKey));
    assert.equal(esc.amount - vault0, deposit);
    const mine = await getAccount(provider.connection, clientToken, "confirmed", config.tokenProgram);
    assert.equal(mine.amount, BigInt(minted) - deposit, "client paid exactly the deposit");
  });

  it("rejects replicas = 0 with the program's InvalidReplicas error", async () => {
    const jobId = 43;
    const job = jobPda(client.publicKey, jobId);
    const now = await chainNow(provider.connection);
    const held = await getAccount(provider.connection, clientToken, "confirmed", config.tokenProgram);
    const expected = idl.errors.find((e) => e.name === "InvalidReplicas");
    assert.ok(expected, "InvalidReplicas in the IDL errors");

    await assert.rejects(
      clientProgram.methods.postJob(postJobArgs(jobId, now, { replicas: 0 }))
        .accountsStrict(postJobAccounts(job))
        .rpc(),
      (err) => {
        assert.ok(err instanceof AnchorError, `an AnchorError, got: ${err}`);
        assert.equal(err.error.errorCode.code, "InvalidReplicas");
        assert.equal(err.error.errorCode.number, expected.code);
        assert.ok(err.program.equals(PROGRAM_ID));
        return true;
      },
    );
    assert.equal(await provider.connection.getAccountInfo(job, "confirmed"), null, "no job created");
    const after = await getAccount(provider.connection, clientToken, "confirmed", config.tokenProgram);
    assert.equal(after.amount, held.amount, "no tokens moved");
  });
});
