// Wallets through Wallet Standard (Phantom, Solflare, Backpack and any other that registers):
// discovery, connect, and a @solana/kit signer that asks the wallet to sign.
import {
  address,
  getCompiledTransactionMessageDecoder,
  getTransactionCodec,
  getTransactionLifetimeConstraintFromCompiledTransactionMessage,
  type Transaction,
  type TransactionModifyingSigner,
} from '@solana/kit';
import { getWallets } from '@wallet-standard/app';
import type { IdentifierString, Wallet, WalletAccount } from '@wallet-standard/base';
import { StandardConnect, type StandardConnectFeature } from '@wallet-standard/features';
import {
  SolanaSignMessage,
  SolanaSignTransaction,
  type SolanaSignMessageFeature,
  type SolanaSignTransactionFeature,
} from '@solana/wallet-standard-features';

export interface Connected {
  wallet: Wallet;
  account: WalletAccount;
  chain: IdentifierString;
  signer: TransactionModifyingSigner;
  signMessage(message: Uint8Array): Promise<Uint8Array>;
}

/** Wallets that can sign Solana transactions, as they register (now and later). */
export function solanaWallets(onChange: (ws: Wallet[]) => void): Wallet[] {
  const api = getWallets();
  const usable = () => api.get().filter((w) => SolanaSignTransaction in w.features && StandardConnect in w.features);
  api.on('register', () => onChange(usable()));
  api.on('unregister', () => onChange(usable()));
  return usable();
}

/** Connects `wallet` for `chain` (`solana:localnet`, `solana:devnet`, `solana:mainnet`). */
export async function connect(wallet: Wallet, chain: IdentifierString): Promise<Connected> {
  if (!wallet.chains.includes(chain)) {
    throw new Error(`${wallet.name} does not work on ${chain.replace('solana:', '')}: pick another cluster or wallet`);
  }
  const { accounts } = await (wallet.features as StandardConnectFeature)[StandardConnect].connect();
  const account = accounts.find((a) => a.chains.includes(chain)) ?? accounts[0];
  if (!account) throw new Error(`${wallet.name} shared no account`);
  const sign = (wallet.features as SolanaSignTransactionFeature)[SolanaSignTransaction];
  const codec = getTransactionCodec();
  const signer: TransactionModifyingSigner = {
    address: address(account.address),
    async modifyAndSignTransactions(txs, config) {
      config?.abortSignal?.throwIfAborted();
      const outs = await sign.signTransaction(
        ...txs.map((tx) => ({ account, chain, transaction: codec.encode(tx) as Uint8Array })),
      );
      return Promise.all(
        outs.map(async ({ signedTransaction }, i) => {
          const signed = codec.decode(signedTransaction);
          const orig = txs[i] as Transaction & { lifetimeConstraint?: unknown };
          const lifetimeConstraint =
            orig.lifetimeConstraint ??
            (await getTransactionLifetimeConstraintFromCompiledTransactionMessage(
              getCompiledTransactionMessageDecoder().decode(signed.messageBytes),
            ));
          return Object.freeze({ ...signed, lifetimeConstraint });
        }),
      ) as never;
    },
  };
  const signMessage = async (message: Uint8Array) => {
    const f = (wallet.features as Partial<SolanaSignMessageFeature>)[SolanaSignMessage];
    if (!f) throw new Error(`${wallet.name} cannot sign messages, which a blob upload needs`);
    const [out] = await f.signMessage({ account, message });
    return out.signature;
  };
  return { wallet, account, chain, signer, signMessage };
}
