/**
 * A snapshot of one capsule as a template root: its files with ids as seen
 * inside and no setuid bits (layer.ts copyTree), plus its changes to the host
 * system (system-snapshot.ts). Copied with the capsule frozen: a consistent
 * tree, and no process can swap a directory for a link under the copy (which
 * runs as host root).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { conflict } from '../../core/errors.ts'
import { alive, diskImage, freeze, thaw, type Capsule, type SystemView } from './capsule.ts'
import { DISK_MOUNT } from './disk.ts'
import { copyTree, mountPoints, toInside } from './layer.ts'
import { systemUpper } from './root.ts'
import { copySystemChanges } from './system-snapshot.ts'
import { slug } from './system.ts'

export async function snapshotCapsule(c: Capsule, destRootDir: string, o: { system: SystemView; range: number }) {
  await mkdir(destRootDir, { recursive: true, mode: 0o700 })
  const wasRunning = c.state === 'running' && alive(c)
  const system = o.system?.dirs ?? []
  // a capsule over a template, on a disk image or over the host system: its files are the merged view, seen through its pid 1
  const live = !!(c.meta.lower || c.meta.diskMb || system.length)
  if (live && !(c.pids && alive(c))) throw conflict(`capsule ${c.meta.id} is stopped; resume it to snapshot its files`, 'capsule_not_running')
  const root = `/proc/${c.pids?.pid1}/root`
  const shift = toInside(c.base, o.range)
  if (wasRunning) await freeze(c)
  try {
    const mounts = live ? await mountPoints(c.pids!.pid1) : new Set<string>()
    await copyTree(live ? `${root}/.` : c.layer, join(destRootDir, 'fs'), shift, { stripSetid: true, mounts })
    // the disk as the boot chain (bwrap's monitor) sees it
    const disk = diskImage(c) ? `/proc/${c.pids?.monitor}/root${DISK_MOUNT}` : c.dir
    for (const dir of live ? system : [])
      await copySystemChanges({ hostDir: dir, root, upper: systemUpper(disk, dir), template: c.meta.lower ? join(c.meta.lower, dir) : null, mask: join(o.system!.maskDir, slug(dir)), dest: join(destRootDir, 'fs', dir), shift, mounts })
  } finally {
    if (wasRunning) await thaw(c)
  }
  await writeFile(join(destRootDir, 'template.json'), JSON.stringify({ format: 1, ids: 'inside', contents: 'files', source: c.meta.id, createdAt: new Date().toISOString() }))
}
