// Network: the nodes (stake, reputation, hardware, open claims), the market (open jobs and
// their prices) and recent jobs, refreshed live as the program's accounts change.
import { html } from 'lit-html';
import { ago, app, link, needChain, say, short, show } from '../app';
import type { Decoded, Job, Node } from '../chain';
import { JobState } from '../generated';
import { kernelName, stateName } from './names';

export async function networkPage(signal: AbortSignal) {
  let chain;
  try {
    chain = needChain();
  } catch (e) {
    return show(html`<h1>Network</h1><p class="error">${(e as Error).message}</p>`);
  }
  const draw = async () => {
    try {
      const [nodes, jobs] = await Promise.all([chain.nodes(), chain.jobs()]);
      if (!signal.aborted) show(view(nodes, jobs));
    } catch (e) {
      say(`reading the network: ${(e as Error).message}`);
    }
  };
  await draw();
  let pending = false;
  chain.watchProgram(signal, () => {
    if (pending) return;
    pending = true;
    setTimeout(() => ((pending = false), draw()), 300);
  }).catch(() => {});
}

function view(nodes: Decoded<Node>[], jobs: Decoded<Job>[]) {
  const chain = app.chain!;
  const t = (u: bigint) => chain.tokens(u);
  const open = jobs.filter((j) => j.data.state === JobState.Open || j.data.state === JobState.Bidding);
  const recent = [...jobs].sort((a, b) => Number(b.data.createdAt - a.data.createdAt)).slice(0, 25);
  const staked = nodes.reduce((s, n) => s + n.data.stake, 0n);
  return html`
    <h1>Network <span class="muted small">${chain.cluster.name}</span></h1>
    <section class="cards">
      <div class="card"><b>${nodes.length}</b><span>nodes</span></div>
      <div class="card"><b>${t(staked)}</b><span>tokens staked</span></div>
      <div class="card"><b>${open.length}</b><span>open jobs</span></div>
      <div class="card"><b>${jobs.length}</b><span>jobs on chain</span></div>
    </section>
    <h2>Nodes</h2>
    <table id="nodes">
      <thead><tr><th>operator</th><th>hardware</th><th class="num">stake</th><th class="num">reputation</th><th class="num">completed</th><th class="num">open claims</th><th>last active</th></tr></thead>
      <tbody>
        ${nodes.map(
          (n) => html`<tr>
            <td class="mono">${short(n.data.operator)}</td>
            <td>${n.data.hardware.gpuModel || 'CPU'}${n.data.hardware.vramMb ? html` <span class="muted">${Math.round(n.data.hardware.vramMb / 1024)} GiB</span>` : ''}</td>
            <td class="num">${t(n.data.stake)}</td>
            <td class="num">${(n.data.reputation.scoreBps / 100).toFixed(1)} %</td>
            <td class="num">${n.data.reputation.completed}</td>
            <td class="num">${n.data.openClaims}</td>
            <td>${ago(n.data.lastActive)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    <h2>Market</h2>
    ${open.length === 0
      ? html`<p class="muted">No open jobs right now.</p>`
      : html`<table id="market">
          <thead><tr><th>job</th><th>kernel</th><th class="num">price / replica</th><th class="num">replicas</th><th>market</th><th>deadline</th></tr></thead>
          <tbody>${open.map((j) => html`<tr><td>${link(j.address)}</td><td>${kernelName(j.data.kernelId)}</td><td class="num">${t(j.data.pricePerReplica)}</td><td class="num">${j.data.replicas}</td><td>${j.data.market === 0 ? 'fixed' : 'auction'}</td><td>${new Date(Number(j.data.deadline) * 1000).toLocaleTimeString()}</td></tr>`)}</tbody>
        </table>`}
    <h2>Recent jobs</h2>
    <table id="jobs">
      <thead><tr><th>job</th><th>kernel</th><th>state</th><th class="num">escrow</th><th>client</th><th>posted</th></tr></thead>
      <tbody>${recent.map((j) => html`<tr><td>${link(j.address)}</td><td>${kernelName(j.data.kernelId)}</td><td><span class="state s${j.data.state}">${stateName(j.data.state)}</span></td><td class="num">${t(j.data.deposit)}</td><td class="mono">${short(j.data.client)}</td><td>${ago(j.data.createdAt)}</td></tr>`)}</tbody>
    </table>`;
}
