/**
 * The OpenAI-format surface (seed 000, LiteLLM proxy), each path with and
 * without /v1: chat/completions, completions, embeddings, images/generations,
 * audio/speech, audio/transcriptions, responses, models, model/info.
 * Errors use OpenAI's envelope.
 */
import { Hono, type Context } from 'hono'
import type { Logger } from '../core/logger.ts'
import type { AppEnv } from '../http/types.ts'
import { badRequest } from './errors.ts'
import { callerOf, guarded, headerOf, newCallId, readBody, readJson, sendJson, sinkOf } from './http.ts'
import type { Op } from './providers/types.ts'
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response'
import type { CallMeta, GatewayService } from './service.ts'
import { parseTranscription, type Form } from './calls/multipart.ts'

/** Paths of the OpenAI surface (each also served under /v1). */
export const OPENAI_PATHS: Record<string, Op> = {
  '/chat/completions': 'chat',
  '/completions': 'completions',
  '/embeddings': 'embeddings',
  '/images/generations': 'images',
  '/audio/speech': 'speech',
  '/audio/transcriptions': 'transcriptions',
  '/responses': 'responses',
}

/** compat(litellm): request fields that describe the call for spend logs (metadata.tags, user). */
export function metaOf(body: Record<string, unknown>): CallMeta {
  const md = body.metadata && typeof body.metadata === 'object' && !Array.isArray(body.metadata) ? (body.metadata as Record<string, unknown>) : {}
  const tags = Array.isArray(md.tags) ? md.tags.map(String) : Array.isArray(body.tags) ? body.tags.map(String) : []
  return { user: typeof body.user === 'string' ? body.user : null, tags, metadata: md }
}

export function gatewayOpenAIRoutes(g: GatewayService, o: { log: Logger; maxBodyBytes: number }) {
  const r = new Hono<AppEnv>()

  const call = (op: Op) =>
    guarded(g, o.log, 'openai', async (c: Context<AppEnv>) => {
      const t0 = performance.now()
      const caller = await callerOf(c, g)
      let body: Record<string, unknown> | Buffer
      let model: unknown
      let meta: CallMeta = { user: null, tags: [], metadata: {} }
      let form: Form | undefined
      const contentType = headerOf(c, 'content-type') ?? 'application/json'
      if (op === 'transcriptions') {
        const t = await parseTranscription(await readBody(c, o.maxBodyBytes), contentType)
        form = t.form
        body = Buffer.alloc(0)
        model = t.model
      } else {
        body = await readJson(c, o.maxBodyBytes)
        model = body.model
        meta = metaOf(body)
        if (op === 'chat' && !Array.isArray(body.messages)) throw badRequest('messages must be a list of messages', 'messages')
        // compat(litellm): proxy-only fields are not sent upstream.
        if (body.metadata !== undefined && op !== 'responses') {
          const { metadata: _m, ...rest } = body
          body = rest
        }
      }
      if (typeof model !== 'string' || !model) throw badRequest('model is required', 'model')
      const local = op === 'chat' && !Buffer.isBuffer(body) ? g.localModels.find(model) : null
      if (local) {
        g.assertLocalModel(caller, model)
        const release = await g.admitToolCall(caller)
        try {
          return await local(c, caller, body as Record<string, unknown>)
        } finally {
          release()
        }
      }
      const stream = !Buffer.isBuffer(body) && body.stream === true
      await g.call(caller, { op, format: 'openai', model, body, form, contentType, stream, callId: newCallId(), t0 }, meta, sinkOf(c))
      return RESPONSE_ALREADY_SENT
    })

  for (const [path, op] of Object.entries(OPENAI_PATHS)) {
    r.post(path, call(op))
    r.post(`/v1${path}`, call(op))
  }

  const models = guarded(g, o.log, 'openai', async (c) => {
    const caller = await callerOf(c, g)
    return sendJson(c, 200, { data: g.models(caller).map((id) => ({ id, object: 'model', created: 1677610602, owned_by: 'openai' })), object: 'list' })
  })
  r.get('/models', models)
  r.get('/v1/models', models)

  const info = guarded(g, o.log, 'openai', async (c) => sendJson(c, 200, { data: g.modelInfo(await callerOf(c, g)) }))
  r.get('/model/info', info)
  r.get('/v1/model/info', info)
  return r
}
