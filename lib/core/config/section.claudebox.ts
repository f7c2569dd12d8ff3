import { bool, int, json, str } from './spec.ts'

const isModelMap = (v: unknown) =>
  v != null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((m) => typeof m === 'string' && m !== '') ? null : 'must be an object of alias → model name'

/** One claudebox surface: who its token acts for and which gateway models its aliases mean. */
const instance = (models: Record<string, string>) => ({
  enabled: bool(true),
  /** Bearer token of this surface; empty = generated at first start into bootstrap.txt (kept as a hash). */
  token: str('', { secret: true, allowEmpty: true, pattern: /^\S{16,}$/, patternDoc: 'at least 16 characters without spaces' }),
  /** Team the token acts for (a team id); empty = the first team (the first-start admin's). */
  team: str('', { allowEmpty: true, doc: 'team id the token acts for' }),
  /** Aliases (haiku, sonnet, opus) → model names of the LLM gateway; other names pass through unchanged. */
  models: json<Record<string, string>>(models, isModelMap),
  /** The model a run without `model` uses (an alias or a gateway model name). */
  defaultModel: str('sonnet'),
})

/** Claude Code runs in workspaces (lib/claudebox): /claudebox/ and /claudebox-zai/ (GLM models through z.ai's Anthropic-compatible endpoint). */
export const claudebox = {
  ...instance({ haiku: 'claude-haiku-4-5', sonnet: 'claude-sonnet-4-5', opus: 'claude-opus-4-1' }),
  zai: instance({ haiku: 'glm-4.5-air', sonnet: 'glm-4.7', opus: 'glm-5.1' }),
  /** A host directory holding the `claude` executable; empty = the @anthropic-ai/claude-code package nestbox installed. */
  cliDir: str('', { allowEmpty: true }),
  /** A workspace's capsule is paused after this long without a run (resumed by the next). */
  idleSec: int(300, 10, 30 * 86_400),
  /** A run is killed after this long. */
  runTimeoutSec: int(3600, 10, 7 * 86_400),
  /** Unread async results are purged after this long (the seed: 6 h). */
  resultTtlSec: int(6 * 3600, 60, 30 * 86_400),
  /** Memory of a workspace capsule. */
  memoryMb: int(2048, 64, 1 << 20),
  /** CPUs of a workspace capsule (at most capsules.limits.maxVcpus): the CLI starts several threads. */
  vcpus: int(2, 1, 256),
}
