// A post of many jobs (a frame's tiles, a corpus's shards) kept in this browser, so its page
// shows them as one job with its parts.
import type { Address } from '@solana/kit';

export interface Manifest {
  id: string;
  title: string;
  jobs: { address: Address; tile?: { x: number; y: number } }[];
  width?: number;
  height?: number;
  /** Embed posts: the texts in job order, and the model that embeds a query. */
  texts?: string[];
  model?: { hash: string; uri: string };
}

export function saveManifest(m: Manifest) {
  localStorage.setItem(`tessera.manifest.${m.id}`, JSON.stringify(m));
}

export function loadManifest(id: string): Manifest | null {
  const s = localStorage.getItem(`tessera.manifest.${id}`);
  return s ? (JSON.parse(s) as Manifest) : null;
}
