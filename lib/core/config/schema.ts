/**
 * The whole configuration schema. Each domain owns one section file; this file
 * only assembles them. Environment names derive from paths: listen.port →
 * NESTBOX_LISTEN_PORT, dataDir → NESTBOX_DATA_DIR.
 */
import { server } from './section.server.ts'
import { identity } from './section.identity.ts'
import { storage } from './section.storage.ts'
import { capsules } from './section.capsules.ts'
import { gateway } from './section.gateway.ts'
import { checkTunnel, tunnel } from './section.tunnel.ts'
import { events } from './section.events.ts'
import { claudebox } from './section.claudebox.ts'
import { cloudbox } from './section.cloudbox.ts'
import { browser } from './section.browser.ts'
import { sandboxes } from './section.sandboxes.ts'

export const schema = { ...server, identity, storage, capsules, gateway, tunnel, events, claudebox, cloudbox, browser, sandboxes }

/** Rules across several keys, run after every key passed its own check; each returns a message or null. */
export const crossChecks = [checkTunnel]
