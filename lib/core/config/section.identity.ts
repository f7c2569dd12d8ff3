import { str } from './spec.ts'

/** Identity settings (sessions, mail, OAuth). Owned by lib/identity. */
export const identity = {
  /** Secret used to sign short-lived tokens; generated into the data dir when empty. */
  secret: str('', { secret: true, allowEmpty: true }),
}
