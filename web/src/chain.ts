// The cluster the page talks to: RPC and websocket clients, the program's accounts decoded by
// the Codama client (src/generated), and sending what a wallet signs. Instructions come from
// the Rust SDK (tw.Network, compiled to WebAssembly); nothing here knows an account layout.
import {
  address,
  appendTransactionMessageInstructions,
  createSolanaRpc,
  createSolanaRpcSubscriptions,
  createTransactionMessage,
  getBase58Decoder,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  parseBase64RpcAccount,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type Address,
  type Base58EncodedBytes,
  type Instruction,
  type TransactionModifyingSigner,
} from '@solana/kit';
import {
  CLAIM_DISCRIMINATOR,
  JOB_DISCRIMINATOR,
  NODE_DISCRIMINATOR,
  TESSERA_PROGRAM_ADDRESS,
  decodeClaim,
  decodeConfig,
  decodeJob,
  decodeNode,
  getTesseraErrorMessage,
  type Claim as ClaimAccount,
  type Config as ConfigAccount,
  type Job as JobAccount,
  type Node as NodeAccount,
  type TesseraError,
} from './generated';

/** An account with the fields of its fixed-size core (`programs/tessera/src/state/layout.rs`)
 *  lifted beside the others: `job.state`, not `job.core.state`. */
type Flat<T extends { core: object }> = Omit<T, 'core'> & T['core'];
export type Job = Flat<JobAccount>;
export type Claim = Flat<ClaimAccount>;
export type Node = Flat<NodeAccount>;
export type Config = Flat<ConfigAccount>;

function flat<T extends { core: object }>(account: T): Flat<T> {
  const { core, ...rest } = account;
  return { ...core, ...rest } as Flat<T>;
}
import { tw } from './wasm';

export interface ClusterInfo {
  name: string;
  rpcUrl: string;
  wsUrl: string;
  builtFor: boolean;
}

export interface Decoded<T> {
  address: Address;
  data: T;
}

type Rpc = ReturnType<typeof createSolanaRpc>;
type Subs = ReturnType<typeof createSolanaRpcSubscriptions>;

export class Chain {
  private constructor(
    readonly cluster: ClusterInfo,
    readonly rpc: Rpc,
    readonly subs: Subs,
    readonly network: InstanceType<typeof tw.Network>,
    readonly config: Config,
  ) {}

  /** Reads the program's config and token on `cluster`; a clear error when it is not there. */
  static async open(cluster: ClusterInfo): Promise<Chain> {
    tw.checkRpcUrl(cluster.rpcUrl);
    const rpc = createSolanaRpc(cluster.rpcUrl);
    const subs = createSolanaRpcSubscriptions(cluster.wsUrl);
    const raw = async (a: string) => {
      const { value } = await rpc.getAccountInfo(address(a), { encoding: 'base64' }).send();
      return value ? Buffer64.decode(value.data[0]) : null;
    };
    let configData: Uint8Array | null;
    try {
      configData = await raw(tw.configAddress());
    } catch (e) {
      throw new Error(`cannot reach the RPC at ${cluster.rpcUrl} (${cluster.name}): ${(e as Error).message}`);
    }
    if (!configData) {
      throw new Error(`no Tessera config on ${cluster.name} (program ${tw.programId()}): deploy and initialise it first`);
    }
    const config = flat(decodeConfig(parseBase64RpcAccount(address(tw.configAddress()), fakeInfo(configData)) as never).data as ConfigAccount);
    const mintData = await raw(config.mint);
    if (!mintData) throw new Error(`the config's mint ${config.mint} is not on ${cluster.name}`);
    return new Chain(cluster, rpc, subs, new tw.Network(configData, mintData), config);
  }

  /** The raw data of an account, or null. */
  async raw(a: string): Promise<Uint8Array | null> {
    const { value } = await this.rpc.getAccountInfo(address(a), { encoding: 'base64' }).send();
    return value ? Buffer64.decode(value.data[0]) : null;
  }

  private async all<T extends { core: object }>(disc: Uint8Array, decode: (a: never) => { data: T }, extra: object[] = []): Promise<Decoded<Flat<T>>[]> {
    const res = await this.rpc
      .getProgramAccounts(TESSERA_PROGRAM_ADDRESS, {
        encoding: 'base64',
        filters: [
          { memcmp: { offset: 0n, encoding: 'base58', bytes: getBase58Decoder().decode(disc) as Base58EncodedBytes } },
          ...(extra as never[]),
        ],
      })
      .send();
    return res.map(({ pubkey, account }) => ({ address: pubkey, data: flat(decode(parseBase64RpcAccount(pubkey, account) as never).data) }));
  }

