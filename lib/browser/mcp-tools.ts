/**
 * The browser's MCP tools, served at /stealthy-auto-browse/mcp/ and as
 * `browser-*` in the /mcp/ hub. compat(stealthy-auto-browse 000): the
 * original's tool names and arguments (eval_js for eval, browser_action for
 * any other action, screenshot as an image); each maps onto one action of
 * actions/index.ts. With several replicas only run_script is offered, as the
 * original does: separate calls could land on different browsers.
 */
import { z } from 'zod'
import { defineTool, type BuiltinTool, type ToolCaller, type ToolResult, type ToolSet } from '../mcp/types.ts'
import type { Envelope } from './replica-handle.ts'

/** Runs one POST / body on a replica for this caller (the pool queues it); the answer as POST / gives it. */
export type RunForCaller = (body: Record<string, unknown>, caller: ToolCaller) => Promise<Envelope>

const text = (e: Envelope): ToolResult => ({ content: [{ type: 'text', text: JSON.stringify(e) }], ...(e.success ? {} : { isError: true }) })

const x = z.number().int().describe('viewport X coordinate (from get_interactive_elements)')
const y = z.number().int().describe('viewport Y coordinate (from get_interactive_elements)')
const duration = z.number().min(0).max(10).optional().describe('pointer movement time in seconds (0.2–0.6 at random when omitted)')
const timeout = z.number().min(0).max(300).default(30).describe('seconds to wait at most')
const selector = z.string().min(1).describe('CSS selector, or xpath=… for XPath')
const step = z.record(z.string(), z.unknown())

const RUN_SCRIPT_DOC = `Run several browser actions in order on ONE browser, in one call. Each step is {"action": name, ...parameters};
add "output_id" to a step to collect its data into outputs (a screenshot becomes a data:image/png;base64 URL).
Control steps: {"if": {"condition": C, "then": [...], "else": [...]}}, {"repeat": {"count": 1-100, "steps": [...]}},
{"while": {"condition": C, "max_iterations": 1-100, "steps": [...]}}. Conditions C: {"type": "element", "selector", "state"},
{"type": "text", "text"}, {"type": "url", "matches"}, {"type": "javascript", "expression"} (must give a boolean),
{"type": "output", "output_id", "path"?, "equals" | "exists"}, {"type": "all"|"any", "conditions": [...]}, {"type": "not", "condition"};
an outer condition may have "timeout" (seconds, polls).
Actions: goto{url, wait_until, referer, timeout}, refresh, get_text, get_html, get_page_info, get_interactive_elements{visible_only},
eval{expression}, click{selector}, fill{selector, value}, type{selector, text, delay}, system_click{x, y, duration},
mouse_move{x, y, duration}, mouse_click{x?, y?}, system_type{text, interval}, send_key{key}, scroll{amount, x, y},
scroll_to_bottom{delay}, scroll_to_bottom_humanized, wait_for_element{selector, state, timeout}, wait_for_text{text, timeout},
wait_for_url{url, timeout}, wait_for_network_idle{timeout}, sleep{duration}, screenshot / save_screenshot{type: browser|desktop,
width, height, whLargest}, list_tabs, new_tab{url}, switch_tab{index}, close_tab{index}, get_cookies{urls}, set_cookie{name, value,
url|domain, ...}, delete_cookies, get_storage/set_storage/clear_storage{type, key, value}, handle_dialog{accept, text},
get_last_dialog, calibrate, get_resolution, enable/disable/get/clear/getclear_network_log and _console_log, ping.
on_error: "stop" (default) halts at the first failure, "continue" goes on.`

