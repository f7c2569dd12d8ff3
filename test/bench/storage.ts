/**
 * Storage benchmark (issue 5), against `node main.ts serve` in its own process:
 *
 *  1. 256 MiB PUT and GET over loopback with curl, next to writing (+fsync) and
 *     reading the same bytes on the same disk directly, in the same run (target
 *     ≥ 0.7×), and the PUT next to MD5 (the ETag) of the same bytes on one core
 *     (issue 17: on two or more cores hashing overlaps receiving, target ≥ 0.85×). Reading "directly" is shown two ways: from the page cache (memory
 *     bandwidth, which no network transfer approaches) and from the disk itself
 *     (O_DIRECT); a bare node:http server sending from memory gives the GET's ceiling,
 *     one receiving and writing (with and without MD5) the PUT's;
 *  2. resident memory growth of the server while a 2 GiB object goes up and comes
 *     back down (target < 64 MiB: bodies stream, never buffered);
 *  3. 4 KiB objects, 16 concurrent keep-alive clients (wrk): PUT/s and GET/s, next
 *     to a plain write + fsync + rename loop of 4 KiB files (targets PUT ≥ 0.5×
 *     the loop, GET ≥ 5,000/s);
 *  4. one page of 1,000 keys (S3 ListObjectsV2) from a bucket of 100,000 keys, p50
 *     (target ≤ 20 ms). The 100,000 rows are inserted into the database before the
 *     server starts (PUTting them would only time the PUT path again).
 *
 *   node test/bench/storage.ts [--rounds N] [--seconds S] [--skip-2g] [--large-only]
 *
 * BENCH_NODE_OPTIONS is passed to the server as NODE_OPTIONS (e.g.
 * "--max-semi-space-size=1" to see how much of the RSS growth is V8's young
 * generation sizing up rather than data held).
 */
import { request } from 'node:http'
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { openSqlite } from '../../lib/core/db.ts'
import { migrate } from '../../lib/core/migrations.ts'
import { cpuMs, freePort, haveWrk, median, memoryMb, printTable, startProcess, waitHealthy, type Proc } from './lib/measure.ts'
import { execFileSync, spawn } from 'node:child_process'

const root = new URL('../..', import.meta.url).pathname
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const ROUNDS = arg('rounds', 3)
const SECONDS = arg('seconds', 5)
const SKIP_2G = process.argv.includes('--skip-2g')
/** Only sections 1 and 2 (large objects). */
const LARGE_ONLY = process.argv.includes('--large-only')
const MiB = 1024 * 1024
const KEY = 'bench-bucket-key-0123456789abcdef'
const work = mkdtempSync(join(tmpdir(), 'nestbox-bench-storage-'))
const dataDir = join(work, 'data')

if (!LARGE_ONLY && !haveWrk()) {
  console.error('wrk is not installed: run bin/deps.sh --test (Debian package wrk)')
  process.exit(1)
}

// ---- 100,000 listed keys, inserted before the server starts
mkdirSync(dataDir, { recursive: true })
{
  const db = openSqlite(join(dataDir, 'nestbox.db'))
  migrate(db)
  const now = Date.now()
  db.prepare("INSERT INTO storage_buckets (name, public_read, access_key, secret_key, source, created_at) VALUES ('bench', 0, 'bench', ?, 'config', ?)").run(KEY, now)
  const ins = db.prepare("INSERT INTO storage_objects (bucket, key, file, size, etag, content_type, last_modified) VALUES ('bench', ?, ?, 4096, ?, 'application/octet-stream', ?)")
  db.transaction(() => {
    for (let i = 0; i < 100_000; i++) ins.run(`many/${String(i).padStart(6, '0')}.bin`, 'f'.repeat(32), createHash('md5').update(String(i)).digest('hex'), now)
  })()
  db.close()
}

const port = await freePort()
const buckets = JSON.stringify([{ name: 'bench', key: KEY, maxObjectSizeMb: 4096 }])
const server: Proc = startProcess(process.execPath, [join(root, 'main.ts'), 'serve', '--data-dir', dataDir, '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn', '--set', `storage.buckets=${buckets}`], {
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '' },
  logFile: join(work, 'nestbox.log'),
})
const pid = server.child.pid!
const base = `http://127.0.0.1:${port}/storage/bench`
await waitHealthy(`http://127.0.0.1:${port}/storage/health`, performance.now(), 20_000)
const auth = { authorization: `Bearer ${KEY}` }

