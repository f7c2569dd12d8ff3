/**
 * The floor under the port proxy's throughput target (issue 10: ≥ 0.8 × the same
 * requests made next to the app). A handed-over host-form connection costs one
 * relay between two TCP connections; this bench measures that design without
 * nestbox, capsules or namespaces, so nothing else is in the way:
 *   - wrk straight to a small Node app on loopback (the baseline);
 *   - wrk through a C relay that copies the bytes (epoll, read, write: what the
 *     capsule anchor's relay.c does);
 *   - wrk through the same relay with the two sockets joined in the kernel (a
 *     BPF sockhash and a stream verdict program redirecting each segment to the
 *     other socket), the way left when copying is too slow; root only.
 * Rounds are interleaved; wrk -t1 -c8 keep-alive, as network.ts runs it.
 *
 *   node test/bench/port-floor.ts [--quick]
 */
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { buildJoinRelay } from './lib/join-relay.ts'
import { freePort, haveWrk, median, printTable, startProcess, waitHealthy, wrk, type Proc } from './lib/measure.ts'

const quick = process.argv.includes('--quick')
const SECONDS = quick ? 3 : 6
const ROUNDS = quick ? 3 : 5
if (!haveWrk()) {
  console.error('wrk is not installed: run bin/deps.sh --test (Debian package wrk)')
  process.exit(1)
}

const relay = buildJoinRelay()

const procs: Proc[] = []
try {
  const [appPort, copyPort, joinPort] = [await freePort(), await freePort(), await freePort()]
  procs.push(startProcess(process.execPath, ['-e', `require('http').createServer((q,s)=>s.end('ok')).listen(${appPort},'127.0.0.1')`]))
  procs.push(startProcess(relay, ['copy', String(copyPort), String(appPort)]))
  procs.push(startProcess(relay, ['join', String(joinPort), String(appPort)], { logFile: join(dirname(relay), 'join.log') }))
  const urls = { direct: `http://127.0.0.1:${appPort}/`, copy: `http://127.0.0.1:${copyPort}/`, join: `http://127.0.0.1:${joinPort}/` }
  await waitHealthy(urls.direct, performance.now())
  await waitHealthy(urls.copy, performance.now())
  const canJoin = await waitHealthy(urls.join, performance.now(), 3000).then(() => true, () => false)

  const rps = (url: string) => wrk(url, { connections: 8, seconds: SECONDS })
  const m = { direct: [] as number[], copy: [] as number[], join: [] as number[] }
  for (let i = 0; i < ROUNDS; i++) {
    m.direct.push(await rps(urls.direct))
    m.copy.push(await rps(urls.copy))
    if (canJoin) m.join.push(await rps(urls.join))
  }
  const d = median(m.direct)
  printTable('port relay floor: wrk -t1 -c8 keep-alive, small answers (req/s, medians)', [
    ['path', 'req/s', 'ratio to direct'],
    ['straight to the app', d.toFixed(0), '1.00'],
    ['through a relay that copies (relay.c design)', median(m.copy).toFixed(0), (median(m.copy) / d).toFixed(2)],
    ['through the relay, sockets joined in the kernel (BPF sockhash)', ...(canJoin ? [median(m.join).toFixed(0), (median(m.join) / d).toFixed(2)] : ['unavailable (needs root and a kernel with sockmap)', ''])],
  ])
  console.log(`target for the port proxy: ≥ 0.80 of direct. load average: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`)
} finally {
  for (const p of procs) await p.stop()
}
