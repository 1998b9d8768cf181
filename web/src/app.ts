// What every page shares: the chosen cluster and its chain, the connected wallet, the blob
// store, and the one message line where every failure is said once, plainly.
import { html, render, type TemplateResult } from 'lit-html';
import type { Chain } from './chain';
import type { Connected } from './wallet';
import { BlobStore } from './blobs';

export interface App {
  chain: Chain | null;
  chainError: string | null;
  wallet: Connected | null;
  blobs: BlobStore;
  /** Re-renders the current page. */
  refresh(): void;
}

export const app: App = {
  chain: null,
  chainError: null,
  wallet: null,
  blobs: new BlobStore(localStorage.getItem('tessera.blobs') ?? location.origin),
  refresh: () => {},
};

/** Shows `text` as an error (or a notice) in the message line; `null` hides it. */
export function say(text: string | null, kind: 'error' | 'ok' = 'error') {
  const el = document.getElementById('message')!;
  el.hidden = text === null;
  el.className = kind;
  el.textContent = text ?? '';
}

/** Runs `f`, saying its error (and returning undefined) instead of throwing. */
export async function attempt<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    say(null);
    return await f();
  } catch (e) {
    say(e instanceof Error ? e.message : String(e));
    return undefined;
  }
}

/** The connected wallet, or a clear error. */
export function needWallet(): Connected {
  if (!app.wallet) throw new Error('connect a wallet first (top right)');
  return app.wallet;
}

/** The chain, or the reason there is none. */
export function needChain(): Chain {
  if (!app.chain) throw new Error(app.chainError ?? 'no cluster selected');
  return app.chain;
}

export function show(t: TemplateResult) {
  render(t, document.getElementById('app')!);
}

export const short = (a: string) => `${a.slice(0, 4)}…${a.slice(-4)}`;
export const link = (a: string) => html`<a href="#/job/${a}" class="mono">${short(a)}</a>`;
export const ago = (unix: bigint) => {
  const s = Math.max(0, Math.floor(Date.now() / 1000) - Number(unix));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};
