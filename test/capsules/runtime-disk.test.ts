/**
 * Disk limits in the process runtime (disk.ts): a capsule's files live in a
 * loop-mounted image of its size, so filling it fails inside with ENOSPC while
 * other capsules and the host keep writing; the size holds across pause/resume,
 * restart of nestbox and snapshots, and disk use is measured from its filesystem.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sh, spec, testRuntime } from './runtime-helpers.ts'

const MB = 1024 * 1024
const t = testRuntime()
const { rt } = t
test.after(() => t.close())

/** Size and use of `/` inside, in KiB (df). */
const df = async (id: string) => {
  const r = await sh(rt, id, 'df -Pk / | tail -1')
  const [, size, used] = r.out.trim().split(/\s+/)
  return { size: Number(size), used: Number(used) }
}

test('a capsule filling its disk gets ENOSPC inside; another capsule and the host keep writing', async () => {
  const full = spec({ diskMb: 40 })
  const other = spec({ diskMb: 40 })
  await Promise.all([rt.create(full), rt.create(other)])
  const { size } = await df(full.id)
  assert.ok(size > 30 * 1024 && size <= 40 * 1024, `the disk is about its 40 MiB (df: ${size} KiB)`)
  const image = join(t.dataDir, 'runtime', 'capsules', full.id, 'disk.img')
  assert.ok(existsSync(image) && statSync(image).size === 40 * MB, 'a 40 MiB image')
  assert.ok(!existsSync(join(t.dataDir, 'runtime', 'capsules', full.id, 'layer')), 'no files of the capsule in the data dir')

  const fill = await sh(rt, full.id, 'dd if=/dev/zero of=/root/fill bs=1M count=100 2>&1; echo "exit=$?"; cat /dev/zero > /root/fill2 2>/dev/null; true')
  assert.match(fill.out, /No space left on device/)
  assert.match(fill.out, /exit=1/)
  // writes into the host's directories land on the same disk: they fail too
  assert.match((await sh(rt, full.id, '{ head -c 1M /dev/zero > /usr/local/x; head -c 1M /dev/zero > /etc/x; } 2>&1; true')).out, /No space left on device/)
  const m = await rt.metrics(full.id)
  assert.ok(m.diskBytes > 30 * MB && m.diskBytes <= 40 * MB, `disk use is the filled disk: ${m.diskBytes}`)

  // the neighbour and the host are untouched by it
  const ok = await sh(rt, other.id, 'dd if=/dev/zero of=/root/ten bs=1M count=10 2>/dev/null && sync && echo done')
  assert.is(ok.out, 'done\n')
  const host = join(t.dataDir, 'host-write')
  writeFileSync(host, Buffer.alloc(MB))
  assert.is(statSync(host).size, MB)
  const used = (await rt.metrics(other.id)).diskBytes
  assert.ok(used >= 10 * MB && used < 12 * MB, `disk use follows what was written: ${used}`)

  // freeing space works again, and disk use follows
  assert.is((await sh(rt, full.id, 'rm /root/fill /root/fill2 && echo x > /root/small && cat /root/small')).out, 'x\n')
  assert.ok((await rt.metrics(full.id)).diskBytes < 2 * MB)
  await Promise.all([rt.destroy(full.id), rt.destroy(other.id)])
  assert.not.ok(existsSync(image), 'destroy removes the image')
})

test('the limit survives pause/resume, a restart of nestbox and a snapshot', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-disk-'))
  const first = testRuntime({ dataDir, onShutdown: 'stop' })
  const c = spec({ diskMb: 32 })
  try {
    await first.rt.create(c)
    await sh(first.rt, c.id, 'echo kept > /root/kept')
    await first.rt.pause(c.id)
    await first.rt.resume(c.id)
    assert.match((await sh(first.rt, c.id, '{ head -c 40M /dev/zero > /root/f; } 2>&1; rm -f /root/f')).out, /No space left/)
    await first.rt.shutdown()

    const second = testRuntime({ dataDir, uidBase: first.uidBase })
    try {
      assert.equal(await second.rt.recover([c.id]), { [c.id]: 'files-only' })
      await second.rt.resume(c.id)
      assert.is((await sh(second.rt, c.id, 'cat /root/kept')).out, 'kept\n', 'its files are on the image')
      assert.ok((await df2(second.rt, c.id)) <= 32 * 1024)
      assert.match((await sh(second.rt, c.id, '{ head -c 40M /dev/zero > /root/f; } 2>&1; rm -f /root/f')).out, /No space left/)

      const snap = join(dataDir, 'snap')
      await second.rt.snapshot(c.id, snap)
      assert.is(readdirSync(join(snap, 'fs', 'root')).includes('kept'), true)
      const fromSnap = spec({ diskMb: 24, template: { name: 'snap', rootDir: snap } })
      await second.rt.create(fromSnap)
      assert.is((await sh(second.rt, fromSnap.id, 'cat /root/kept')).out, 'kept\n')
      assert.ok((await df2(second.rt, fromSnap.id)) <= 24 * 1024, 'the new capsule has the size it asked for')
      assert.match((await sh(second.rt, fromSnap.id, '{ head -c 30M /dev/zero > /root/f; } 2>&1; true')).out, /No space left/)
      await second.rt.destroy(fromSnap.id)
      await second.rt.destroy(c.id)
    } finally {
      await second.close()
    }
  } finally {
    await first.close().catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('a capsule left running across a restart of nestbox keeps its disk and limit (re-attached)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nestbox-disk-keep-'))
  const first = testRuntime({ dataDir, onShutdown: 'keep' })
  const c = spec({ diskMb: 24 })
  try {
    await first.rt.create(c)
    await sh(first.rt, c.id, 'head -c 4M /dev/urandom > /root/four && sync')
    await first.rt.shutdown()
    const second = testRuntime({ dataDir, uidBase: first.uidBase })
    try {
      assert.equal(await second.rt.recover([c.id]), { [c.id]: 'running' })
      const used = (await second.rt.metrics(c.id)).diskBytes
      assert.ok(used >= 4 * MB && used < 6 * MB, `disk use read through the re-attached capsule: ${used}`)
      assert.match((await sh(second.rt, c.id, '{ head -c 30M /dev/zero > /root/f; } 2>&1; rm -f /root/f; ls /root')).out, /No space left[^]*four/)
      await second.rt.destroy(c.id)
    } finally {
      await second.close()
    }
  } finally {
    await first.close().catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
  }
})

const df2 = async (r: typeof rt, id: string) => Number((await sh(r, id, 'df -Pk / | tail -1')).out.trim().split(/\s+/)[1])

test.run()
