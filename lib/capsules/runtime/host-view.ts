/**
 * What of the host a capsule sees: the system directories, read-only (so bash,
 * python3, node and git are there), the merged-/usr links, the paths hidden under
 * them (nestbox's own data, /etc/nestbox), and the account files laid over /etc
 * (a capsule has its own root and `user`, not the host's accounts).
 */
import { lstatSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { CAPSULE_USER } from './layer.ts'

export const DEFAULT_HOST_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc']

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
${CAPSULE_USER.name}:x:${CAPSULE_USER.uid}:${CAPSULE_USER.uid}::${CAPSULE_USER.home}:/bin/bash
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`
const GROUP = `root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\n${CAPSULE_USER.name}:x:${CAPSULE_USER.uid}:\nnogroup:x:65534:\n`

const isSymlink = (p: string) => lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink() ?? false
export const isDir = (p: string) => !isSymlink(p) && (statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false)

export type HostView = {
  /** Host directories bound read-only at the same path. */
  roDirs: string[]
  /** Host top-level links (merged /usr) recreated in each layer. */
  hostLinks: string[]
  /** Paths inside roDirs covered by an empty read-only tmpfs when they exist at boot. */
  hide: string[]
  sharedEtc: { passwd: string; group: string }
}

/** Computes the view and writes the shared account files under `dataDir/etc`. */
export function hostView(dataDir: string, hostPaths = DEFAULT_HOST_PATHS, hidePaths: string[] = []): HostView {
  const paths = hostPaths.map((p) => resolve(p))
  const roDirs = paths.filter((p) => isDir(p) && !paths.some((q) => q !== p && p.startsWith(q + '/')))
  const etc = join(dataDir, 'etc')
  mkdirSync(etc, { recursive: true, mode: 0o700 })
  writeFileSync(join(etc, 'passwd'), PASSWD)
  writeFileSync(join(etc, 'group'), GROUP)
  return {
    roDirs,
    hostLinks: paths.filter(isSymlink),
    hide: [dataDir, '/etc/nestbox', ...hidePaths].map((p) => resolve(p)).filter((h) => roDirs.some((d) => h.startsWith(d + '/'))),
    sharedEtc: { passwd: join(etc, 'passwd'), group: join(etc, 'group') },
  }
}