export function browserTools(run: RunForCaller, o: { clusterMode: boolean }): ToolSet {
  const act = (action: string) => async (a: Record<string, unknown>, c: ToolCaller) => text(await run({ action, ...a }, c))
  const runScript: BuiltinTool = defineTool({
    name: 'run_script',
    description: RUN_SCRIPT_DOC,
    input: { steps: z.array(step).min(1), name: z.string().default('mcp_script'), on_error: z.enum(['stop', 'continue']).default('stop') },
    run: act('run_script'),
  })
  if (o.clusterMode) return { name: 'browser', description: 'A stealthy browser cluster: run_script runs a whole workflow on one browser', tools: [runScript] }

  const tools: BuiltinTool[] = [
    runScript,
    defineTool({
      name: 'goto',
      description: 'Navigate the browser to a URL. Returns the final url and title.',
      input: { url: z.string().min(1), wait_until: z.enum(['domcontentloaded', 'load', 'networkidle']).default('domcontentloaded'), referer: z.string().optional() },
      run: act('goto'),
    }),
    defineTool({ name: 'get_text', description: 'Visible text of the page (at most 10,000 characters). Read this before taking a screenshot.', input: {}, run: act('get_text') }),
    defineTool({ name: 'get_html', description: 'The full HTML of the page.', input: {}, run: act('get_html') }),
    defineTool({
      name: 'get_interactive_elements',
      description: 'Buttons, links and inputs of the page with their viewport centre (x, y), size, text and a CSS selector.',
      input: { visible_only: z.boolean().default(true) },
      run: act('get_interactive_elements'),
    }),
    defineTool({
      name: 'screenshot',
      description: 'A PNG of the page (browser) or the whole screen (desktop). Prefer get_text; pass whLargest=512 unless detail matters.',
      input: {
        screenshot_type: z.enum(['browser', 'desktop']).default('browser'),
        width: z.number().int().min(1).max(8192).optional(),
        height: z.number().int().min(1).max(8192).optional(),
        whLargest: z.number().int().min(1).max(8192).optional(),
      },
      run: async ({ screenshot_type, ...size }, c) => {
        const e = await run({ action: 'screenshot', type: screenshot_type, ...size }, c)
        const image = e.success ? (e.data as { image?: unknown } | undefined)?.image : undefined
        if (typeof image !== 'string' || !image.startsWith('data:image/png;base64,')) return text(e)
        return { content: [{ type: 'image', data: image.slice('data:image/png;base64,'.length), mimeType: 'image/png' }] }
      },
    }),
    defineTool({ name: 'system_click', description: 'Click at viewport coordinates with a real OS-level pointer (a curved, human path). Prefer click with a selector.', input: { x, y, duration }, run: act('system_click') }),
    defineTool({
      name: 'system_type',
      description: 'Type text with real OS-level keystrokes at a human rhythm into the focused field (focus it first, e.g. with system_click).',
      input: { text: z.string().min(1), interval: z.number().min(0).max(2).default(0.08).describe('average seconds between keys') },
      run: act('system_type'),
    }),
    defineTool({ name: 'send_key', description: 'Press a key or combination: "enter", "tab", "escape", "backspace", "ctrl+a", "ctrl+shift+t", "f5".', input: { key: z.string().min(1) }, run: act('send_key') }),
    defineTool({ name: 'mouse_move', description: 'Move the OS-level pointer to viewport coordinates along a human path, without clicking (hover).', input: { x, y, duration }, run: act('mouse_move') }),
    defineTool({
      name: 'scroll',
      description: 'Turn the mouse wheel: negative amounts scroll down, positive up; x, y (viewport) move the pointer there first.',
      input: { amount: z.number().int().min(-100).max(100).default(-3), x: x.optional(), y: y.optional() },
      run: act('scroll'),
    }),
    defineTool({ name: 'click', description: 'Click an element by CSS selector or xpath=… (a DOM click: fast and reliable).', input: { selector }, run: act('click') }),
    defineTool({ name: 'fill', description: 'Set an input\'s value at once (clears it first; no keystrokes).', input: { selector, value: z.string() }, run: act('fill') }),
    defineTool({
      name: 'eval_js',
      description: 'Evaluate a JavaScript expression in the page and return its result, e.g. "document.title".',
      input: { expression: z.string().min(1) },
      run: act('eval'),
    }),
    defineTool({
      name: 'wait_for_element',
      description: 'Wait until an element is visible, hidden, attached or detached.',
      input: { selector, state: z.enum(['visible', 'hidden', 'attached', 'detached']).default('visible'), timeout },
      run: act('wait_for_element'),
    }),
    defineTool({ name: 'wait_for_text', description: 'Wait until the page\'s text contains a string.', input: { text: z.string().min(1), timeout }, run: act('wait_for_text') }),
    defineTool({
      name: 'browser_action',
      description: 'Any other action by name with its parameters: cookies (get_cookies, set_cookie, delete_cookies), tabs (list_tabs, new_tab, switch_tab, close_tab), storage (get_storage, set_storage, clear_storage), dialogs (handle_dialog, get_last_dialog), logs (enable_network_log, get_network_log, enable_console_log, get_console_log, …), calibrate, get_resolution, refresh, wait_for_url, wait_for_network_idle, scroll_to_bottom, mouse_click, get_page_info, ping, sleep.',
      input: { action: z.string().min(1), params: z.record(z.string(), z.unknown()).optional() },
      run: async (a, c) => text(await run({ ...(a.params ?? {}), action: a.action }, c)),
    }),
  ]
  return { name: 'browser', description: 'A stealthy real browser: navigate, read, click and type (DOM or OS-level), screenshots, scripts', tools }
}
