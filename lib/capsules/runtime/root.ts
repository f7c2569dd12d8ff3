/**
 * A capsule's `/`, put together in its boot chain's mount namespace while the
 * chain waits (sandbox.ts): the layer prepared on its disk, the template
 * overlaid under it (overlay.ts), and each host system directory overlaid at its
 * place with the capsule's changes on top (system.ts). The mount helper
 * (mounter.ts) makes the mounts: no process is started for them.
 */
import { lstatSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { DISK_MOUNT } from './disk.ts'
import { mountIn, type MountOp } from './mounter.ts'
import { LOWER_MOUNT, overlayOpts } from './overlay.ts'
import { LAYER_MOUNT } from './sandbox.ts'
import { HOST_MOUNT, MASK_MOUNT, prepareSystem, slug } from './system.ts'

export type RootPlan = {
  /** The boot chain's process (its mount and user namespaces). */
  pid: number
  /** The capsule's disk image (disk.ts), mounted first at DISK_MOUNT; null: its disk is a host directory. */
  image: string | null
  /** The capsule's disk as the chain sees it, and as host root reaches it now. */
  disk: string
  diskFromHost: string
  /** Prepares the layer (given as host root reaches it) when that could not be done before the boot. */
  prepare: ((layer: string) => void) | null
  base: number
  /** The template's root directory on the host, or null. */
  template: string | null
  system: { dirs: string[]; maskDir: string; etc: Record<string, string>; accounts: { passwd: string; group: string } } | null
}

/** Where each host directory's changes live on the capsule's disk. */
export const systemUpper = (disk: string, dir: string) => join(disk, 'host', slug(dir), 'up')

export async function mountRoot(o: RootPlan) {
  if (o.image) await mountIn(o.pid, [['loop', o.image, DISK_MOUNT]])
  o.prepare?.(join(o.diskFromHost, 'layer'))
  const ops: MountOp[] = []
  if (!o.template && o.image) ops.push(['bind', join(o.disk, 'layer'), LAYER_MOUNT])
  if (o.template) {
    mkdirSync(LOWER_MOUNT, { recursive: true, mode: 0o755 })
    mkdirSync(join(o.diskFromHost, 'work'), { recursive: true, mode: 0o700 })
    ops.push(['idmap', o.template, LOWER_MOUNT], ['overlay', overlayOpts([LOWER_MOUNT], join(o.disk, 'layer'), join(o.disk, 'work')), LAYER_MOUNT])
  }
  const sys = o.system
  if (sys) {
    prepareSystem({ disk: o.diskFromHost, base: o.base, dirs: sys.dirs, etc: sys.etc, accounts: sys.accounts, templateEtc: o.template && join(o.template, 'etc') })
    ops.push(['idmap', sys.maskDir, MASK_MOUNT])
    for (const dir of sys.dirs) {
      const n = slug(dir)
      const fromTemplate = o.template && lstatSync(join(o.template, dir), { throwIfNoEntry: false })?.isDirectory() ? [join(LOWER_MOUNT, dir)] : []
      const lowers = [...fromTemplate, join(MASK_MOUNT, n), join(HOST_MOUNT, n)]
      ops.push(['idmap', dir, join(HOST_MOUNT, n)], ['overlay', overlayOpts(lowers, systemUpper(o.disk, dir), join(o.disk, 'host', n, 'work')), join(LAYER_MOUNT, dir)])
    }
  }
  if (ops.length) await mountIn(o.pid, ops)
}