  jobs(): Promise<Decoded<Job>[]> {
    return this.all<JobAccount>(JOB_DISCRIMINATOR as Uint8Array, decodeJob as never);
  }
  nodes(): Promise<Decoded<Node>[]> {
    return this.all<NodeAccount>(NODE_DISCRIMINATOR as Uint8Array, decodeNode as never);
  }
  /** The claims of `job` (its address is the claim's second field, after the discriminator). */
  claimsOf(job: Address): Promise<Decoded<Claim>[]> {
    return this.all<ClaimAccount>(CLAIM_DISCRIMINATOR as Uint8Array, decodeClaim as never, [
      { memcmp: { offset: 8n, encoding: 'base58', bytes: job } },
    ]);
  }
  async job(a: Address): Promise<Job | null> {
    const data = await this.raw(a);
    return data ? flat(decodeJob(parseBase64RpcAccount(a, fakeInfo(data)) as never).data as JobAccount) : null;
  }
  async node(a: Address): Promise<Node | null> {
    const data = await this.raw(a);
    return data ? flat(decodeNode(parseBase64RpcAccount(a, fakeInfo(data)) as never).data as NodeAccount) : null;
  }
  /** Token balance of `owner` (base units), 0 without a token account. */
  async balance(owner: string): Promise<bigint> {
    try {
      const { value } = await this.rpc.getTokenAccountBalance(address(this.network.tokenAccount(owner))).send();
      return BigInt(value.amount);
    } catch {
      return 0n;
    }
  }
  tokens(units: bigint): string {
    return this.network.formatAmount(units.toString());
  }

  /** Calls `onChange` with the account's new data whenever it changes (until `signal`). */
  async watch(a: Address, signal: AbortSignal, onChange: (data: Uint8Array | null, slot: bigint) => void) {
    const stream = await this.subs
      .accountNotifications(a, { encoding: 'base64', commitment: 'confirmed' })
      .subscribe({ abortSignal: signal });
    for await (const n of stream) {
      onChange(n.value ? Buffer64.decode(n.value.data[0]) : null, n.context.slot);
    }
  }

  /** Calls `onChange` whenever any of the program's accounts changes (until `signal`). */
  async watchProgram(signal: AbortSignal, onChange: () => void) {
    const stream = await this.subs
      .programNotifications(TESSERA_PROGRAM_ADDRESS, { encoding: 'base64', commitment: 'confirmed' })
      .subscribe({ abortSignal: signal });
    for await (const _ of stream) onChange();
  }

  /** Signs `ixs` with the wallet and sends them; resolves when confirmed, with the signature.
   *  A program error is thrown with the program's own message. */
  async send(signer: TransactionModifyingSigner, ixs: Instruction[]): Promise<string> {
    const { value: latest } = await this.rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
    const msg = pipe(
      createTransactionMessage({ version: 0 }),
      (m) => setTransactionMessageFeePayerSigner(signer, m),
      (m) => setTransactionMessageLifetimeUsingBlockhash(latest, m),
      (m) => appendTransactionMessageInstructions(ixs, m),
    );
    let tx;
    try {
      tx = await signTransactionMessageWithSigners(msg);
    } catch (e) {
      throw new Error(`the wallet did not sign: ${(e as Error).message}`);
    }
    const sig = getSignatureFromTransaction(tx);
    try {
      await this.rpc.sendTransaction(getBase64EncodedWireTransaction(tx), { encoding: 'base64', preflightCommitment: 'confirmed' }).send();
    } catch (e) {
      throw new Error(programError(e) ?? `the transaction was refused: ${(e as Error).message}`);
    }
    for (let i = 0; i < 120; i++) {
      const { value } = await this.rpc.getSignatureStatuses([sig]).send();
      const s = value[0];
      if (s?.err) throw new Error(programError({ context: { err: s.err } }) ?? `the transaction failed: ${JSON.stringify(s.err, big)}`);
      if (s && (s.confirmationStatus === 'confirmed' || s.confirmationStatus === 'finalized')) return sig;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`transaction ${sig} was not confirmed in 30 s`);
  }
}

const big = (_: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v);

/** The program's message for a failed transaction (custom error codes 6000…), if it is one. */
export function programError(e: unknown): string | null {
  const text = JSON.stringify(e, big) ?? '';
  const m = /"Custom":\s*(\d+)/.exec(text) ?? /custom program error: 0x([0-9a-f]+)/i.exec(String((e as Error)?.message ?? ''));
  if (!m) {
    const logs = /insufficient funds|insufficient lamports/i.exec(text);
    return logs ? 'not enough tokens or SOL in the wallet for this' : null;
  }
  const code = m[0].includes('0x') ? parseInt(m[1], 16) : Number(m[1]);
  if (code < 6000) {
    return code === 1 ? 'not enough tokens in the wallet for this (token program: insufficient funds)' : `token program error ${code}`;
  }
  const msg = getTesseraErrorMessage(code as TesseraError);
  return msg ? `${msg} (program error ${code})` : `program error ${code}`;
}

function fakeInfo(data: Uint8Array) {
  return { data: [Buffer64.encode(data), 'base64'], executable: false, lamports: 0n, owner: TESSERA_PROGRAM_ADDRESS, space: BigInt(data.length) } as never;
}

/** base64 without Node's Buffer. */
export const Buffer64 = {
  decode(s: string): Uint8Array {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  },
  encode(b: Uint8Array): string {
    let s = '';
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
    return btoa(s);
  },
};
