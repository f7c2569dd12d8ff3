/**
 * A system the capsule can change (system.ts): the host's /usr, /etc and the
 * package manager's state are copy-on-write inside, owned by the capsule's
 * root, so dpkg, pip and npm -g install as on a machine of its own; the host's
 * files never change, other capsules do not see it, snapshots keep it (added
 * files, removed ones, replaced directories), and what the host keeps from
 * others stays hidden.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, createReadStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sh, spec, testRuntime } from './runtime-helpers.ts'

const t = testRuntime()
const { rt } = t
const work = mkdtempSync(join(tmpdir(), 'nestbox-system-'))
const a = spec({ diskMb: 512 })
const b = spec()
const PKG = `nbx-hello-${process.pid}`

test.before(async () => {
  await Promise.all([rt.create(a), rt.create(b)])
})
test.after(async () => {
  await t.close()
  rmSync(work, { recursive: true, force: true })
})

/** A tiny Debian package, built on the host with dpkg-deb. */
function buildDeb(): string {
  const root = join(work, 'deb')
  mkdirSync(join(root, 'DEBIAN'), { recursive: true })
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true })
  writeFileSync(join(root, 'DEBIAN', 'control'), `Package: ${PKG}\nVersion: 1.0\nArchitecture: all\nMaintainer: nestbox tests <t@example.com>\nDescription: a test package\n`)
  writeFileSync(join(root, 'usr', 'bin', PKG), '#!/bin/sh\necho hello from the package\n')
  chmodSync(join(root, 'usr', 'bin', PKG), 0o755)
  const deb = join(work, `${PKG}.deb`)
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', root, deb], { stdio: 'ignore' })
  return deb
}

