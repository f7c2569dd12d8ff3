/**
 * Each capsule owns a range of host uids/gids: root inside is `base` outside, an
 * unprivileged id no host file belongs to. Ranges are numbered slots; a slot is
 * taken while the capsule's directory exists (its number is in meta.json).
 *
 * Several nestbox instances on one host (tests run two at once) must not hand
 * out the same range: a slot is also claimed host-wide, as a directory under
 * /run/nestbox/uids named after its base, holding the claiming runtime's data
 * directory. A claim whose owner directory is gone is stale and reused.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AppError } from '../../core/errors.ts'

export type UidOpts = { uidBase: number; uidRange: number; maxCapsules: number; owner: string; registryDir?: string }

export function createUidSlots(o: UidOpts) {
  const used = new Set<number>()
  const registry = o.registryDir ?? '/run/nestbox/uids'
  mkdirSync(registry, { recursive: true, mode: 0o700 })
  const base = (slot: number) => o.uidBase + slot * o.uidRange
  const claimFile = (slot: number) => join(registry, String(base(slot)))

  /** Takes the host-wide claim unless another live runtime holds it. */
  function claimHostWide(slot: number, force: boolean): boolean {
    const dir = claimFile(slot)
    try {
      mkdirSync(dir)
    } catch {
      let owner = ''
      try {
        owner = readFileSync(join(dir, 'owner'), 'utf8')
      } catch {
        // a claim being written right now, or a broken one
      }
      if (!force && owner && owner !== o.owner && existsSync(owner)) return false
    }
    writeFileSync(join(dir, 'owner'), o.owner)
    return true
  }

  return {
    base,
    range: o.uidRange,
    /** Marks a slot found on disk as taken (its capsule's files exist). */
    claim(slot: number) {
      used.add(slot)
      claimHostWide(slot, true)
    },
    take(): number {
      for (let s = 0; s < o.maxCapsules; s++) {
        if (used.has(s) || !claimHostWide(s, false)) continue
        used.add(s)
        return s
      }
      throw new AppError(503, 'capacity_exhausted', `no free uid range: this host runs at most ${o.maxCapsules} capsules (capsules.process.maxCapsules)`)
    },
    release(slot: number) {
      used.delete(slot)
      try {
        if (readFileSync(join(claimFile(slot), 'owner'), 'utf8') === o.owner) rmSync(claimFile(slot), { recursive: true, force: true })
      } catch {
        // not ours, or gone
      }
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
