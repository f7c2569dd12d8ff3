/**
 * Local git repositories for run tests: a bare repository under a temporary
 * root (configured as cloudbox.localRoots), filled from a work tree made with
 * the host's git. Runs clone it inside their capsule from the read-only bind.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { scratchDir } from '../harness.ts'

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, stdio: 'pipe', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).toString()

/** A root directory for repositories, removed when the process exits. */
export function repoRoot(): string {
  const root = scratchDir('repos')
  chmodSync(root, 0o755) // capsules run as an unprivileged uid: the repositories must be readable by others
  return root
}

/** Makes `<root>/<name>.git` with one commit per entry of `branches` (main first), each adding its files. Returns the bare repo's path and commit ids. */
export function makeRepo(root: string, name: string, branches: Record<string, Record<string, string>>): { path: string; commits: Record<string, string> } {
  const work = mkdtempSync(join(tmpdir(), 'nestbox-work-'))
  git(work, 'init', '-q', '-b', 'main')
  const commits: Record<string, string> = {}
  for (const [branch, files] of Object.entries(branches)) {
    if (branch !== 'main') git(work, 'checkout', '-q', '-b', branch, 'main')
    for (const [p, body] of Object.entries(files)) {
      mkdirSync(dirname(join(work, p)), { recursive: true })
      writeFileSync(join(work, p), body)
    }
    git(work, 'add', '-A')
    git(work, 'commit', '-q', '-m', `${branch} commit`)
    commits[branch] = git(work, 'rev-parse', 'HEAD').trim()
  }
  git(work, 'checkout', '-q', 'main')
  const path = join(root, `${name}.git`)
  git(root, 'clone', '-q', '--bare', work, path)
  rmSync(work, { recursive: true, force: true })
  return { path, commits }
}

/** Reads an SSE response to its end: [event, data] pairs. */
export async function readSse(res: Response): Promise<Array<{ event: string; data: any }>> {
  const text = await res.text()
  const out: Array<{ event: string; data: any }> = []
  for (const block of text.split('\n\n')) {
    const event = /^event: ?(.*)$/m.exec(block)?.[1]
    const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.replace(/^data: ?/, '')).join('\n')
    if (event && data) out.push({ event, data: JSON.parse(data) })
  }
  return out
}
