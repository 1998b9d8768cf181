// Post: drop a scene (tiles, frames, spp), a .jsonl corpus with a model hash, or ask for a
// GEMM; the inputs are built here by the CLI's own Rust (WebAssembly); the price and the escrow
// are shown before signing; inputs go to the blob store with a wallet-signed upload first, so
// no escrow is ever made for an input that is not there; then the wallet signs each post.
import { html } from 'lit-html';
import { address, type Address } from '@solana/kit';
import { app, attempt, needChain, needWallet, say, show } from '../app';
import { BlobStore } from '../blobs';
import { tw } from '../wasm';
import { saveManifest, type Manifest } from './manifest';
import { toKit } from './kit';

const CLOCK = 'SysvarC1ock11111111111111111111111111111111';

interface Planned {
  inputs: Uint8Array[];
  manifest: Omit<Manifest, 'id' | 'jobs'> & { tiles?: { x: number; y: number }[] };
  kernel: string;
  summary: string;
  warnings: string[];
}

let planned: Planned | null = null;

export function postPage(_signal: AbortSignal) {
  planned = null;
  draw();
}

function draw(review?: { jobs: number; deposit: bigint; balance: bigint }) {
  const chain = app.chain;
  const t = (u: bigint) => (chain ? chain.tokens(u) : String(u));
  show(html`
    <h1>Post a job</h1>
    <form id="post" class="post" @submit=${(e: Event) => (e.preventDefault(), void plan())}>
      <fieldset>
        <legend>What to compute</legend>
        <label><input type="radio" name="kind" value="render" checked @change=${kindChanged} /> Render a scene</label>
        <label><input type="radio" name="kind" value="embed" @change=${kindChanged} /> Embed a corpus</label>
        <label><input type="radio" name="kind" value="gemm" @change=${kindChanged} /> Matrix multiply</label>
      </fieldset>
      <fieldset data-kind="render">
        <legend>Scene</legend>
        <label class="drop">glTF, GLB or OBJ (with its .bin, textures, .mtl)<input id="scene" type="file" multiple accept=".gltf,.glb,.obj,.bin,.mtl,.png,.jpg,.jpeg" /></label>
        <label>width <input id="width" type="number" value="320" min="1" /></label>
        <label>height <input id="height" type="number" value="240" min="1" /></label>
        <label>samples per pixel <input id="spp" type="number" value="16" min="1" /></label>
        <label>tiles <input id="tiles" value="2x2" /></label>
        <label>frames <input id="frames" value="0" /></label>
      </fieldset>
      <fieldset data-kind="embed" hidden>
        <legend>Corpus</legend>
        <label class="drop">corpus (.jsonl: one string or {"id","text"} a line)<input id="corpus" type="file" accept=".jsonl,.txt" /></label>
        <label>model (blob hash) <input id="model" size="66" placeholder="64 hex digits: tessera model put prints it" /></label>
        <label>shards <input id="shards" type="number" value="1" min="1" /></label>
      </fieldset>
      <fieldset data-kind="gemm" hidden>
        <legend>C = A·B</legend>
        <label>kernel <select id="gemm-kernel"><option>gemm-f32</option><option>gemm-i8</option></select></label>
        <label>m <input id="m" type="number" value="64" /></label>
        <label>n <input id="n" type="number" value="64" /></label>
        <label>k <input id="k" type="number" value="64" /></label>
        <label>seed <input id="seed" type="number" value="1" /></label>
      </fieldset>
      <fieldset>
        <legend>Terms</legend>
        <label>price per replica (tokens) <input id="price" value="1" /></label>
        <label>replicas <input id="replicas" type="number" value="3" min="1" max="7" /></label>
        <label>escalation rounds <input id="escalations" type="number" value="1" min="0" /></label>
        <label>blob store <input id="blobs" value=${app.blobs.base} size="32" /></label>
      </fieldset>
      <p><button id="review" class="primary">Review price and escrow</button></p>
    </form>
    ${planned && review
      ? html`<section class="review" id="summary">
          <h2>Before you sign</h2>
          <p>${planned.summary}</p>
          ${planned.warnings.map((w) => html`<p class="warning">${w}</p>`)}
          <dl class="facts">
            <dt>jobs</dt><dd>${review.jobs}</dd>
            <dt>escrow</dt><dd id="escrow">${t(review.deposit)} tokens (the price × the replica slots the escalations may need; what is not spent comes back when the jobs close)</dd>
            <dt>your balance</dt><dd>${t(review.balance)} tokens</dd>
          </dl>
          <button id="sign" class="primary" @click=${() => void send()}>Upload and sign ${review.jobs} post${review.jobs > 1 ? 's' : ''}</button>
        </section>`
      : ''}`);
}

function kindChanged() {
  const kind = (document.querySelector('input[name=kind]:checked') as HTMLInputElement).value;
  document.querySelectorAll<HTMLElement>('fieldset[data-kind]').forEach((f) => (f.hidden = f.dataset.kind !== kind));
}

const val = (id: string) => (document.getElementById(id) as HTMLInputElement).value.trim();

async function readFiles(id: string): Promise<File[]> {
  return Array.from((document.getElementById(id) as HTMLInputElement).files ?? []);
}

function spec(kernel: string) {
  return JSON.stringify({
    kernel,
    price: val('price'),
    replicas: Number(val('replicas')),
    max_escalations: Number(val('escalations')),
  });
}

