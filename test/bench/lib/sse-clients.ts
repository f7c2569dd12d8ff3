/**
 * Child process of test/bench/events.ts: holds N SSE connections to a nestbox
 * (node:http, frames parsed with eventsource-parser) so the clients' own memory
 * and CPU stay out of the server's process. Talks to the parent over IPC:
 *   argv: url key n
 *   → {ready} once every stream got its `connected` event
 *   → {lat: number[]} on {report}: receive time − the event's `t` (performance time origin based, ms)
 */
import { get } from 'node:http'
import { createParser } from 'eventsource-parser'

const [url, key, nStr] = process.argv.slice(2)
const n = Number(nStr)
let ready = 0
const lat: number[] = []
const now = () => performance.timeOrigin + performance.now()

for (let i = 0; i < n; i++) {
  const parser = createParser({
    onEvent: (e) => {
      if (e.event === 'connected') {
        if (++ready === n) process.send!({ ready: true })
        return
      }
      const t = /"t":([0-9.]+)/.exec(e.data)
      if (t) lat.push(now() - Number(t[1]))
    },
  })
  const req = get(url, { headers: { 'x-api-key': key }, agent: false }, (res) => {
    res.setEncoding('utf8')
    res.on('data', (d: string) => parser.feed(d))
  })
  req.on('error', (err) => process.send!({ error: String(err) }))
}

process.on('message', (m: { report?: boolean; exit?: boolean }) => {
  if (m.report) process.send!({ lat: lat.splice(0) })
  if (m.exit) process.exit(0)
})
