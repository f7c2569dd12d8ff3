import { int, str } from './spec.ts'

const PREFIX = { pattern: /^[a-z][a-z0-9]{0,15}$/, patternDoc: 'a lower-case label of 1-16 letters and digits, starting with a letter' }

/** opencode/openclaw sandboxes in capsules and their subdomain proxy (lib/sandboxes). */
export const sandboxes = {
  /** Host label prefixes: `{prefix}-{sandbox short id}.{baseDomain}` reaches the sandbox's service. */
  opencodePrefix: str('oc', PREFIX),
  openclawPrefix: str('claw', PREFIX),
  /** The opencode executable; empty = the one the opencode-ai npm package installed with nestbox. */
  opencodeBin: str('', { allowEmpty: true, doc: 'host path of the opencode executable; empty = the opencode-ai package' }),
  /** Where openclaw is installed (holds node_modules/openclaw); empty = <dataDir>/sandboxes/openclaw-<version>, installed by npm on the first openclaw sandbox. */
  openclawDir: str('', { allowEmpty: true, doc: 'directory holding node_modules/openclaw; empty = installed on first use into the data directory' }),
  /** The openclaw version installed on first use. */
  openclawVersion: str('2026.9.6', { pattern: /^[0-9A-Za-z.+-]{1,64}$/, patternDoc: 'an npm version' }),
  /** The model opencode and openclaw use by default (an Anthropic model name; reached through /proxy/anthropic). */
  model: str('claude-sonnet-4-5', { pattern: /^[\w.:@-]{1,128}$/, patternDoc: 'a model name' }),
  /** Memory and vCPUs of a sandbox's capsule (capped by capsules.limits). */
  memoryMb: int(2048, 128, 1 << 20),
  vcpus: int(2, 1, 64),
  /** A sandbox whose service does not answer on its port this long after start is marked error. */
  startTimeoutSec: int(180, 5, 3600),
}
