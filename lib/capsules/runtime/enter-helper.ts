/**
 * Where nestbox-enter (nestbox-enter.c) is: compiled into build/ by `npm ci`
 * (bin/build-enter.sh) in a checkout, shipped as an asset of the single executable.
 */
import { existsSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { embeddedExecutable, inExecutable } from '../../core/native.ts'

let found: string | undefined

export function enterHelperPath(): string {
  if (found) return found
  if (inExecutable()) return (found = embeddedExecutable('nestbox-enter'))
  const source = fileURLToPath(new URL('./nestbox-enter.c', import.meta.url))
  const built = fileURLToPath(new URL('../../../build/nestbox-enter', import.meta.url))
  if (!existsSync(built)) throw new Error(`${built} is missing: run npm ci (bin/build-enter.sh compiles ${source})`)
  if (existsSync(source) && statSync(source).mtimeMs > statSync(built).mtimeMs) throw new Error(`${built} is older than its source: run bin/build-enter.sh`)
  return (found = built)
}
