// The blob store over HTTP: uploads signed by the wallet (the CLI's signed-upload message,
// built in Rust), downloads checked against their name before use.
import { getBase58Decoder } from '@solana/kit';
import type { Connected } from './wallet';
import { tw } from './wasm';

export class BlobStore {
  constructor(readonly base: string) {}

  uri(hash: string): string {
    return `${this.base.replace(/\/$/, '')}/blobs/${hash}`;
  }

  /** Uploads `bytes` signed by the wallet; resolves to its URI. */
  async put(bytes: Uint8Array, wallet: Connected): Promise<{ hash: string; uri: string }> {
    const hash = tw.blobHash(bytes);
    const expiry = Math.floor(Date.now() / 1000) + 600;
    const m = tw.uploadMessage(hash, bytes.length, expiry) as {
      message: Uint8Array;
      signerHeader: string;
      expiryHeader: string;
      signatureHeader: string;
    };
    let signature: Uint8Array;
    try {
      signature = await wallet.signMessage(m.message);
    } catch (e) {
      throw new Error(`the wallet did not sign the upload: ${(e as Error).message}; nothing was uploaded or posted`);
    }
    const uri = this.uri(hash);
    let res: Response;
    try {
      res = await fetch(uri, {
        method: 'PUT',
        body: bytes as BodyInit,
        headers: {
          [m.signerHeader]: wallet.account.address,
          [m.expiryHeader]: String(expiry),
          [m.signatureHeader]: getBase58Decoder().decode(signature),
        },
      });
    } catch {
      throw new Error(`cannot reach the blob store at ${this.base}: the input was not uploaded and nothing was posted or escrowed`);
    }
    if (!res.ok) {
      const why = (await res.text()).trim();
      throw new Error(`the blob store at ${this.base} refused the upload (${res.status}): ${why}; nothing was posted or escrowed`);
    }
    return { hash, uri };
  }

  /** Downloads `uri`; it must hash to `hash` (hex) or it is refused. */
  static async get(uri: string, hash: string): Promise<Uint8Array> {
    let res: Response;
    try {
      res = await fetch(uri);
    } catch {
      throw new Error(`cannot fetch ${uri}`);
    }
    if (!res.ok) throw new Error(`${uri}: ${res.status} ${(await res.text()).trim()}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const got = tw.blobHash(bytes);
    if (got !== hash) throw new Error(`${uri} does not match its hash: got ${got}, want ${hash}`);
    return bytes;
  }
}

export const hex = (b: ArrayLike<number>) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
