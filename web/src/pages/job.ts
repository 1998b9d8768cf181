// Job: the state machine live (claims, commits, reveals, payouts), cancel and close with the
// wallet, and the result — downloaded, checked against the on-chain hash in this page (Rust,
// WebAssembly), and only then shown: a frame from its tiles, embeddings with a search box,
// a matrix as a download. A manifest of many jobs (tiles, frames, shards) shows as one job.
import { html, type TemplateResult } from 'lit-html';
import { address, type Address } from '@solana/kit';
import { app, attempt, needChain, needWallet, say, short, show } from '../app';
import { BlobStore, hex } from '../blobs';
import type { Chain, Claim, Decoded, Job } from '../chain';
import { JobState } from '../generated';
import { tw } from '../wasm';
import { claimStateName, kernelName, stateName } from './names';
import { loadManifest, type Manifest } from './manifest';
import { toKit } from './kit';

const SETTLED = [JobState.Completed, JobState.Cancelled, JobState.Expired, JobState.Failed];

/** What the page verified, by job address: the browser test reads these. */
const verified: Record<string, string> = ((window as unknown as { tesseraVerified: Record<string, string> }).tesseraVerified ??= {});

interface Part {
  address: Address;
  job: Job | null;
  claims: Decoded<Claim>[];
  /** When this page saw the job's state change: the chain's slot and the page's clock. */
  seen: { state: number; slot: bigint; at: number }[];
  result?: { ok: true; shape: Shape; rgba?: Uint8Array; emb?: Float32Array; bytes?: Uint8Array } | { ok: false; error: string };
}

interface Shape {
  kernel: string;
  kind: string;
  width: number;
  height: number;
  rows: number;
  cols: number;
  hash: string;
}

export function jobPage(arg: string, signal: AbortSignal) {
  let a: Address;
  try {
    a = address(arg);
  } catch {
    return show(html`<h1>Job</h1><p class="error">${arg || 'no job'} is not a job address</p>`);
  }
  return follow({ id: '', title: `Job ${short(a)}`, jobs: [{ address: a }] }, signal);
}

export function manifestPage(id: string, signal: AbortSignal) {
  const m = loadManifest(id);
  if (!m) return show(html`<h1>Jobs</h1><p class="error">no manifest ${id} in this browser</p>`);
  return follow(m, signal);
}

async function follow(m: Manifest, signal: AbortSignal) {
  let chain: Chain;
  try {
    chain = needChain();
  } catch (e) {
    return show(html`<h1>${m.title}</h1><p class="error">${(e as Error).message}</p>`);
  }
  const parts: Part[] = m.jobs.map((j) => ({ address: j.address, job: null, claims: [], seen: [] }));
  const draw = () => !signal.aborted && show(view(m, parts));
  const load = async (p: Part, slot: bigint) => {
    const job = await chain.job(p.address);
    if (job && p.seen.at(-1)?.state !== job.state) p.seen.push({ state: job.state, slot, at: performance.now() });
    p.job = job;
    p.claims = job ? await chain.claimsOf(p.address) : p.claims;
    if (job?.hasWinner && !p.result) p.result = await fetchResult(chain, p);
    draw();
  };
  draw();
  await Promise.all(parts.map((p) => load(p, 0n).catch((e) => say((e as Error).message))));
  for (const p of parts) {
    chain.watch(p.address, signal, (_, slot) => void load(p, slot).catch((e) => say((e as Error).message))).catch(() => {});
  }
}

async function fetchResult(chain: Chain, p: Part): Promise<Part['result']> {
  const job = p.job!;
  const want = hex(job.winningHash);
  const uris = [job.resultUri, ...p.claims.filter((c) => hex(c.data.resultHash) === want).map((c) => c.data.outputUri), app.blobs.uri(want)].filter(
    (u, i, all) => u && all.indexOf(u) === i,
  );
  // Every known copy is tried: one that hashes to the chain's result is shown; a copy that
  // does not (a broken or hostile mirror) is never shown, and said if no copy is good.
  let lastError = 'no copy of the result is known yet';
  let mismatch: string | null = null;
  for (const uri of uris) {
    try {
      // fetched as bytes: the check below, not the transport, decides what is shown
      const res = await fetch(uri);
      if (!res.ok) throw new Error(`${uri}: ${res.status}`);
      const result = new Uint8Array(await res.arrayBuffer());
      const input = await BlobStore.get(job.inputUri, hex(job.specHash));
      const jobData = await chain.raw(p.address);
      if (!jobData) throw new Error('the job account was closed');
      const v = tw.verifyResult(jobData, result, input);
      const shape = v.shape() as Shape;
      const out: Part['result'] = { ok: true, shape };
      if (shape.kind === 'image') out.rgba = v.rgba();
      else if (shape.kind === 'embeddings') out.emb = v.embeddings();
      else out.bytes = v.bytes();
      v.free();
      verified[p.address] = shape.hash;
      return out;
    } catch (e) {
      lastError = (e as Error).message;
      if (/does not match the on-chain hash/.test(lastError)) mismatch = `${uri}: ${lastError}`;
    }
  }
  return { ok: false, error: mismatch ?? lastError };
}

