/** Picks the translation between the client's chat format and the provider's. */
import type { ChatFormat } from '../providers/types.ts'
import { anthropicPassthrough, openaiPassthrough } from './passthrough.ts'
import type { Translation } from './types.ts'

export function translationFor(client: ChatFormat, provider: ChatFormat): Translation | null {
  if (client === 'openai' && provider === 'openai') return openaiPassthrough
  if (client === 'anthropic' && provider === 'anthropic') return anthropicPassthrough
  return null
}
