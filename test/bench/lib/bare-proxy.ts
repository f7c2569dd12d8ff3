/**
 * The floor for the gateway benchmark: the least a Node proxy can do — a
 * node:http server that reads each request and forwards it with undici (the
 * gateway's client, same pool settings) to one upstream URL, answering with the
 * upstream's body. No keys, limits, routing, spend or logging. Its added latency
 * and CPU per request are what any gateway in Node pays on this machine.
 * Run as its own process: node bare-proxy.ts PORT UPSTREAM_URL
 */
import { createServer } from 'node:http'
import { Agent } from 'undici'

const [port, target] = [Number(process.argv[2]), new URL(process.argv[3])]
const agent = new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: null, pipelining: 1 })
const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-upstream' }

const server = createServer((req, res) => {
  const parts: Buffer[] = []
  req.on('data', (c: Buffer) => parts.push(c))
  req.on('end', async () => {
    try {
      const up = await agent.request({ origin: target.origin, path: target.pathname, method: 'POST', headers, body: Buffer.concat(parts) })
      const body = Buffer.from(await up.body.arrayBuffer())
      res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json'), 'content-length': body.length })
      res.end(body)
    } catch {
      res.writeHead(502).end()
    }
  })
})
server.keepAliveTimeout = 65_000
server.listen(port, '127.0.0.1')
