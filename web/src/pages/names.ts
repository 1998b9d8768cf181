// Display names of kernels and states: the CLI's own (Rust, through WebAssembly).
import { tw } from '../wasm';

export const stateName = (s: number) => tw.jobStateName(s);
export const claimStateName = (s: number) => tw.claimStateName(s);
export const kernelName = (id: number) => tw.kernelName(id);
