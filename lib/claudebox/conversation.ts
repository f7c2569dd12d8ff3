/**
 * compat(claudebox 000): an OpenAI conversation Claude Code cannot take as one
 * prompt (several turns, or images) becomes files in the workspace: the turns
 * as markdown, each base64 image beside it, referenced by path.
 */
import { invalid } from '../core/errors.ts'

type Part = Record<string, unknown>
export type Message = { role: string; content: unknown }
export type ConversationFiles = { markdown: string; images: Array<{ path: string; bytes: Buffer }> }

const MAX_IMAGE_BYTES = 20 * 1024 * 1024
const EXT: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' }

/** The text of a message's content (images left out). */
export const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : Array.isArray(content) ? content.filter((p: Part) => p?.type === 'text').map((p: Part) => String(p.text ?? '')).join('\n') : ''

export const hasImages = (msgs: Message[]) => msgs.some((m) => Array.isArray(m.content) && m.content.some((p: Part) => p?.type === 'image_url'))

/** The conversation as markdown, with images saved as `${base}-img-N.ext` (paths relative to the workspace). */
export function conversationFiles(msgs: Message[], base: string): ConversationFiles {
  const images: ConversationFiles['images'] = []
  const parts = msgs.map((m) => {
    const body = !Array.isArray(m.content)
      ? textOf(m.content)
      : m.content
          .map((p: Part) => {
            if (p?.type === 'text') return String(p.text ?? '')
            if (p?.type !== 'image_url') return ''
            const url = String((p.image_url as Part | undefined)?.url ?? p.image_url ?? '')
            const data = /^data:(image\/[a-z+.-]+);base64,(.*)$/s.exec(url)
            if (!data) return `[image: ${url}]`
            const bytes = Buffer.from(data[2], 'base64')
            if (bytes.length > MAX_IMAGE_BYTES) throw invalid(`an image is larger than ${MAX_IMAGE_BYTES} bytes`)
            const path = `${base}-img-${images.length + 1}.${EXT[data[1]] ?? 'bin'}`
            images.push({ path, bytes })
            return `[image: ${path}]`
          })
          .join('\n')
    return `## ${m.role}\n\n${body}\n`
  })
  return { markdown: parts.join('\n'), images }
}
