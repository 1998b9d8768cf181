// The web page in a real Chromium (Debian's, driven by playwright-core), against the local
// validator and real workers that tests/tests/web.rs starts. It asks that test for what only
// it can do by printing `NEED <what>` and reading one line back; at the end it prints
// `RESULT <json>` with what the page verified, for the Rust side to hold against the chain
// and the CLI. Screenshots of every page go to docs/web/.
//   node web/tests/e2e.mjs <config.json>
import { readFileSync, mkdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const here = dirname(fileURLToPath(import.meta.url));
const walletJs = readFileSync(join(here, 'test-wallet.js'), 'utf8');
const shots = cfg.screenshots;
mkdirSync(shots, { recursive: true });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const need = async (what) => {
  console.log(`NEED ${what}`);
  const { value } = await lines.next();
  if (value?.trim() !== 'ok') throw new Error(`the test answered ${value} to ${what}`);
};
const t0 = Date.now();
const log = (s) => console.error(`[e2e ${((Date.now() - t0) / 1000).toFixed(1)} s] ${s}`);
const rpc = async (method, params = []) => {
  const r = await fetch(cfg.rpc, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  return (await r.json()).result;
};

const browser = await chromium.launch({
  executablePath: cfg.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const result = { failures: {} };

async function open(wallet) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  if (wallet) await ctx.addInitScript(`(${walletJs})(${JSON.stringify(wallet)})`);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => log(`page error: ${e.message}`));
  await page.goto(cfg.page);
  await page.waitForSelector('#nodes, #app .error', { timeout: 30000 });
  return page;
}
const message = async (page) => {
  await page.waitForSelector('#message.error:not([hidden])', { timeout: 60000 });
  return (await page.textContent('#message')).trim();
};
const connect = async (page) => {
  await page.click('#wallet');
  await page.waitForSelector('#wallet.connected');
};
async function post(page, kind, fill) {
  await page.goto(`${cfg.page}#/post`);
  await page.waitForSelector('#post');
  await page.check(`input[name=kind][value=${kind}]`);
  await fill(page);
  await page.click('#review');
}
const sign = async (page) => {
  await page.waitForSelector('#sign');
  await page.click('#sign');
};

try {
  // -------- no wallet: one clear message
  let page = await open(null);
  await page.click('#wallet');
  result.failures.noWallet = await message(page);
  log(`no wallet: ${result.failures.noWallet}`);
  await page.context().close();

  // -------- the client connects; the page shows the network
  page = await open(cfg.client);
  await connect(page);
  await page.screenshot({ path: join(shots, 'network.png'), fullPage: true });

  // -------- a scene the importer refuses: its named error
  await post(page, 'render', (p) => p.setInputFiles('#scene', { name: 'broken.glb', mimeType: 'model/gltf-binary', buffer: Buffer.from('glTF not really') }));
  result.failures.badScene = await message(page);
  log(`bad scene: ${result.failures.badScene}`);

  // -------- unreachable blob store: nothing uploaded, nothing escrowed
  await post(page, 'gemm', async (p) => {
    await p.fill('#m', '8');
    await p.fill('#blobs', 'http://127.0.0.1:1');
  });
  await sign(page);
  result.failures.blobStore = await message(page);
  log(`blob store: ${result.failures.blobStore}`);

  // -------- a rejected signature (the upload's message): nothing posted
  await post(page, 'gemm', async (p) => {
    await p.fill('#m', '8');
    await p.fill('#blobs', cfg.blobs);
  });
  await page.evaluate(() => (window.__tesseraWallet.reject = true));
  await sign(page);
  result.failures.rejected = await message(page);
  log(`rejected: ${result.failures.rejected}`);

  // -------- cancel before any worker runs: the whole escrow back
  await post(page, 'gemm', async (p) => {
    await p.fill('#m', '16');
    await p.fill('#replicas', '1');
    await p.fill('#escalations', '0');
  });
  await page.waitForSelector('#summary');
  result.cancelEscrow = (await page.textContent('#escrow')).trim();
  await page.screenshot({ path: join(shots, 'post.png'), fullPage: true });
  await sign(page);
  await page.waitForURL(/#\/job\//, { timeout: 60000 });
  result.cancelled = page.url().split('#/job/')[1];
  await page.waitForSelector('#cancel', { timeout: 30000 });
  await page.click('#cancel');
  await page.waitForFunction(() => document.querySelector('#state')?.dataset.state === 'cancelled', null, { timeout: 60000, polling: 50 });
  const slotAtPage = await rpc('getSlot', [{ commitment: 'processed' }]);
  const seen = await page.textContent('#seen');
  const changed = Number(/cancelled@(\d+)/.exec(seen)?.[1]);
  result.stateLagSlots = slotAtPage - changed;
  log(`cancelled ${result.cancelled}: shown at slot ${slotAtPage}, changed at ${changed}`);
  await page.screenshot({ path: join(shots, 'job-cancelled.png'), fullPage: true });

  // -------- too few tokens: refused before anything is uploaded or signed
  const poor = await open(cfg.poor);
  await connect(poor);
  await post(poor, 'gemm', (p) => p.fill('#price', '5'));
  await sign(poor);
  result.failures.tooFewTokens = await message(poor);
  await poor.context().close();

  // -------- wrong cluster: a localnet build never talks to devnet
  await page.selectOption('#cluster', { label: 'devnet (other build)' }).catch(() => page.selectOption('#cluster', { index: 2 }));
  result.failures.wrongCluster = await message(page);
  log(`wrong cluster: ${result.failures.wrongCluster}`);
  await page.goto(cfg.page);
  await page.waitForSelector('#nodes');
  await connect(page);

  // -------- the workers start; the Blender scene as tiles, and a corpus
  await need('workers');
  await post(page, 'render', async (p) => {
    await p.setInputFiles('#scene', cfg.scene);
    await p.fill('#width', String(cfg.render.width));
    await p.fill('#height', String(cfg.render.height));
    await p.fill('#spp', String(cfg.render.spp));
    await p.fill('#tiles', cfg.render.tiles);
    await p.fill('#price', '1');
  });
  await sign(page);
  await page.waitForURL(/#\/jobs\//, { timeout: 120000 });
  result.renderPage = page.url();
  await page.waitForSelector('#verified', { timeout: cfg.timeoutMs });
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(shots, 'job-render.png'), fullPage: true });
  result.render = await page.evaluate(() => window.tesseraVerified);
  log(`render verified: ${Object.keys(result.render).length} tiles`);

  await post(page, 'embed', async (p) => {
    await p.setInputFiles('#corpus', cfg.corpus);
    await p.fill('#model', cfg.model);
    await p.fill('#price', '1');
  });
  await sign(page);
  await page.waitForURL(/#\/jobs\//, { timeout: 120000 });
  await page.waitForSelector('#verified', { timeout: cfg.timeoutMs });
  const before = await page.evaluate(() => ({ ...window.tesseraVerified }));
  result.embed = Object.fromEntries(Object.entries(before).filter(([k]) => !(k in result.render)));
  await page.fill('#query', cfg.query);
  await page.click('#search button');
  await page.waitForSelector('#hits li', { timeout: 120000 });
  result.hits = await page.$$eval('#hits li', (li) => li.map((x) => x.textContent));
  await page.screenshot({ path: join(shots, 'job-embed.png'), fullPage: true });
  log(`nearest to "${cfg.query}": ${result.hits[0]}`);

  // -------- a GEMM: a rejected transaction posts nothing; then posted, verified, downloaded
  // and, once settled, closed with the wallet
  const gemm = async () =>
    post(page, 'gemm', async (p) => {
      await p.fill('#m', '24');
      await p.fill('#replicas', '3');
      await p.fill('#escalations', '1');
    });
  await gemm();
  await page.evaluate(() => (window.__tesseraWallet.rejectTransaction = true));
  await sign(page);
  result.failures.rejectedTransaction = await message(page);
  log(`rejected transaction: ${result.failures.rejectedTransaction}`);
  await gemm();
  await sign(page);
  await page.waitForURL(/#\/job\//, { timeout: 60000 });
  result.gemm = page.url().split('#/job/')[1];
  await page.waitForSelector('#download', { timeout: cfg.timeoutMs });
  result.gemmDownload = await page.getAttribute('#download', 'download');
  await page.waitForFunction(() => document.querySelector('#state')?.dataset.state === 'completed', null, { timeout: 120000 });
  await page.screenshot({ path: join(shots, 'job-gemm.png'), fullPage: true });
  await page.click('#close');
  await page.waitForSelector('#message.ok:has-text("closed")', { timeout: 60000 });
  log(`gemm ${result.gemm} verified, downloaded as ${result.gemmDownload}, closed`);

  // -------- a result that does not match the chain is never shown as the result
  const tile = Object.keys(result.render)[0];
  await need(`tamper ${tile}`);
  // a fresh browser (no cached copy of the good blob), as another buyer would open the job
  const fresh = await open(cfg.client);
  await fresh.goto(`${cfg.page}#/job/${tile}`);
  await fresh.waitForSelector('#result-error', { timeout: 60000 });
  result.failures.mismatch = (await fresh.textContent('#result-error')).trim();
  result.mismatchShowsImage = (await fresh.$('canvas#frame')) !== null;
  await fresh.screenshot({ path: join(shots, 'job-mismatch.png'), fullPage: true });
  await fresh.context().close();

  // -------- an operator stakes
  const op = await open(cfg.operator);
  await connect(op);
  await op.goto(`${cfg.page}#/operator`);
  await op.waitForSelector('#stake');
  result.stakeBefore = (await op.textContent('#stake')).trim();
  await op.fill('#amount', '5');
  await op.click('#do-stake');
  await op.waitForFunction((b) => document.querySelector('#stake')?.textContent.trim() !== b, result.stakeBefore, { timeout: 60000 });
  result.stakeAfter = (await op.textContent('#stake')).trim();
  // and asks for 3 of it back: it starts unbonding (withdrawn after the unbonding period)
  await op.fill('#amount', '3');
  await op.click('#do-unstake');
  await op.waitForFunction(() => /^3\b/.test(document.querySelector('#unbonding')?.textContent.trim() ?? ''), null, { timeout: 60000 });
  result.unbonding = (await op.textContent('#unbonding')).trim();
  await op.screenshot({ path: join(shots, 'operator.png'), fullPage: true });
  await op.context().close();
} catch (e) {
  result.error = `${e.message}`;
  log(`FAILED: ${e.stack}`);
} finally {
  await browser.close();
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(result.error ? 1 : 0);
}
