/** Picks the translation between the client's chat format and the provider's. */
import type { ChatFormat } from '../providers/types.ts'
import { anthropicToOpenAI } from './anthropic-to-openai.ts'
import { openaiToAnthropic } from './openai-to-anthropic.ts'
import { anthropicPassthrough, openaiPassthrough } from './passthrough.ts'
import type { Translation } from './types.ts'

export function translationFor(client: ChatFormat, provider: ChatFormat): Translation {
  if (client === 'openai') return provider === 'openai' ? openaiPassthrough : openaiToAnthropic
  return provider === 'anthropic' ? anthropicPassthrough : anthropicToOpenAI
}
