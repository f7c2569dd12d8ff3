/**
 * How nestbox enters a capsule, attacked from inside: nothing nestbox starts in a
 * capsule holds more than the capsule's own privileges, its way in rests on no
 * file the capsule can change, and a snapshot copies nothing mounted in from the
 * host.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { CAPSULE_CAPS } from '../../lib/capsules/runtime/sandbox.ts'
import { sh, sleep, spec, testRuntime } from './runtime-helpers.ts'

const t = testRuntime()
const { rt } = t
const work = mkdtempSync(join(tmpdir(), 'nestbox-entry-'))
test.after(async () => {
  await t.close()
  rmSync(work, { recursive: true, force: true })
})

/** The documented set (README, "Capsules"), as /proc/PID/status prints it. */
const CAPS_HEX = (() => {
  const numbers: Record<string, number> = { chown: 0, dac_override: 1, fowner: 3, fsetid: 4, kill: 5, setgid: 6, setuid: 7, net_bind_service: 10, sys_chroot: 18 }
  return CAPSULE_CAPS.reduce((m, c) => m | (1n << BigInt(numbers[c])), 0n).toString(16).padStart(16, '0')
})()
const layerOf = (id: string) => join(t.dataDir, 'runtime', 'capsules', id, 'layer')
const status = (text: string, field: string) => new RegExp(`(?:^|\\s)${field}:\\s+(\\S+)`).exec(text)?.[1]

/**
 * A stand-in for the dynamic loader, built freestanding (no libc): it copies
 * /proc/self/status of whatever process runs it to /tmp/loader-ran.
 */
function buildFakeLoader(): string {
  const src = join(work, 'fake-ld.c')
  writeFileSync(
    src,
    `static long sys(long n, long a, long b, long c) { long r; __asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory"); return r; }
static char buf[8192];
void _start(void) {
  long fd = sys(2, (long)"/proc/self/status", 0, 0);
  long n = sys(0, fd, (long)buf, sizeof buf);
  long out = sys(2, (long)"/tmp/loader-ran", 01 | 0100 | 01000, 0644);
  sys(1, out, (long)buf, n);
  sys(231, 0, 0, 0);
}
`,
  )
  const out = join(work, 'fake-ld')
  execFileSync('cc', ['-nostdlib', '-static', '-no-pie', '-fno-pie', '-fno-stack-protector', '-O1', '-o', out, src])
  return out
}

test('a loader planted by capsule root runs with nothing more than the capsule has', async () => {
  const cap = spec()
  await rt.create(cap)
  try {
    await rt.writeFile(cap.id, '/tmp/fake-ld', Readable.from([readFileSync(buildFakeLoader())]), { mode: 0o755 })
    // capsule root swaps /lib64 (a link in its own layer) for a directory with its own loader
    const swap = await sh(rt, cap.id, 'mkdir /lib64.evil && cp /tmp/fake-ld /lib64.evil/ld-linux-x86-64.so.2 && ln -sfn /lib64.evil /lib64')
    assert.is(swap.code, 0, swap.err)
    // the next exec of a dynamic program loads it: as that program's loader, with the capsule's privileges only
    await rt.exec(cap.id, { cmd: '/usr/bin/true', args: [], timeoutMs: 10_000 })
    const proof = join(layerOf(cap.id), 'tmp', 'loader-ran')
    assert.ok(existsSync(proof), 'the planted loader ran')
    const seen = readFileSync(proof, 'utf8')
    assert.is(status(seen, 'CapEff'), CAPS_HEX, 'effective capabilities: the documented set, nothing more')
    assert.is(status(seen, 'CapBnd'), CAPS_HEX, 'bounding set')
    assert.is(status(seen, 'NoNewPrivs'), '1')
    // and as the capsule user: no capabilities at all
    rmSync(proof)
    await rt.exec(cap.id, { cmd: '/usr/bin/true', args: [], user: 'user', timeoutMs: 10_000 }).catch(() => {})
    const asUser = readFileSync(proof, 'utf8')
    assert.is(status(asUser, 'CapEff'), '0000000000000000')
    assert.is(status(asUser, 'CapPrm'), '0000000000000000')
    assert.is(status(asUser, 'CapBnd'), CAPS_HEX)
  } finally {
    await rt.destroy(cap.id)
  }
})

