// Operator: the connected wallet's node — stake, what is locked as collateral, claims in
// flight, earnings, reputation — and stake, request unstake, withdraw with the wallet.
import { html } from 'lit-html';
import { address } from '@solana/kit';
import { attempt, needChain, needWallet, say, show } from '../app';
import { tw } from '../wasm';
import { toKit } from './kit';

export async function operatorPage(signal: AbortSignal) {
  let chain, wallet;
  try {
    chain = needChain();
    wallet = needWallet();
  } catch (e) {
    return show(html`<h1>Operator</h1><p class="error">${(e as Error).message}</p>`);
  }
  const me = wallet.account.address;
  const nodeAddr = address(tw.nodeAddress(me));
  const draw = async () => {
    const [node, balance] = await Promise.all([chain.node(nodeAddr), chain.balance(me)]);
    if (signal.aborted) return;
    const t = (u: bigint) => chain.tokens(u);
    const act = (what: string, build: () => unknown) =>
      attempt(async () => {
        await chain.send(wallet.signer, [toKit(build())]);
        say(what, 'ok');
        await draw();
      });
    const amount = () => (document.getElementById('amount') as HTMLInputElement).value.trim();
    show(html`
      <h1>Operator</h1>
      <p class="muted">Wallet <span class="mono">${me}</span> holds ${t(balance)} tokens.</p>
      ${node
        ? html`<dl class="facts" id="node">
            <dt>node</dt><dd class="mono">${nodeAddr}</dd>
            <dt>hardware</dt><dd>${node.hardware.gpuModel || 'CPU'} ${node.hardware.vramMb ? `${node.hardware.vramMb} MiB` : ''}</dd>
            <dt>stake</dt><dd id="stake">${t(node.stake)}</dd>
            <dt>locked as collateral</dt><dd>${t(node.locked)}</dd>
            <dt>unbonding</dt><dd id="unbonding">${t(node.unbonding)}${node.unbonding ? ` since ${new Date(Number(node.unbondingSince) * 1000).toLocaleString()}` : ''}</dd>
            <dt>claims in flight</dt><dd>${node.openClaims} open, ${node.unsettledClaims} unsettled</dd>
            <dt>earned</dt><dd>${t(node.reputation.earnedTotal)} (slashed ${t(node.reputation.slashedTotal)})</dd>
            <dt>reputation</dt><dd>${(node.reputation.scoreBps / 100).toFixed(1)} % — ${node.reputation.completed} completed, ${node.reputation.disagreed} disagreed, ${node.reputation.timedOut} timed out</dd>
          </dl>
          <p class="actions">
            <input id="amount" placeholder="tokens" size="10" />
            <button id="do-stake" class="primary" @click=${() => act(`staked ${amount()}`, () => chain.network.stake(me, amount()))}>Stake</button>
            <button id="do-unstake" @click=${() => act(`unbonding ${amount()}`, () => chain.network.requestUnstake(me, amount()))}>Request unstake</button>
            <button id="do-withdraw" @click=${() => act('withdrawn', () => chain.network.withdrawStake(me))}>Withdraw unbonded</button>
          </p>`
        : html`<p id="no-node">This wallet runs no node on ${chain.cluster.name}. Register one with the worker: <code>tessera-worker init &amp;&amp; tessera-worker register</code> (docs/OPERATOR.md).</p>`}`);
  };
  await draw().catch((e) => say((e as Error).message));
  chain.watch(nodeAddr, signal, () => void draw().catch(() => {})).catch(() => {});
}
