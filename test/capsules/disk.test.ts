/**
 * Disk limits and the writable system through the HTTP API: disk_size_mb is
 * enforced by the kernel (ENOSPC inside) while other capsules and nestbox keep
 * working, disk_used_mb follows what the capsule holds, and a package installed
 * with dpkg lands in the capsule, not on the host.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestNestbox } from '../harness.ts'
import { createCapsule, exec, start } from './fixtures.ts'

let nb: TestNestbox
let full: string
let other: string
const work = mkdtempSync(join(tmpdir(), 'nestbox-disk-api-'))
const sh = async (id: string, cmd: string) => {
  const r = await exec(nb, id, { cmd, timeout_sec: 60 })
  assert.is(r.status, 200, JSON.stringify(r.body))
  return { code: r.body.exit_code as number, out: r.body.stdout as string, err: r.body.stderr as string }
}
const usedMb = async (id: string) => (await (await nb.api(`/v1/capsules/${id}`)).json()).disk_used_mb as number
/** disk_used_mb comes from the newest metrics sample: waits (up to 5 s) for one that shows the change. */
async function usedMbOnce(id: string, ok: (mb: number) => boolean) {
  let mb = await usedMb(id)
  for (let i = 0; i < 100 && !ok(mb); i++) {
    await new Promise((r) => setTimeout(r, 50))
    mb = await usedMb(id)
  }
  return mb
}

test.before(async () => {
  nb = await start()
  ;[full, other] = await Promise.all([createCapsule(nb, { disk_size_mb: 40 }), createCapsule(nb, { disk_size_mb: 40 })])
})
test.after(async () => {
  await nb?.close()
  rmSync(work, { recursive: true, force: true })
})

test('a capsule filling its disk_size_mb gets ENOSPC; the other capsule and nestbox keep working', async () => {
  const r = await sh(full, 'dd if=/dev/zero of=/root/fill bs=1M count=100; cat /dev/zero > /root/fill2; df -Pk / | tail -1')
  assert.match(r.err, /No space left on device/)
  const size = Number(r.out.trim().split(/\s+/)[1])
  assert.ok(size <= 40 * 1024 && size > 30 * 1024, `df: ${r.out}`)
  const used = await usedMbOnce(full, (mb) => mb > 30)
  assert.ok(used > 30 && used <= 40, `disk_used_mb ${used}`)

  assert.is((await sh(other, 'head -c 5M /dev/urandom > /root/five && sync && echo ok')).out, 'ok\n')
  const otherUsed = await usedMbOnce(other, (mb) => mb >= 5)
  assert.ok(otherUsed >= 5 && otherUsed < 7, `disk_used_mb ${otherUsed}`)
  // nestbox writes its database and boots capsules as before
  const third = await createCapsule(nb, { disk_size_mb: 16 })
  assert.is((await sh(third, 'echo fine')).out, 'fine\n')
  assert.is((await nb.api(`/v1/capsules/${third}`, { method: 'DELETE' })).status, 202)

  assert.is((await sh(full, 'rm /root/fill /root/fill2 && echo freed')).out, 'freed\n')
  assert.ok((await usedMbOnce(full, (mb) => mb < 2)) < 2)
})

test('dpkg -i through the API installs into the capsule, never onto the host', async () => {
  const pkg = `nbx-api-${process.pid}`
  const root = join(work, 'deb')
  mkdirSync(join(root, 'DEBIAN'), { recursive: true })
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true })
  writeFileSync(join(root, 'DEBIAN', 'control'), `Package: ${pkg}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: test\n`)
  writeFileSync(join(root, 'usr', 'bin', pkg), '#!/bin/sh\necho installed\n')
  chmodSync(join(root, 'usr', 'bin', pkg), 0o755)
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', root, join(work, 'p.deb')], { stdio: 'ignore' })
  const fd = new FormData()
  fd.append('path', '/tmp/p.deb')
  fd.append('file', new Blob([readFileSync(join(work, 'p.deb'))]), 'p.deb')
  assert.is((await nb.api(`/v1/capsules/${other}/files/write`, { method: 'POST', body: fd })).status, 204)
  const r = await sh(other, `dpkg -i /tmp/p.deb >/dev/null && ${pkg}`)
  assert.is(r.out, 'installed\n', r.err)
  assert.not.ok(existsSync(`/usr/bin/${pkg}`))
  assert.not.match(readFileSync('/var/lib/dpkg/status', 'utf8'), new RegExp(pkg))
})

test.run()