test('the way in rests on no file of the capsule: exec still works with /lib64 removed', async () => {
  const cap = spec()
  await rt.create(cap)
  try {
    assert.is((await sh(rt, cap.id, 'rm /lib64')).code, 0)
    // the capsule's own dynamic programs now need their loader named; nestbox's entry needs nothing
    const r = await rt.exec(cap.id, { cmd: '/usr/lib64/ld-linux-x86-64.so.2', args: ['/usr/bin/echo', 'still in'], timeoutMs: 10_000 })
    assert.is(r.stderr.toString(), '')
    assert.is(r.stdout.toString(), 'still in\n')
    assert.is(r.exitCode, 0)
    // a missing program is the program's error, not the entry's
    const missing = await rt.exec(cap.id, { cmd: '/no/such/program', args: [], timeoutMs: 10_000 })
    assert.is(missing.exitCode, 127)
    assert.match(missing.stderr.toString(), /no\/such\/program/)
  } finally {
    await rt.destroy(cap.id)
  }
})

test('every process nestbox starts in a capsule has the documented capabilities and no_new_privs', async () => {
  const cap = spec()
  await rt.create(cap)
  try {
    const bg = await rt.spawn(cap.id, { cmd: '/bin/sleep', args: ['30'], tag: 'bg' })
    const bgUser = await rt.spawn(cap.id, { cmd: '/bin/sleep', args: ['31'], user: 'user' })
    const term = await rt.pty(cap.id, { cmd: '/bin/sleep', args: ['32'], cols: 80, rows: 24 })
    await rt.readFile(cap.id, '/etc/hostname').then(({ stream }) => stream.resume())
    await sleep(100)
    const r = await sh(rt, cap.id, 'for s in /proc/[0-9]*/status; do tr "\\n" " " < $s; echo; done')
    const procs = r.out.trim().split('\n').filter((l) => l.includes('CapEff'))
    assert.ok(procs.length >= 6, `processes seen: ${procs.length}`)
    for (const p of procs) {
      const name = status(p, 'Name')
      const uid = status(p, 'Uid')
      assert.is(status(p, 'NoNewPrivs'), '1', `${name}: no_new_privs`)
      if (status(p, 'Pid') === '1') {
        // bwrap's reaper: no capabilities at all (its bounding set cannot matter then)
        assert.is(status(p, 'CapPrm'), '0000000000000000', 'pid 1')
        continue
      }
      assert.is(status(p, 'CapBnd'), CAPS_HEX, `${name}: bounding set`)
      assert.is(status(p, 'CapEff'), uid === '0' ? CAPS_HEX : '0000000000000000', `${name} (uid ${uid}): effective set`)
      assert.is(status(p, 'CapAmb'), '0000000000000000', `${name}: ambient set`)
      assert.is(status(p, 'CapInh'), '0000000000000000', `${name}: inheritable set`)
    }
    bg.kill()
    bgUser.kill()
    term.kill()
  } finally {
    await rt.destroy(cap.id)
  }
})

test('a snapshot never copies a host file bound into the capsule', async () => {
  const src = spec()
  await rt.create(src)
  const tpl = join(work, 'tpl')
  const copy = spec({ template: { name: 'snap', rootDir: tpl } })
  try {
    await rt.snapshot(src.id, tpl)
    await rt.create(copy) // over the template: its files are the merged view
    assert.is((await sh(rt, copy.id, 'echo mine > /root/notes && touch /root/stolen')).code, 0)
    // what an attacker with mount rights in the capsule did: bind a root-only host file into its tree
    const pid1 = Number(JSON.parse(readFileSync(join(t.dataDir, 'runtime', 'capsules', copy.id, 'state.json'), 'utf8')).pid1)
    const bind = spawnSync('nsenter', ['-t', String(pid1), '-m', '--', 'mount', '--bind', '/etc/shadow', '/root/stolen'], { encoding: 'utf8' })
    assert.is(bind.status, 0, bind.stderr)
    const dest = join(work, 'tpl2')
    await rt.snapshot(copy.id, dest)
    assert.is(readFileSync(join(dest, 'fs', 'root', 'notes'), 'utf8'), 'mine\n', 'the capsule own files are kept')
    const stolen = join(dest, 'fs', 'root', 'stolen')
    assert.not.ok(existsSync(stolen) && readFileSync(stolen, 'utf8') === readFileSync('/etc/shadow', 'utf8'), 'the host file is not in the snapshot')
    assert.not.ok(existsSync(stolen), 'a file from another filesystem is left out')
  } finally {
    await rt.destroy(copy.id).catch(() => {})
    await rt.destroy(src.id)
  }
})

test.run()
