/** `nestbox doctor`'s uploads line: whether large upload bodies are taken off the event loop (receiver.ts). */
import { ownAddon } from '../core/native.ts'
import { RECEIVE_ADDON, RECEIVE_SOURCE } from './bytes/receiver.ts'

export function uploadsCheck() {
  return {
    name: 'uploads',
    required: false,
    run: (): string => {
      try {
        const addon = ownAddon(RECEIVE_ADDON, RECEIVE_SOURCE) as { take?: unknown }
        if (typeof addon.take !== 'function') throw new Error(`${RECEIVE_ADDON} loaded without take()`)
      } catch (err) {
        throw new Error(`${(err as Error).message}: large uploads stream through nestbox`)
      }
      return `${RECEIVE_ADDON} takes large upload bodies off the event loop`
    },
  }
}
