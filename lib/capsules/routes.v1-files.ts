/**
 * Wrenn files endpoints. Uploads are multipart/form-data parsed as a stream
 * (busboy) straight into the capsule: the file is never held in memory, so the
 * streaming variant takes any size; the plain one is capped (413).
 */
import busboy from 'busboy'
import { Hono, type Context } from 'hono'
import { Readable } from 'node:stream'
import { invalid, tooLarge } from '../core/errors.ts'
import type { AppEnv } from '../http/types.ts'
import { jsonBody } from './routes.v1.ts'
import type { CapsuleView } from './service.ts'
import { toWrennFileEntry } from './wire.v1.ts'

/**
 * Feeds the multipart `file` part to `write`. The `path` field must come before
 * the file part (or be given as ?path=), since the body is not buffered.
 */
function receiveUpload(c: Context<AppEnv>, maxBytes: number | null, write: (path: string, data: Readable) => Promise<unknown>): Promise<{ path: string; truncated: boolean }> {
  const incoming = c.env.incoming
  if (!/^multipart\/form-data/i.test(c.req.header('content-type') ?? '')) throw invalid('expected a multipart/form-data body with fields "path" and "file"', 'invalid_upload')
  const declared = Number(c.req.header('content-length'))
  if (maxBytes !== null && declared > maxBytes + 64 * 1024) throw tooLarge(`file too large: the limit of files/write is ${maxBytes >> 20} MiB; use files/stream/write`, 'file_too_large')
  return new Promise((resolve, reject) => {
    let path = c.req.query('path') ?? ''
    let work: Promise<unknown> | null = null
    let truncated = false
    let settled = false
    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      incoming.unpipe(bb)
      incoming.resume() // drain what the client still sends, so it reads our answer
      reject(err)
    }
    let bb: busboy.Busboy
    try {
      bb = busboy({ headers: incoming.headers, limits: { files: 1, fields: 20, fieldSize: 8192, ...(maxBytes !== null ? { fileSize: maxBytes } : {}) } })
    } catch {
      throw invalid('malformed multipart/form-data body', 'invalid_upload')
    }
    bb.on('field', (name, val) => {
      if (name === 'path') path = val
    })
    let current: Readable | null = null
    // A client that goes away mid-upload: the runtime sees a failed stream and keeps nothing.
    incoming.on('close', () => {
      if (settled || incoming.complete) return
      current?.destroy(new Error('upload aborted by the client'))
      fail(invalid('upload aborted', 'upload_aborted'))
    })
    bb.on('file', (name, file) => {
      if (name !== 'file' || work) return void file.resume()
      current = file
      if (!path) {
        file.resume()
        return fail(invalid('the "path" field must come before the "file" part (or pass ?path=)', 'invalid_upload'))
      }
      file.on('limit', () => (truncated = true))
      work = write(path, file)
      work.catch(fail)
    })
    bb.on('close', () => {
      if (settled) return
      if (!work) return fail(invalid('the "file" part is missing', 'invalid_upload'))
      work.then(() => {
        if (settled) return
        settled = true
        resolve({ path, truncated })
      }, fail)
    })
    bb.on('error', () => fail(invalid('malformed multipart/form-data body', 'invalid_upload')))
    incoming.pipe(bb)
  })
}

export function capsuleFileRoutesV1(v: CapsuleView, opts: { maxUploadBytes: number }) {
  const r = new Hono<AppEnv>()

  const upload = (limited: boolean) => async (c: Context<AppEnv>) => {
    const id = c.req.param('id')!
    const p = c.var.principal
    await v.files.assertWritable(p, id)
    const res = await receiveUpload(c, limited ? opts.maxUploadBytes : null, (path, data) => v.files.write(p, id, path, data))
    if (res.truncated) {
      await v.files.remove(p, id, res.path).catch(() => {}) // never leave half a file behind
      throw tooLarge(`file too large: the limit of files/write is ${opts.maxUploadBytes >> 20} MiB; use files/stream/write`, 'file_too_large')
    }
    return c.body(null, 204)
  }
  r.post('/:id/files/write', upload(true))
  r.post('/:id/files/stream/write', upload(false))

  const download = (streaming: boolean) => async (c: Context<AppEnv>) => {
    const body = (await jsonBody(c)) as Record<string, unknown>
    const f = await v.files.read(c.var.principal, c.req.param('id')!, body?.path)
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
    if (!streaming) headers['content-length'] = String(f.size)
    return c.body(Readable.toWeb(f.stream) as unknown as ReadableStream, 200, headers)
  }
  r.post('/:id/files/read', download(false))
  r.post('/:id/files/stream/read', download(true))

  r.post('/:id/files/list', async (c) => {
    const body = (await jsonBody(c)) as Record<string, unknown>
    const entries = await v.files.list(c.var.principal, c.req.param('id'), body?.path, body?.depth)
    return c.json({ entries: entries.map(toWrennFileEntry) })
  })
  r.post('/:id/files/mkdir', async (c) => {
    const body = (await jsonBody(c)) as Record<string, unknown>
    return c.json({ entry: toWrennFileEntry(await v.files.mkdir(c.var.principal, c.req.param('id'), body?.path)) })
  })
  r.post('/:id/files/remove', async (c) => {
    const body = (await jsonBody(c)) as Record<string, unknown>
    await v.files.remove(c.var.principal, c.req.param('id'), body?.path)
    return c.body(null, 204)
  })
  return r
}