function view(m: Manifest, parts: Part[]): TemplateResult {
  const chain = app.chain!;
  const first = parts[0]?.job;
  const states = parts.map((p) => (p.job ? stateName(p.job.state) : '…'));
  const done = parts.filter((p) => p.job && SETTLED.includes(p.job.state)).length;
  const mine = app.wallet && first && first.client === app.wallet.account.address;
  return html`
    <h1>${m.title}</h1>
    ${parts.length > 1 ? html`<p class="muted" id="progress">${done} of ${parts.length} parts settled</p>` : ''}
    ${first
      ? html`<dl class="facts">
          <dt>kernel</dt><dd>${kernelName(first.kernelId)} v${first.specVersion}</dd>
          <dt>state</dt><dd id="state" data-state=${states.join(',')}>${[...new Set(states)].join(', ')}</dd>
          <dt>price</dt><dd>${chain.tokens(first.pricePerReplica)} per replica × ${first.replicas}</dd>
          <dt>escrow</dt><dd>${chain.tokens(parts.reduce((s, p) => s + (p.job?.deposit ?? 0n), 0n))} deposited, ${chain.tokens(parts.reduce((s, p) => s + (p.job?.paidOut ?? 0n), 0n))} paid, ${chain.tokens(parts.reduce((s, p) => s + (p.job?.refunded ?? 0n), 0n))} refunded</dd>
          <dt>slashes</dt><dd id="slashes">${chain.tokens(parts.reduce((s, p) => s + (p.job?.slashedToClient ?? 0n), 0n))} of slashed collateral and stake credited to the client, ${chain.tokens(parts.reduce((s, p) => s + (p.job?.challengerPool ?? 0n), 0n))} held for a successful challenger</dd>
          <dt>challenges</dt><dd id="audits">${parts.reduce((n, p) => n + (p.job?.openChallenges ?? 0), 0)} open${parts.some((p) => p.job?.auditUndecided) ? ' — an audit ended undecided' : ''}; round ${Math.max(...parts.map((p) => p.job?.round ?? 0))}</dd>
          <dt>client</dt><dd class="mono">${first.client}</dd>
        </dl>`
      : html`<p class="muted">Reading the job…</p>`}
    ${mine ? actions(parts) : ''}
    ${resultView(m, parts)}
    <h2>Parts and claims</h2>
    <table id="claims">
      <thead><tr><th>job</th><th>state</th><th>node</th><th>claim</th><th>result</th><th class="num">collateral</th></tr></thead>
      <tbody>
        ${parts.flatMap((p) =>
          (p.claims.length ? p.claims : [null]).map(
            (c) => html`<tr>
              <td><a href="#/job/${p.address}" class="mono">${short(p.address)}</a></td>
              <td>${p.job ? html`<span class="state s${p.job.state}">${stateName(p.job.state)}</span>` : p.seen.length ? 'closed' : '…'}</td>
              <td class="mono">${c ? short(c.data.node) : ''}</td>
              <td>${c ? claimStateName(c.data.state) : html`<span class="muted">${p.job && SETTLED.includes(p.job.state) ? 'claims settled and closed' : 'no claim yet'}</span>`}</td>
              <td class="mono">${c && c.data.state >= 2 ? hex(c.data.resultHash).slice(0, 12) : ''}</td>
              <td class="num">${c ? chain.tokens(c.data.collateral) : ''}</td>
            </tr>`,
          ),
        )}
      </tbody>
    </table>
    <p class="muted small" id="seen">${parts.map((p) => p.seen.map((s) => `${stateName(s.state)}@${s.slot}`).join(' → ')).join(' | ')}</p>`;
}

