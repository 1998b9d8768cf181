// An instruction from the Rust SDK (tw.Network, `{programAddress, accounts: [{address, role}],
// data}`) as an @solana/kit instruction.
import { address, type AccountRole, type Instruction } from '@solana/kit';

interface RustInstruction {
  programAddress: string;
  accounts: { address: string; role: number }[];
  data: Uint8Array;
}

export function toKit(ix: unknown): Instruction {
  const r = ix as RustInstruction;
  return {
    programAddress: address(r.programAddress),
    accounts: r.accounts.map((a) => ({ address: address(a.address), role: a.role as AccountRole })),
    data: r.data,
  };
}
