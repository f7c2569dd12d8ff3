/**
 * Each capsule owns a range of host uids/gids: root inside is `base` outside, an
 * unprivileged id no host file belongs to. Ranges are numbered slots; a slot is
 * taken while the capsule's directory exists (its number is in meta.json).
 */
import { writeFileSync } from 'node:fs'
import { AppError } from '../../core/errors.ts'

export type UidOpts = { uidBase: number; uidRange: number; maxCapsules: number }

export function createUidSlots(o: UidOpts) {
  const used = new Set<number>()
  return {
    base: (slot: number) => o.uidBase + slot * o.uidRange,
    range: o.uidRange,
    /** Marks a slot found on disk as taken. */
    claim(slot: number) {
      used.add(slot)
    },
    take(): number {
      for (let s = 0; s < o.maxCapsules; s++) {
        if (!used.has(s)) {
          used.add(s)
          return s
        }
      }
      throw new AppError(503, 'capacity_exhausted', `this host runs at most ${o.maxCapsules} capsules (capsules.process.maxCapsules)`)
    },
    release(slot: number) {
      used.delete(slot)
    },
    get inUse() {
      return used.size
    },
  }
}
export type UidSlots = ReturnType<typeof createUidSlots>

/**
 * Maps ids 0..range-1 inside the user namespace of `pid` to base..base+range-1
 * outside. Written from here (host root) rather than by newuidmap, so no
 * /etc/subuid entry is needed. Each file accepts exactly one write.
 */
export function writeIdMaps(pid: number, base: number, range: number) {
  writeFileSync(`/proc/${pid}/uid_map`, `0 ${base} ${range}\n`)
  writeFileSync(`/proc/${pid}/gid_map`, `0 ${base} ${range}\n`)
}
