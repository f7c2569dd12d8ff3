/**
 * Local stand-ins for every channel provider, speaking their wire formats on
 * loopback: each path family checks the request the way the provider would and
 * answers like it. `failNext(prefix, answers)` makes the next requests under a
 * prefix fail (status, optional Retry-After) before it succeeds again.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'

export type Received = { provider: string; method: string; path: string; headers: IncomingMessage['headers']; body: any; at: number }
type Answer = { status: number; retryAfter?: string }

export async function startReceivers() {
  const got: Received[] = []
  const failures = new Map<string, Answer[]>()
  const always = new Map<string, Answer>()
  const secrets = new Map<string, string>()
  const server: Server = createServer(async (req, res) => {
    let raw = ''
    for await (const c of req) raw += c
    const path = req.url ?? ''
    const provider = path.split('/')[1]
    const reply = (status: number, body: unknown = {}, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(typeof body === 'string' ? body : JSON.stringify(body))
    }
    const queued = failures.get(provider)?.shift() ?? always.get(provider)
    if (queued) return reply(queued.status, { error: 'stand-in failure' }, queued.retryAfter ? { 'retry-after': queued.retryAfter } : {})
    let body: any
    try {
      body = JSON.parse(raw)
    } catch {
      return reply(400, { error: 'body is not JSON' })
    }
    const rec = { provider, method: req.method!, path, headers: req.headers, body, at: Date.now() }
    const bad = (why: string) => reply(400, { error: why })
    const isJson = String(req.headers['content-type']).startsWith('application/json')
    switch (provider) {
      case 'discord': // POST /api/webhooks/{id}/{token} {content} → 204
        if (req.method !== 'POST' || !isJson || typeof body.content !== 'string' || !body.content) return bad('discord wants {content}')
        got.push(rec)
        res.writeHead(204).end()
        return
      case 'slack': // → 200 "ok" (text/plain)
        if (req.method !== 'POST' || !isJson || typeof body.text !== 'string') return bad('slack wants {text}')
        got.push(rec)
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
        return
      case 'teams': {
        const card = body.attachments?.[0]
        if (req.method !== 'POST' || body.type !== 'message' || card?.contentType !== 'application/vnd.microsoft.card.adaptive' || card.content?.type !== 'AdaptiveCard' || typeof card.content.body?.[0]?.text !== 'string')
          return bad('teams wants an adaptive card message')
        got.push(rec)
        return reply(202, {})
      }
      case 'googlechat':
        if (req.method !== 'POST' || typeof body.text !== 'string') return bad('google chat wants {text}')
        got.push(rec)
        return reply(200, { name: 'spaces/x/messages/y', text: body.text })
      case 'telegram': {
        const m = /^\/telegram\/bot(\d+:[A-Za-z0-9_-]+)\/sendMessage$/.exec(path)
        if (req.method !== 'POST' || !m || !body.chat_id || typeof body.text !== 'string') return reply(404, { ok: false, error_code: 404, description: 'Not Found' })
        got.push(rec)
        return reply(200, { ok: true, result: { message_id: got.length, chat: { id: body.chat_id }, text: body.text } })
      }
      case 'matrix': {
        const m = /^\/matrix\/_matrix\/client\/v3\/rooms\/([^/]+)\/send\/m\.room\.message\/([^/]+)$/.exec(path)
        if (req.method !== 'PUT' || !m) return reply(404, { errcode: 'M_UNRECOGNIZED' })
        if (req.headers.authorization !== 'Bearer syt_matrix_token') return reply(401, { errcode: 'M_UNKNOWN_TOKEN' })
        if (body.msgtype !== 'm.text' || typeof body.body !== 'string') return reply(400, { errcode: 'M_BAD_JSON' })
        got.push(rec)
        return reply(200, { event_id: `$${m[2]}` })
      }
      case 'hook': {
        // verify as a receiver would: HMAC-SHA256(secret, timestamp + "." + raw body), constant-time
        const secret = secrets.get(path)
        const ts = String(req.headers['x-wrenn-timestamp'] ?? '')
        const sig = String(req.headers['x-wrenn-signature'] ?? '')
        const want = 'sha256=' + createHmac('sha256', secret ?? '').update(`${ts}.${raw}`).digest('hex')
        const ok = !!secret && sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want)) && Math.abs(Date.now() - Date.parse(ts)) < 300_000
        if (!ok) return reply(401, { error: 'bad signature' })
        got.push(rec)
        return reply(200, { received: true })
      }
    }
    reply(404, { error: 'unknown stand-in' })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  const base = `http://127.0.0.1:${port}`
  return {
    base,
    got,
    /** The next requests under /{provider} get these answers, in order. */
    failNext: (provider: string, answers: Answer[]) => failures.set(provider, [...answers]),
    /** Every request under /{provider} gets this answer until cleared (null). */
    failAlways: (provider: string, a: Answer | null) => (a ? always.set(provider, a) : always.delete(provider)),
    /** The signing secret the stand-in verifies webhook deliveries to `path` with. */
    secret: (path: string, s: string) => secrets.set(path, s),
    /** Settings that point nestbox's provider URLs here. */
    settings: () => ({
      'events.channels.allowPrivateDestinations': true,
      'events.channels.urls.discord': `${base}/discord/api/webhooks/`,
      'events.channels.urls.slack': `${base}/slack/services/`,
      'events.channels.urls.teams': `${base}/teams/`,
      'events.channels.urls.googlechat': `${base}/googlechat/v1/spaces/`,
      'events.channels.urls.telegram': `${base}/telegram`,
    }),
    waitFor: async (pred: (g: Received[]) => boolean, what: string, ms = 10_000) => {
      const t0 = Date.now()
      while (!pred(got)) {
        if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(got.map((g) => [g.provider, g.path]))}`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}
export type Receivers = Awaited<ReturnType<typeof startReceivers>>