test('root owns the system inside and can change it; the host and other capsules see nothing of it', async () => {
  const r = await sh(rt, a.id, 'stat -c "%U %a" /usr /etc /usr/bin/env /var/lib/dpkg/status && echo changed > /usr/bin/env.nbx && echo "# mine" >> /etc/bash.bashrc && rm /etc/debian_version && mkdir -p /usr/local/lib/nbx && echo ok')
  assert.is(r.code, 0, r.err)
  assert.match(r.out, /^root 755\nroot 755\nroot 755\nroot 644\nok\n$/)
  assert.not.ok(existsSync('/usr/bin/env.nbx'), 'the host /usr is unchanged')
  assert.not.match(readFileSync('/etc/bash.bashrc', 'utf8'), /# mine/)
  assert.ok(existsSync('/etc/debian_version'))
  const other = await sh(rt, b.id, 'ls /usr/bin/env.nbx 2>&1; tail -1 /etc/bash.bashrc; cat /etc/debian_version')
  assert.match(other.out, /No such file/)
  assert.not.match(other.out, /# mine/)
})

test('what the host keeps from others stays hidden; accounts are the capsule’s own', async () => {
  const r = await sh(rt, a.id, 'ls -A /etc/ssl/private 2>&1; cat /etc/shadow; grep -c . /etc/passwd; ls /etc/nestbox 2>&1 | wc -l')
  assert.match(r.out, /cannot access '\/etc\/ssl\/private'|^$/m)
  assert.match(r.out, /^root:\*:/m, 'its own shadow file')
  const host = readFileSync('/etc/shadow', 'utf8')
  for (const line of host.split('\n').filter((l) => /^[^:]+:\$/.test(l))) assert.not.ok(r.out.includes(line.split(':')[1]), 'no host password hash')
  assert.is((await sh(rt, a.id, 'useradd -m agent && id -u agent && ls -d /home/agent')).code, 0, 'useradd changes its accounts')
  assert.not.match(readFileSync('/etc/passwd', 'utf8'), /^agent:/m)
})

test('dpkg -i, pip install and npm install -g work as capsule root and survive a snapshot', async () => {
  await rt.writeFile(a.id, '/tmp/pkg.deb', createReadStream(buildDeb()))
  const deb = await sh(rt, a.id, `dpkg -i /tmp/pkg.deb && ${PKG} && dpkg -s ${PKG} | grep Status`, { timeoutMs: 60_000 })
  assert.is(deb.code, 0, deb.out + deb.err)
  assert.match(deb.out, /hello from the package\nStatus: install ok installed/)
  assert.not.match(readFileSync('/var/lib/dpkg/status', 'utf8'), new RegExp(PKG), 'the host dpkg database is unchanged')

  // a wheel made offline inside, installed into the system Python
  const wheel = `import zipfile, base64, hashlib
files = {'nbxdemo/__init__.py': b'X = 42\\n', 'nbxdemo-1.0.dist-info/METADATA': b'Metadata-Version: 2.1\\nName: nbxdemo\\nVersion: 1.0\\n', 'nbxdemo-1.0.dist-info/WHEEL': b'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'}
rec = ''.join(f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}\\n" for n, d in files.items()) + 'nbxdemo-1.0.dist-info/RECORD,,\\n'
with zipfile.ZipFile('/tmp/nbxdemo-1.0-py3-none-any.whl', 'w') as z:
    for n, d in files.items(): z.writestr(n, d)
    z.writestr('nbxdemo-1.0.dist-info/RECORD', rec)
`
  await rt.writeFile(a.id, '/tmp/mkwheel.py', createReadStream(writeTmp('mkwheel.py', wheel)))
  const pip = await sh(rt, a.id, 'python3 /tmp/mkwheel.py && cd / && python3 -m pip install -q --no-index --no-deps --break-system-packages /tmp/nbxdemo-1.0-py3-none-any.whl 2>&1 && python3 -c "import nbxdemo; print(nbxdemo.X, nbxdemo.__file__)"', { timeoutMs: 60_000 })
  assert.is(pip.code, 0, pip.out + pip.err)
  assert.match(pip.out, /42 \/usr\/local\/lib\/python3[^ ]*\/dist-packages\/nbxdemo\/__init__\.py/)

  // a local tarball, packed and installed globally with npm
  const npm = await sh(rt, a.id, `mkdir -p /tmp/nbxpkg && cd /tmp/nbxpkg && printf '%s' '{"name":"nbx-demo","version":"1.0.0","bin":{"nbx-demo":"cli.js"}}' > package.json && printf '#!/usr/bin/env node\\nconsole.log("npm ok")\\n' > cli.js && npm pack --silent >/dev/null && npm install -g --offline --no-audit --no-fund ./nbx-demo-1.0.0.tgz >/dev/null 2>&1; cd / && nbx-demo && ls -d "$(npm root -g)/nbx-demo"`, { timeoutMs: 120_000 })
  assert.is(npm.code, 0, npm.out + npm.err)
  assert.match(npm.out, /^npm ok\n\/usr\/(local\/)?lib\/node_modules\/nbx-demo\n$/)
  assert.not.ok(existsSync(npm.out.trim().split('\n')[1]), 'nothing installed on the host')

  // a replaced directory (opaque in the overlay) and a removed file
  await sh(rt, a.id, 'rm -rf /usr/share/doc/bash && mkdir /usr/share/doc/bash && echo mine > /usr/share/doc/bash/only')
  const snap = join(work, 'snap')
  await rt.snapshot(a.id, snap)
  const c = spec({ diskMb: 512, template: { name: 'snap', rootDir: snap } })
  await rt.create(c)
  try {
    const r = await sh(rt, c.id, `${PKG} && dpkg -s ${PKG} | grep Status && python3 -c "import nbxdemo; print(nbxdemo.X)" && nbx-demo && ls /usr/share/doc/bash && cat /usr/bin/env.nbx && (cat /etc/debian_version 2>&1 || true) && id -u agent`, { timeoutMs: 60_000 })
    assert.is(r.code, 0, r.out + r.err)
    assert.match(r.out, /^hello from the package\nStatus: install ok installed\n42\nnpm ok\nonly\nchanged\ncat: \/etc\/debian_version: No such file or directory\n\d+\n$/)
    // the rest of the host system is there as before
    assert.is((await sh(rt, c.id, 'ls /usr/share/doc | wc -l')).out.trim(), execFileSync('sh', ['-c', 'ls /usr/share/doc | wc -l']).toString().trim())
  } finally {
    await rt.destroy(c.id)
  }
})

test('where templates are copied, not shared, a capsule still gets the changes its template made to the system', async () => {
  const copying = testRuntime({ overlayTemplates: false, uidBase: t.uidBase + 20 * 65_536 })
  const src = spec()
  try {
    await copying.rt.create(src)
    assert.is((await sh(copying.rt, src.id, 'mkdir -p /usr/local/share/nbx && echo kept > /usr/local/share/nbx/f && echo "# tpl" >> /etc/bash.bashrc')).code, 0)
    const snap = join(work, 'snap-copied')
    await copying.rt.snapshot(src.id, snap)
    const c = spec({ template: { name: 'snap', rootDir: snap } })
    await copying.rt.create(c)
    assert.is((await sh(copying.rt, c.id, 'cat /usr/local/share/nbx/f; tail -1 /etc/bash.bashrc; ls /usr/bin/env')).out, 'kept\n# tpl\n/usr/bin/env\n')
    assert.ok(existsSync(join(copying.dataDir, 'runtime', 'capsules', c.id, 'host', 'usr', 'up', 'local', 'share', 'nbx', 'f')), 'copied into its own changes')
  } finally {
    await copying.close()
  }
})

function writeTmp(name: string, text: string) {
  const p = join(work, name)
  writeFileSync(p, text)
  return p
}

test.run()