async function plan() {
  planned = null;
  await attempt(async () => {
    const chain = needChain();
    const wallet = needWallet();
    app.blobs = new BlobStore(val('blobs'));
    localStorage.setItem('tessera.blobs', app.blobs.base);
    const kind = (document.querySelector('input[name=kind]:checked') as HTMLInputElement).value;
    if (kind === 'render') {
      const files = await readFiles('scene');
      const main = files.find((f) => /\.(gltf|glb|obj)$/i.test(f.name));
      if (!main) throw new Error('drop a .gltf, .glb or .obj scene (with the files it references)');
      const contents = await Promise.all(files.map(async (f) => new Uint8Array(await f.arrayBuffer())));
      const form = { width: Number(val('width')), height: Number(val('height')), spp: Number(val('spp')), tiles: val('tiles'), frames: val('frames') };
      const r = tw.planRender(files.map((f) => f.name), contents, main.name, form) as {
        width: number; height: number; triangles: number; warnings: string[]; tiles: { frame: number; x: number; y: number; w: number; h: number; input: Uint8Array }[];
      };
      planned = {
        kernel: 'render',
        inputs: r.tiles.map((t) => t.input),
        manifest: { title: `Render of ${main.name}`, width: r.width, height: r.height, tiles: r.tiles.map((t) => ({ x: t.x, y: t.y })) },
        summary: `${main.name}: ${r.triangles} triangles, ${r.width}×${r.height} at ${form.spp} spp, ${r.tiles.length} tile job${r.tiles.length > 1 ? 's' : ''}.`,
        warnings: r.warnings,
      };
    } else if (kind === 'embed') {
      const [corpus] = await readFiles('corpus');
      if (!corpus) throw new Error('drop a .jsonl corpus');
      const hash = val('model').toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error('the model is a blob hash: 64 hex digits (`tessera model put <dir>` prints it)');
      const uri = app.blobs.uri(hash);
      const model = await BlobStore.get(uri, hash).catch((e: Error) => {
        throw new Error(`the model ${hash.slice(0, 12)}… is not in the blob store at ${app.blobs.base}: ${e.message}`);
      });
      const text = await corpus.text();
      const p = tw.planEmbed(model, uri, text, Number(val('shards')), undefined) as { dim: number; texts: string[]; tokens: number; truncated: number; shards: { input: Uint8Array; ids: string[] }[] };
      const texts = p.texts;
      planned = {
        kernel: 'embed',
        inputs: p.shards.map((s) => s.input),
        manifest: { title: `Embeddings of ${corpus.name}`, texts, model: { hash, uri } },
        summary: `${texts.length} texts, ${p.tokens} tokens, ${p.shards.length} shard job${p.shards.length > 1 ? 's' : ''} of ${p.dim}-wide embeddings.`,
        warnings: p.truncated ? [`${p.truncated} texts are longer than the model takes and were cut`] : [],
      };
    } else {
      const kernel = val('gemm-kernel');
      const input = tw.gemmInput(kernel, Number(val('m')), Number(val('n')), Number(val('k')), Number(val('seed')));
      planned = { kernel, inputs: [input], manifest: { title: `${kernel} ${val('m')}×${val('n')}×${val('k')}` }, summary: `One ${kernel} job.`, warnings: [] };
    }
    // the price and escrow as the program will take them (the SDK's own post_job)
    let deposit = 0n;
    for (const input of planned.inputs) {
      const h = tw.blobHash(input);
      const { deposit: d } = chain.network.postJob(wallet.account.address, spec(planned.kernel), '1', h, app.blobs.uri(h), 0) as { deposit: string };
      deposit += BigInt(d);
    }
    draw({ jobs: planned.inputs.length, deposit, balance: await chain.balance(wallet.account.address) });
  });
}

async function send() {
  await attempt(async () => {
    const chain = needChain();
    const wallet = needWallet();
    const p = planned;
    if (!p) throw new Error('review the job first');
    const client = wallet.account.address;
    // refuse before anything is uploaded or signed when the tokens are not there
    const need = p.inputs.reduce((s, input) => {
      const h = tw.blobHash(input);
      return s + BigInt((chain.network.postJob(client, spec(p.kernel), '1', h, app.blobs.uri(h), 0) as { deposit: string }).deposit);
    }, 0n);
    const have = await chain.balance(client);
    if (have < need) throw new Error(`too few tokens: the escrow needs ${chain.tokens(need)}, the wallet holds ${chain.tokens(have)}; nothing was uploaded or posted`);
    say(`uploading ${p.inputs.length} input${p.inputs.length > 1 ? 's' : ''}…`, 'ok');
    const uploaded = [];
    for (const input of p.inputs) uploaded.push(await app.blobs.put(input, wallet));
    const clock = await chain.raw(CLOCK);
    const now = tw.clockUnixTimestamp(clock!);
    const jobs: Address[] = [];
    let start = BigInt(Date.now()) * 1000n;
    for (const [i, u] of uploaded.entries()) {
      let id = tw.fastJobId(client, start.toString());
      while (await chain.raw(tw.jobAddress(client, id))) id = tw.fastJobId(client, (BigInt(id) + 1n).toString());
      start = BigInt(id) + 1n;
      const { instruction } = chain.network.postJob(client, spec(p.kernel), id, u.hash, u.uri, now) as { instruction: unknown };
      say(`signing post ${i + 1} of ${uploaded.length}…`, 'ok');
      await chain.send(wallet.signer, [toKit(instruction)]);
      jobs.push(address(tw.jobAddress(client, id)));
    }
    say(`posted ${jobs.length} job${jobs.length > 1 ? 's' : ''}`, 'ok');
    if (jobs.length === 1 && !p.manifest.texts) {
      location.hash = `#/job/${jobs[0]}`;
      return;
    }
    const id = jobs[0].slice(0, 10);
    const { tiles, ...rest } = p.manifest;
    saveManifest({ ...rest, id, jobs: jobs.map((a, i) => ({ address: a, tile: tiles?.[i] })) });
    location.hash = `#/jobs/${id}`;
  });
}
