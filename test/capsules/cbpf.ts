/**
 * A classic BPF interpreter for seccomp programs, as the kernel runs them
 * (kernel/seccomp.c, net/core/filter.c): the instructions seccomp.ts emits are
 * decoded from their bytes and run over a struct seccomp_data, so the tests check
 * what the kernel would see, not the generator's own structures.
 */
export type SeccompData = { nr: number; arch: number; args?: (number | bigint)[] }

/** Lays out struct seccomp_data (little-endian): nr, arch, instruction_pointer, args[6]. */
function data(d: SeccompData): Buffer {
  const b = Buffer.alloc(64)
  b.writeInt32LE(d.nr | 0, 0)
  b.writeUInt32LE(d.arch >>> 0, 4)
  ;(d.args ?? []).forEach((a, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i))
  return b
}

/** Runs the program (struct sock_filter[], little-endian) and returns what it returns. */
export function runFilter(prog: Buffer, d: SeccompData): number {
  if (prog.length % 8 || prog.length === 0 || prog.length / 8 > 4096) throw new Error('not a filter')
  const mem = data(d)
  let a = 0
  for (let pc = 0; pc < prog.length / 8; ) {
    const o = pc * 8
    const code = prog.readUInt16LE(o)
    const jt = prog[o + 2]
    const jf = prog[o + 3]
    const k = prog.readUInt32LE(o + 4)
    pc++
    switch (code) {
      case 0x20: // ld [k]: only aligned words inside seccomp_data
        if (k % 4 || k + 4 > 64) throw new Error(`bad load at ${k}`)
        a = mem.readUInt32LE(k)
        break
      case 0x15: // jeq #k
        pc += a === k ? jt : jf
        break
      case 0x35: // jge #k
        pc += a >= k ? jt : jf
        break
      case 0x45: // jset #k
        pc += (a & k) >>> 0 ? jt : jf
        break
      case 0x05: // ja k
        pc += k
        break
      case 0x06: // ret #k
        return k
      default:
        throw new Error(`opcode ${code.toString(16)} not expected`)
    }
  }
  throw new Error('fell off the end of the program')
}