function actions(parts: Part[]) {
  const cancellable = parts.filter((p) => p.job && p.job.state === JobState.Open && p.job.activeClaims === 0 && p.job.unsettledClaims === 0);
  // the program closes a job only once every claim is settled (workers settle right after the
  // reveal; a button shown before that would only fail with UnsettledClaims)
  const closable = parts.filter((p) => p.job && SETTLED.includes(p.job.state) && p.job.unsettledClaims === 0);
  const run = (what: string, ps: Part[], build: (c: string, j: string) => unknown) =>
    attempt(async () => {
      const chain = needChain();
      const w = needWallet();
      for (const p of ps) await chain.send(w.signer, [toKit(build(w.account.address, p.address))]);
      // the page follows the accounts: the change arrives over the websocket
      say(`${what}: ${ps.length} job${ps.length > 1 ? 's' : ''} done`, 'ok');
    });
  return html`<p class="actions">
    ${cancellable.length ? html`<button id="cancel" @click=${() => run('cancelled, escrow refunded', cancellable, (c, j) => app.chain!.network.cancelJob(c, j))}>Cancel (${cancellable.length})</button>` : ''}
    ${closable.length ? html`<button id="close" @click=${() => run('closed', closable, (c, j) => app.chain!.network.closeJob(c, j))}>Close and refund (${closable.length})</button>` : ''}
  </p>`;
}

function resultView(m: Manifest, parts: Part[]) {
  const results = parts.map((p) => p.result);
  const bad = results.find((r) => r && !r.ok) as { error: string } | undefined;
  if (bad) return html`<div class="mismatch" id="result-error"><b>Result not shown.</b> ${bad.error}</div>`;
  if (!results.every((r) => r?.ok)) return html`<p class="muted">The result appears here once the replicas agree and the page has checked it.</p>`;
  const ok = results as { ok: true; shape: Shape; rgba?: Uint8Array; emb?: Float32Array; bytes?: Uint8Array }[];
  const badge = html`<p class="verified" id="verified">✔ ${ok.length} result${ok.length > 1 ? 's' : ''} checked in this page against the on-chain hash${ok.length === 1 ? html` <span class="mono">${ok[0].shape.hash.slice(0, 16)}…</span>` : ''}</p>`;
  const kind = ok[0].shape.kind;
  if (kind === 'image') {
    const width = m.width ?? ok[0].shape.width;
    const height = m.height ?? ok[0].shape.height;
    queueMicrotask(() => {
      const canvas = document.getElementById('frame') as HTMLCanvasElement | null;
      const g = canvas?.getContext('2d');
      if (!g) return;
      ok.forEach((r, i) => {
        const t = m.jobs[i].tile ?? { x: 0, y: 0 };
        g.putImageData(new ImageData(new Uint8ClampedArray(r.rgba!), r.shape.width, r.shape.height), t.x, t.y);
      });
    });
    return html`${badge}<canvas id="frame" width=${width} height=${height}></canvas>`;
  }
  if (kind === 'embeddings') return html`${badge}${searchBox(m, ok)}`;
  const blob = new Blob(ok.map((r) => r.bytes! as BlobPart));
  return html`${badge}<p><a id="download" download="result-${ok[0].shape.kernel}.bin" href=${URL.createObjectURL(blob)}>Download the ${ok[0].shape.rows}×${ok[0].shape.cols} matrix</a> (row-major, little-endian)</p>`;
}

function searchBox(m: Manifest, ok: { shape: Shape; emb?: Float32Array }[]) {
  const dim = ok[0].shape.cols;
  const rows = new Float32Array(ok.reduce((n, r) => n + r.emb!.length, 0));
  let at = 0;
  for (const r of ok) {
    rows.set(r.emb!, at);
    at += r.emb!.length;
  }
  const texts = m.texts ?? [];
  const search = (ev: Event) =>
    attempt(async () => {
      ev.preventDefault();
      const q = (document.getElementById('query') as HTMLInputElement).value.trim();
      if (!q) throw new Error('type something to search for');
      if (!m.model) throw new Error('this manifest names no model to embed the query with');
      const model = await BlobStore.get(m.model.uri, m.model.hash);
      const input = tw.queryInput(model, m.model.uri, q);
      const query = tw.embedHere(model, input);
      const hits = tw.nearest(query, rows, dim, 5) as { index: number; score: number }[];
      const out = document.getElementById('hits')!;
      out.innerHTML = '';
      for (const h of hits) {
        const li = document.createElement('li');
        li.textContent = `${h.score.toFixed(3)}  ${texts[h.index] ?? `#${h.index}`}`;
        out.appendChild(li);
      }
    });
  return html`<p>${ok.reduce((n, r) => n + r.shape.rows, 0)} embeddings of ${dim} values.</p>
    <form id="search" @submit=${search}>
      <input id="query" placeholder="Search the corpus (embedded here by the same kernel)" />
      <button class="primary">Search</button>
    </form>
    <ol id="hits"></ol>`;
}
