/**
 * Capsules started from a template share its files read-only through overlayfs:
 * the template is the lower layer, the capsule's layer the upper one. Template
 * files are stored with the ids they have inside a capsule (0 = root), so the
 * lower layer is an *idmapped* mount through the capsule's own user namespace
 * (0 → base): each capsule sees the template as its own files, in its own range,
 * without a copy.
 *
 * Both mounts are made by host root inside the boot chain's private mount
 * namespace (never the host's), while the chain waits for its uid maps; they go
 * away with the capsule. The mount helper (mounter.ts) makes them:
 * open_tree(OPEN_TREE_CLONE), mount_setattr(MOUNT_ATTR_IDMAP), move_mount.
 */
import { spawn } from 'node:child_process'
import { mountIn } from './mounter.ts'
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Where the idmapped template is attached inside the boot chain's mount namespace. */
export const LOWER_MOUNT = '/run/nestbox/capsule-lower'

/** overlayfs options for these layers (first lower on top). */
export const overlayOpts = (lowers: string[], upper: string, work: string) => `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`

/** Overlay options are comma/colon separated: paths holding those cannot be passed. */
export const overlaySafePath = (p: string) => !/[,:\\\s]/.test(p)

/** Mounts the template (idmapped through `pid`'s user namespace) under the layer, inside `pid`'s mount namespace. */
export function mountTemplate(pid: number, o: { template: string; upper: string; work: string; target: string }): Promise<void> {
  mkdirSync(LOWER_MOUNT, { recursive: true, mode: 0o755 })
  return mountIn(pid, [['idmap', o.template, LOWER_MOUNT], ['overlay', overlayOpts([LOWER_MOUNT], o.upper, o.work), o.target]])
}

let probed: Promise<boolean> | null = null

/**
 * Whether this host can do it (kernel ≥ 5.19 with idmapped ext4/xfs/btrfs lower
 * layers): tried once on a scratch template, in scratch namespaces.
 */
export function overlaySupported(): Promise<boolean> {
  probed ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nestbox-overlay-probe-'))
    try {
      for (const d of ['tpl', 'up', 'work', 'root']) mkdirSync(join(dir, d))
      writeFileSync(join(dir, 'tpl', 'f'), 'x')
      // the same shape as a boot chain: a private mount namespace, then a user namespace
      const holder = spawn('/usr/bin/unshare', ['--mount', '--propagation', 'private', '--', '/usr/bin/unshare', '--user', '--', '/bin/sleep', '5'], { stdio: 'ignore' })
      const own = readlinkSync('/proc/self/ns/user')
      for (let i = 0; i < 200; i++) {
        const ns = (() => {
          try {
            return readlinkSync(`/proc/${holder.pid}/ns/user`)
          } catch {
            return own
          }
        })()
        if (ns !== own) break
        await new Promise((r) => setTimeout(r, 5))
      }
      try {
        writeFileSync(`/proc/${holder.pid}/uid_map`, '0 3999900000 1\n')
        writeFileSync(`/proc/${holder.pid}/gid_map`, '0 3999900000 1\n')
      } catch {
        // gone: the mount below tells
      }
      try {
        await mountTemplate(holder.pid!, { template: join(dir, 'tpl'), upper: join(dir, 'up'), work: join(dir, 'work'), target: join(dir, 'root') })
        return true
      } catch {
        return false
      } finally {
        holder.kill('SIGKILL')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })()
  return probed
}
