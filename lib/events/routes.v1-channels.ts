/** Wrenn surface (seed 003) of notification channels: /v1/channels*. */
import { Hono, type Context } from 'hono'
import { invalid } from '../core/errors.ts'
import { iso } from '../core/ids.ts'
import type { AppEnv } from '../http/types.ts'
import type { ChannelService, ChannelView } from './channels/service.ts'

/** compat(wrenn): ChannelResponse; `secret` only when one was just made; `delivery` is nestbox's extension. */
function toWrennChannel(c: ChannelView, secret: string | null = null) {
  const f = c.delivery.lastFailure
  return {
    id: c.id,
    team_id: c.team_id,
    name: c.name,
    provider: c.provider,
    events: JSON.parse(c.events) as string[],
    created_at: iso(c.created_at),
    updated_at: iso(c.updated_at),
    secret,
    delivery: {
      queued: c.delivery.queued,
      delivered: c.delivery.delivered,
      failed: c.delivery.failed,
      last_delivered_at: iso(c.delivery.lastSuccessAt),
      last_error: f ? { event: f.event_type, error: f.last_error, http_status: f.last_status, attempts: f.attempts, gave_up: f.status === 'failed', at: iso(f.updated_at) } : null,
    },
  }
}

async function json(c: Context<AppEnv>): Promise<unknown> {
  try {
    return await c.req.json()
  } catch {
    throw invalid('request body must be valid JSON')
  }
}

export function channelRoutesV1(channels: ChannelService) {
  const r = new Hono<AppEnv>()
  r.get('/', async (c) => c.json((await channels.list(c.var.principal)).map((x) => toWrennChannel(x))))
  r.post('/', async (c) => {
    const { channel, secret } = await channels.create(c.var.principal, await json(c))
    return c.json(toWrennChannel(channel, secret), 201)
  })
  r.post('/test', async (c) => {
    await channels.test(c.var.principal, await json(c))
    return c.json({ status: 'ok' })
  })
  r.get('/:id', async (c) => c.json(toWrennChannel(await channels.get(c.var.principal, c.req.param('id')))))
  r.patch('/:id', async (c) => c.json(toWrennChannel(await channels.update(c.var.principal, c.req.param('id'), await json(c)))))
  r.put('/:id/config', async (c) => {
    const { channel, secret } = await channels.rotate(c.var.principal, c.req.param('id'), await json(c))
    return c.json(toWrennChannel(channel, secret))
  })
  r.delete('/:id', async (c) => {
    await channels.remove(c.var.principal, c.req.param('id'))
    return c.body(null, 204)
  })
  return r
}
