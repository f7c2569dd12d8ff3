/** `nestbox doctor`'s uploads line: whether nestbox-receive can take large upload bodies off nestbox (receiver.ts). */
import { helperBinary } from '../core/native.ts'
import type { Logger } from '../core/logger.ts'
import { createReceiver, RECEIVE_SOURCE } from './bytes/receiver.ts'

export function uploadsCheck() {
  return {
    name: 'uploads',
    required: false,
    run: async (): Promise<string> => {
      const path = helperBinary('nestbox-receive', RECEIVE_SOURCE) // throws with the reason when it was not built
      let reason = ''
      const note = (_msg: string, f?: Record<string, unknown>) => void (reason = String(f?.reason ?? ''))
      const receiver = createReceiver(() => path, { info: note, warn: note } as unknown as Logger)
      const alive = setInterval(() => {}, 1000) // the helper is unref'd: nothing else keeps doctor's process up meanwhile
      try {
        if (!(await receiver.available())) throw new Error(`${reason || 'nestbox-receive cannot take descriptors'}: large uploads stream through nestbox`)
      } finally {
        clearInterval(alive)
        receiver.close()
      }
      return `${path} takes large upload bodies off nestbox`
    },
  }
}
