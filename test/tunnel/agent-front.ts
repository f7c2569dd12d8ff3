/**
 * How tests reach a local agent's sandbox: a loopback front server that hands
 * each request and upgrade to the hub (AgentTunnels), as the subdomain proxy does.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TestNestbox } from '../harness.ts'

export type Front = {
  fetch(path: string, init?: RequestInit): Promise<Response>
  wsUrl(path: string): string
  headers: Record<string, string>
  close(): Promise<void>
}

export async function sandboxFront(nb: TestNestbox, sandboxId: string): Promise<Front> {
  const hub = nb.services.agentTunnels
  const server = createServer((req, res) => hub.request(sandboxId, req, res))
  server.on('upgrade', (req, socket, head) => hub.upgrade(sandboxId, req, socket, head))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    fetch: (path, init) => fetch(base + path, init),
    wsUrl: (path) => base.replace('http', 'ws') + path,
    headers: {},
    close: () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
