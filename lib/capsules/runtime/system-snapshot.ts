/**
 * What a snapshot keeps of a capsule's changes to the host system (system.ts):
 * not the host's directories, only how the capsule's view differs from them —
 * the files it added or replaced, and a whiteout for each host entry it removed
 * (which is also how an opaque directory is written: every host entry it hides
 * gets one). A capsule from the snapshot has them as a layer above the host's.
 *
 * Only directories that hold something of the capsule's own (in its upper
 * directory, or in the template it came from) are walked, so the cost follows
 * what was changed, not the size of /usr. Runs with the capsule frozen.
 */
import { lstat, mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { copyEntry } from './layer.ts'
import { mknodWhiteouts } from './system.ts'

type Shift = (id: number) => number

const names = async (dir: string | null): Promise<Set<string>> => {
  if (!dir) return new Set()
  try {
    return new Set(await readdir(dir))
  } catch {
    return new Set()
  }
}

/**
 * For one host directory `hostDir`: the capsule's view of it is under `root`
 * (its root directory seen from the host), `upper` holds its changes,
 * `template` the template layer it had (or null); the differences go to `dest`.
 * Nothing at `mounts` (mount points inside, from its root) is copied.
 */
export async function copySystemChanges(o: { hostDir: string; root: string; upper: string; template: string | null; mask: string; dest: string; shift: Shift; mounts: Set<string> }) {
  const whiteouts: string[] = []
  const mergedDir = o.root + o.hostDir
  const visit = async (rel: string) => {
    const [merged, own, tpl, host, masked] = await Promise.all([names(join(mergedDir, rel)), names(join(o.upper, rel)), names(o.template && join(o.template, rel)), names(join(o.hostDir, rel)), names(join(o.mask, rel))])
    // what the mask hides is hidden again in any capsule: no whiteout needed
    for (const name of host) if (!merged.has(name) && !masked.has(name)) whiteouts.push(join(o.dest, rel, name))
    for (const name of merged) {
      if (!own.has(name) && !tpl.has(name)) continue // the host's, untouched
      if (o.mounts.has(join(o.hostDir, rel, name))) continue // a mount inside (hidden paths, binds)
      const s = join(mergedDir, rel, name)
      const st = await lstat(s)
      const d = join(o.dest, rel, name)
      if (st.isDirectory()) {
        await mkdir(d, { mode: 0o700 }).catch((err) => {
          if (err.code !== 'EEXIST') throw err
        })
        await visit(join(rel, name))
      }
      await copyEntry(s, d, st, o.shift, true, st.isDirectory())
    }
  }
  await mkdir(o.dest, { recursive: true, mode: 0o755 })
  await visit('')
  if (whiteouts.length) await mknodWhiteouts(whiteouts)
}