/** Streams `total` bytes up (PUT) from one reused 1 MiB buffer; resolves to seconds taken. */
function put(key: string, total: number, chunk: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = request(`${base}/${key}`, { method: 'PUT', headers: { ...auth, 'content-length': String(total) } }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 200 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`PUT ${res.statusCode}`))))
    })
    req.on('error', reject)
    let sent = 0
    const pump = () => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent)
        sent += n
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump)
      }
      req.end()
    }
    pump()
  })
}

/** Downloads and discards; resolves to [seconds, bytes]. */
function get(key: string): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    request(`${base}/${key}`, { headers: auth }, (res) => {
      let n = 0
      res.on('data', (d: Buffer) => (n += d.length))
      res.on('end', () => (res.statusCode === 200 ? resolve([(performance.now() - t0) / 1000, n]) : reject(new Error(`GET ${res.statusCode}`))))
    })
      .on('error', reject)
      .end()
  })
}

/**
 * curl (a C client, so the client's own cost stays small) uploading or downloading; resolves to MB/s as curl
 * measured it. Uploads ask `Expect: 100-continue` as curl (like the AWS SDKs) does for large bodies by default.
 */
function curl(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn('curl', ['-s', '-f', '-H', `authorization: Bearer ${KEY}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.on('close', (code) => (code === 0 ? resolve(Number(out) / MiB) : reject(new Error(`curl exit ${code}`))))
  })
}

async function directWrite(file: string, total: number, chunk: Buffer): Promise<number> {
  const t0 = performance.now()
  const fh = await open(file, 'w')
  for (let sent = 0; sent < total; sent += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, total - sent))
  await fh.sync()
  await fh.close()
  return (performance.now() - t0) / 1000
}
/** Reads the file from the disk itself (O_DIRECT via dd, bypassing the page cache); resolves to seconds. */
function diskRead(file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const c = spawn('dd', [`if=${file}`, 'of=/dev/null', 'bs=4M', 'iflag=direct'], { stdio: 'ignore' })
    c.on('close', (code) => (code === 0 ? resolve((performance.now() - t0) / 1000) : reject(new Error(`dd exit ${code}`))))
  })
}

/** The ceiling of a Node HTTP server here: a bare node:http server sending the same bytes from memory, fetched by curl. */
async function bareHttp(total: number): Promise<number> {
  const { createServer } = await import('node:http')
  const chunk = Buffer.alloc(MiB, 1)
  const srv = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(total) })
    let sent = 0
    const pump = () => {
      while (sent < total) {
        sent += MiB
        if (!res.write(chunk)) return void res.once('drain', pump)
      }
      res.end()
    }
    pump()
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const p = (srv.address() as { port: number }).port
  const mbs = await curl(['-o', '/dev/null', '-w', '%{speed_download}', `http://127.0.0.1:${p}/`])
  srv.close()
  return mbs
}

/**
 * The PUT ceiling of a Node HTTP server here: a bare node:http server receiving the
 * upload (curl -T, as nestbox gets it) and writing it as nestbox does (1 MiB writev
 * batches, up to 3 in flight, fsync), with or without MD5 of the bytes inline.
 */
async function bareHttpPut(file: string, md5: boolean): Promise<number> {
  const { createServer } = await import('node:http')
  const srv = createServer(async (req, res) => {
    const fh = await open(join(work, 'bare-put.bin'), 'w')
    const h = md5 ? createHash('md5') : null
    let batch: Buffer[] = []
    let bytes = 0
    let pos = 0
    const inFlight: Promise<unknown>[] = []
    for await (const c of req as AsyncIterable<Buffer>) {
      h?.update(c)
      batch.push(c)
      bytes += c.length
      if (bytes < MiB) continue
      if (inFlight.length >= 3) await inFlight.shift()
      inFlight.push(fh.writev(batch, pos))
      pos += bytes
      batch = []
      bytes = 0
    }
    await Promise.all(inFlight)
    if (batch.length) await fh.writev(batch, pos)
    h?.digest()
    await fh.sync()
    await fh.close()
    res.end()
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const p = (srv.address() as { port: number }).port
  const mbs = await curl(['-T', file, '-o', '/dev/null', '-w', '%{speed_upload}', `http://127.0.0.1:${p}/`])
  srv.close()
  rmSync(join(work, 'bare-put.bin'), { force: true })
  return mbs
}

/** MD5 of `total` bytes on this (one) core, from the page cache; resolves to seconds. */
async function md5OneCore(file: string): Promise<number> {
  const fh = await open(file, 'r')
  const buf = Buffer.allocUnsafe(MiB)
  const h = createHash('md5')
  let hashing = 0
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, MiB)
    if (!bytesRead) break
    const t = performance.now()
    h.update(buf.subarray(0, bytesRead))
    hashing += performance.now() - t
  }
  h.digest()
  await fh.close()
  return hashing / 1000
}

async function directRead(file: string): Promise<number> {
  const t0 = performance.now()
  const fh = await open(file, 'r')
  const buf = Buffer.allocUnsafe(MiB)
  while ((await fh.read(buf, 0, MiB)).bytesRead > 0);
  await fh.close()
  return (performance.now() - t0) / 1000
}

const rows: Array<Array<string | number>> = [['measure', 'nestbox', 'baseline', 'ratio', 'target']]
const fmt = (x: number, d = 0) => x.toFixed(d)

// ---- 2. RSS while 2 GiB passes through (first, on a fresh server)
if (!SKIP_2G) {
  const before = memoryMb(pid).rss
  let peak = before
  const timer = setInterval(() => (peak = Math.max(peak, memoryMb(pid).rss)), 50)
  await put('huge.bin', 2048 * MiB, randomBytes(MiB))
  const upPeak = peak
  const [, n] = await get('huge.bin')
  clearInterval(timer)
  if (n !== 2048 * MiB) throw new Error('2 GiB GET came back short')
  await fetch(`${base}/huge.bin`, { method: 'DELETE', headers: auth })
  rows.push(['2 GiB PUT, server RSS growth MiB', fmt(upPeak - before, 1), '', '', '< 64'])
  rows.push(['2 GiB PUT+GET, server RSS growth MiB', fmt(peak - before, 1), '', '', '< 64'])
}

// ---- 1. 256 MiB
{
  const size = 256 * MiB
  const chunk = randomBytes(MiB)
  const putMb: number[] = [], getMb: number[] = [], wMb: number[] = [], rMb: number[] = [], dMb: number[] = [], tMb: number[] = [], md5Mb: number[] = [], bpMb: number[] = [], bpmMb: number[] = [], putCpu: number[] = [], md5Ms: number[] = []
  // Each step starts on a settled disk: deleting the last step's 256 MiB file makes this discard-mounted
  // disk trim it in the background, and writeback of what it wrote may still run.
  const settle = async () => (execFileSync('sync'), await new Promise((r) => setTimeout(r, 250)))
  for (let i = 0; i < ROUNDS; i++) {
    await settle()
    wMb.push(256 / (await directWrite(join(work, 'direct.bin'), size, chunk)))
    await settle()
    rMb.push(256 / (await directRead(join(work, 'direct.bin'))))
    const md5s = await md5OneCore(join(work, 'direct.bin'))
    md5Mb.push(256 / md5s)
    md5Ms.push((md5s * 1000) / 256)
    await settle()
    dMb.push(256 / (await diskRead(join(work, 'direct.bin'))))
    tMb.push(await bareHttp(size))
    await settle()
    bpMb.push(await bareHttpPut(join(work, 'direct.bin'), false))
    await settle()
    bpmMb.push(await bareHttpPut(join(work, 'direct.bin'), true))
    await settle()
    const cpu0 = cpuMs(pid)
    putMb.push(await curl(['-T', join(work, 'direct.bin'), '-o', '/dev/null', '-w', '%{speed_upload}', `${base}/large.bin`]))
    putCpu.push((cpuMs(pid) - cpu0) / 256)
    await settle()
    getMb.push(await curl(['-o', '/dev/null', '-w', '%{speed_download}', `${base}/large.bin`]))
  }
  const [, n] = await get('large.bin')
  if (n !== size) throw new Error(`GET returned ${n} bytes`)
  rmSync(join(work, 'direct.bin'))
  rows.push(['256 MiB PUT vs write+fsync, MB/s', fmt(median(putMb)), fmt(median(wMb)), (median(putMb) / median(wMb)).toFixed(2), '≥ 0.70'])
  rows.push(['256 MiB PUT vs MD5 on one core, MB/s', fmt(median(putMb)), fmt(median(md5Mb)), (median(putMb) / median(md5Mb)).toFixed(2), '≥ 0.85'])
  // CPU per MiB does not depend on what else the machine runs: MD5 alone takes the second column
  rows.push(['256 MiB PUT, server CPU ms per MiB (all threads)', fmt(median(putCpu), 2), fmt(median(md5Ms), 2), '', '(MD5 alone)'])
  rows.push(['256 MiB PUT vs bare node:http receive+write+fsync', fmt(median(putMb)), fmt(median(bpMb)), (median(putMb) / median(bpMb)).toFixed(2), '(ceiling)'])
  rows.push(['256 MiB PUT vs bare node:http receive+MD5+write+fsync', fmt(median(putMb)), fmt(median(bpmMb)), (median(putMb) / median(bpmMb)).toFixed(2), '(ceiling)'])
  rows.push(['256 MiB GET vs page-cache read, MB/s', fmt(median(getMb)), fmt(median(rMb)), (median(getMb) / median(rMb)).toFixed(2), '≥ 0.70'])
  rows.push(['256 MiB GET vs O_DIRECT disk read', fmt(median(getMb)), fmt(median(dMb)), (median(getMb) / median(dMb)).toFixed(2), '≥ 0.70'])
  rows.push(['256 MiB GET vs bare node:http from memory', fmt(median(getMb)), fmt(median(tMb)), (median(getMb) / median(tMb)).toFixed(2), '(ceiling)'])
}

// ---- 3. 4 KiB objects, 16 keep-alive clients
if (!LARGE_ONLY) {
function wrkScript(kind: 'put' | 'get'): string {
  const body = 'x'.repeat(4096)
  const file = join(work, `${kind}.lua`)
  writeFileSync(
    file,
    kind === 'put'
      ? `counter = 0\nrequest = function()\n  counter = counter + 1\n  return wrk.format("PUT", "/storage/bench/small/" .. tostring(math.random(1, 1000000000)) .. "-" .. counter, { ["Authorization"] = "Bearer ${KEY}" }, "${body}")\nend\n`
      : `request = function()\n  return wrk.format("GET", "/storage/bench/small-get/" .. tostring(math.random(0, 999)), { ["Authorization"] = "Bearer ${KEY}" })\nend\n`,
  )
  return file
}
function wrkRps(script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const c = spawn('wrk', ['-t', '2', '-c', '16', '-d', `${SECONDS}s`, '-s', script, `http://127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.stderr.on('data', (d) => (out += d))
    c.on('close', () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1])
      if (!rps || /Non-2xx|Socket errors/.test(out)) reject(new Error(`wrk: ${out}`))
      else resolve(rps)
    })
  })
}
function fsyncLoop(seconds: number): number {
  const dir = join(work, 'loop')
  mkdirSync(dir, { recursive: true })
  const body = Buffer.alloc(4096, 'x')
  const t0 = performance.now()
  let n = 0
  while (performance.now() - t0 < seconds * 1000) {
    const tmp = join(dir, `tmp-${n}`)
    const fd = openSync(tmp, 'w')
    writeSync(fd, body)
    fsyncSync(fd)
    closeSync(fd)
    renameSync(tmp, join(dir, `obj-${n}`))
    n++
  }
  rmSync(dir, { recursive: true, force: true })
  return n / ((performance.now() - t0) / 1000)
}
{
  for (let i = 0; i < 1000; i++) await put(`small-get/${i}`, 4096, Buffer.alloc(4096, 'y'))
  const putScript = wrkScript('put')
  const getScript = wrkScript('get')
  const puts: number[] = [], loops: number[] = [], gets: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    loops.push(fsyncLoop(SECONDS))
    puts.push(await wrkRps(putScript))
    gets.push(await wrkRps(getScript))
  }
  rows.push(['4 KiB PUT/s (16 clients)', fmt(median(puts)), fmt(median(loops)), (median(puts) / median(loops)).toFixed(2), '≥ 0.50'])
  rows.push(['4 KiB GET/s (16 clients)', fmt(median(gets)), '', '', '≥ 5000'])
}

// ---- 4. list one page of 1,000 from 100,000 keys
{
  const times: number[] = []
  for (let i = 0; i < 60; i++) {
    const after = `many/${String((i * 1613) % 99_000).padStart(6, '0')}.bin`
    const t0 = performance.now()
    const r = await fetch(`${base}?list-type=2&prefix=many/&max-keys=1000&start-after=${encodeURIComponent(after)}`, { headers: auth })
    const xml = await r.text()
    const t = performance.now() - t0
    if (r.status !== 200 || (xml.match(/<Key>/g)?.length ?? 0) !== 1000) throw new Error(`list failed: ${r.status}`)
    if (i >= 10) times.push(t) // first requests warm up the JIT
  }
  const sorted = [...times].sort((a, b) => a - b)
  rows.push(['list 1,000 of 100,000 keys, p50 ms', fmt(median(times), 1), '', `p90 ${fmt(sorted[Math.floor(sorted.length * 0.9)], 1)}`, '≤ 20'])
}
}

await server.stop()
rmSync(work, { recursive: true, force: true })
printTable(`storage benchmark (${ROUNDS} rounds, medians; machine shared, figures noisy; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`, rows)
