/**
 * audio/transcriptions takes multipart/form-data: parsed with busboy to find the
 * model, and encoded again per deployment with the upstream's model name.
 */
import busboy from 'busboy'
import { badRequest } from '../errors.ts'

export type Form = { fields: Array<[string, string]>; files: Array<{ name: string; filename: string; type: string; data: Buffer }> }

export function parseForm(raw: Buffer, contentType: string): Promise<Form> {
  if (!/^multipart\/form-data/i.test(contentType)) return Promise.reject(badRequest('this endpoint takes multipart/form-data'))
  return new Promise((resolve, reject) => {
    const form: Form = { fields: [], files: [] }
    let bb: busboy.Busboy
    try {
      bb = busboy({ headers: { 'content-type': contentType } })
    } catch {
      return reject(badRequest('malformed multipart/form-data content type'))
    }
    bb.on('field', (name, value) => form.fields.push([name, value]))
    bb.on('file', (name, stream, info) => {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => form.files.push({ name, filename: info.filename ?? 'file', type: info.mimeType, data: Buffer.concat(chunks) }))
    })
    bb.on('error', () => reject(badRequest('malformed multipart/form-data body')))
    bb.on('close', () => resolve(form))
    bb.end(raw)
  })
}

/** The form as multipart bytes, with `model` set to `model`. */
export async function encodeForm(form: Form, model: string): Promise<{ body: Buffer; contentType: string }> {
  const fd = new FormData()
  for (const [k, v] of form.fields) fd.append(k, k === 'model' ? model : v)
  for (const f of form.files) fd.append(f.name, new Blob([new Uint8Array(f.data)], { type: f.type }), f.filename)
  const res = new Response(fd)
  return { body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type')! }
}

/** The transcription form and its model field. */
export async function parseTranscription(raw: Buffer, contentType: string): Promise<{ form: Form; model: string | undefined }> {
  const form = await parseForm(raw, contentType)
  if (!form.files.some((f) => f.name === 'file')) throw badRequest('file is required', 'file')
  return { form, model: form.fields.find(([k]) => k === 'model')?.[1] }
}
