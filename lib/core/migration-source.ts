/**
 * Reads a migration's SQL from sqlite/. The executable build replaces this module
 * with one that has every file's text embedded (see build.ts), so keep its export
 * exactly `readMigration(name): string`.
 */
import { readFileSync } from 'node:fs'

const dir = new URL('../../sqlite/', import.meta.url)

export function readMigration(name: string): string {
  return readFileSync(new URL(name, dir), 'utf8')
}
