// The page: a cluster selector, a wallet button, and four pages by URL hash
// (#/network, #/post, #/job/<address> or #/jobs/<manifest>, #/operator).
import './style.css';
import { html } from 'lit-html';
import { app, attempt, say, show } from './app';
import { Chain, type ClusterInfo } from './chain';
import { connect, solanaWallets } from './wallet';
import { tw, wasmReady } from './wasm';
import { networkPage } from './pages/network';
import { postPage } from './pages/post';
import { jobPage, manifestPage } from './pages/job';
import { operatorPage } from './pages/operator';
import type { Wallet } from '@wallet-standard/base';

let pageAbort = new AbortController();

function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  const signal = pageAbort.signal;
  const [, page = 'network', arg = ''] = location.hash.split('/');
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', (a as HTMLElement).dataset.page === page));
  say(app.chainError);
  switch (page) {
    case 'post':
      return postPage(signal);
    case 'job':
      return jobPage(arg, signal);
    case 'jobs':
      return manifestPage(arg, signal);
    case 'operator':
      return operatorPage(signal);
    default:
      return networkPage(signal);
  }
}

async function selectCluster(c: ClusterInfo) {
  app.chain = null;
  app.chainError = null;
  localStorage.setItem('tessera.cluster', c.name);
  try {
    app.chain = await Chain.open(c);
  } catch (e) {
    app.chainError = (e as Error).message;
    say(app.chainError);
  }
  if (app.wallet && app.wallet.chain !== `solana:${c.name}`) {
    app.wallet = null;
    renderWallet();
  }
  route();
}

let wallets: Wallet[] = [];

function renderWallet() {
  const b = document.getElementById('wallet') as HTMLButtonElement;
  b.textContent = app.wallet ? `${app.wallet.wallet.name}: ${app.wallet.account.address.slice(0, 4)}…${app.wallet.account.address.slice(-4)}` : 'Connect wallet';
  b.classList.toggle('connected', !!app.wallet);
}

async function onWalletClick() {
  if (app.wallet) {
    app.wallet = null;
    renderWallet();
    return route();
  }
  await attempt(async () => {
    if (wallets.length === 0) {
      throw new Error('no Solana wallet found in this browser: install Phantom, Solflare or Backpack (any Wallet Standard wallet) and reload');
    }
    const name = app.chain?.cluster.name ?? localStorage.getItem('tessera.cluster') ?? 'localnet';
    const w = wallets.length === 1 ? wallets[0] : (wallets.find((x) => x.name === prompt(`Wallet: ${wallets.map((x) => x.name).join(', ')}`)) ?? wallets[0]);
    app.wallet = await connect(w, `solana:${name}` as `${string}:${string}`);
    renderWallet();
    route();
  });
}

async function main() {
  await wasmReady;
  document.getElementById('app')!.replaceChildren();
  app.refresh = route;
  const clusters = tw.clusters() as ClusterInfo[];
  const sel = document.getElementById('cluster') as HTMLSelectElement;
  const custom = new URLSearchParams(location.search).get('rpc');
  if (custom) {
    clusters.unshift({ name: 'localnet', rpcUrl: custom, wsUrl: custom.replace(/^http/, 'ws').replace(/:(\d+)\/?$/, (_, p) => `:${Number(p) + 1}`), builtFor: true });
  }
  sel.innerHTML = clusters.map((c, i) => `<option value="${i}">${c.name}${c.builtFor ? '' : ' (other build)'}</option>`).join('');
  const saved = clusters.findIndex((c) => c.name === localStorage.getItem('tessera.cluster'));
  sel.value = String(custom ? 0 : Math.max(0, saved));
  sel.onchange = () => selectCluster(clusters[Number(sel.value)]);
  wallets = solanaWallets((ws) => (wallets = ws));
  document.getElementById('wallet')!.onclick = onWalletClick;
  document.getElementById('footer')!.textContent = `${tw.version()} · results are checked in this page against the chain before they are shown`;
  window.addEventListener('hashchange', route);
  await selectCluster(clusters[Number(sel.value)]);
}

main().catch((e) => show(html`<p class="error">${(e as Error).message}</p>`));
