/** Cost arithmetic and budget reset times, against hand-computed cases. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { costOf, pricesFor } from '../../lib/gateway/spend/cost.ts'
import { nextBudgetReset, parseDuration } from '../../lib/gateway/keys/durations.ts'
import { fromAnthropicUsage, fromOpenAIUsage } from '../../lib/gateway/spend/usage.ts'
import { usageOnly } from '../../lib/gateway/calls/proxy.ts'

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`)

test('OpenAI usage: cached prompt tokens at the cache-read price, the rest at the input price', () => {
  // gpt-4o: $2.50/M input, $1.25/M cached input, $10/M output
  const u = fromOpenAIUsage({ prompt_tokens: 2000, completion_tokens: 300, prompt_tokens_details: { cached_tokens: 1500 } })!
  close(costOf(u, pricesFor('gpt-4o', {}, {})), 500 * 2.5e-6 + 1500 * 1.25e-6 + 300 * 10e-6)
  // a dated snapshot is priced as its family
  close(costOf(u, pricesFor('gpt-4o-2024-08-06', {}, {})), 500 * 2.5e-6 + 1500 * 1.25e-6 + 300 * 10e-6)
})

test('reasoning tokens are completion tokens, or priced apart when a reasoning price is set', () => {
  const u = fromOpenAIUsage({ prompt_tokens: 100, completion_tokens: 1000, completion_tokens_details: { reasoning_tokens: 800 } })!
  assert.is(u.reasoning, 800)
  // o3-mini: $1.10/M in, $4.40/M out
  close(costOf(u, pricesFor('o3-mini', {}, {})), 100 * 1.1e-6 + 1000 * 4.4e-6)
  const p = pricesFor('x', { input_cost_per_token: 1e-6, output_cost_per_token: 2e-6, output_cost_per_reasoning_token: 5e-6 }, {})
  close(costOf(u, p), 100 * 1e-6 + 200 * 2e-6 + 800 * 5e-6)
})

test('Anthropic usage: input_tokens exclude cache reads and writes, each priced on its own', () => {
  const u = fromAnthropicUsage({ input_tokens: 50, output_tokens: 20, cache_read_input_tokens: 10_000, cache_creation_input_tokens: 2_000 })!
  assert.is(u.prompt, 12_050)
  // claude-3-5-haiku: $0.80/M in, $4/M out, $0.08/M cache read, $1/M cache write
  close(costOf(u, pricesFor('claude-3-5-haiku-20241022', {}, {})), 50 * 0.8e-6 + 10_000 * 0.08e-6 + 2_000 * 1e-6 + 20 * 4e-6)
})

test('config overrides beat the table; model_info.base_model prices a custom name; unknown models cost 0', () => {
  const u = fromOpenAIUsage({ prompt_tokens: 1000, completion_tokens: 1000, prompt_tokens_details: { cached_tokens: 400 } })!
  close(costOf(u, pricesFor('gpt-4o', { input_cost_per_token: 1e-6 }, {})), 600 * 1e-6 + 400 * 1.25e-6 + 1000 * 10e-6)
  close(costOf(u, pricesFor('my-finetune', {}, { base_model: 'gpt-4o-mini' })), 600 * 0.15e-6 + 400 * 0.075e-6 + 1000 * 0.6e-6)
  // without a cache price, cached tokens cost the input price (never free by accident)
  close(costOf(u, pricesFor('house', {}, { input_cost_per_token: 2e-6, output_cost_per_token: 3e-6 })), 1000 * 2e-6 + 1000 * 3e-6)
  assert.is(pricesFor('totally-unknown', {}, {}), null)
  assert.is(costOf(u, null), 0)
})

test('durations and calendar-aligned budget resets in a timezone', () => {
  assert.is(parseDuration('30s'), 30_000)
  assert.is(parseDuration('30d'), 30 * 86_400_000)
  assert.is(parseDuration('soon'), null)
  // Wednesday 2026-03-25 15:00 UTC = 16:00 in Berlin (CET, +1)
  const now = Date.parse('2026-03-25T15:00:00Z')
  assert.is(new Date(nextBudgetReset('1d', now, 'Europe/Berlin')!).toISOString(), '2026-03-25T23:00:00.000Z')
  // next Monday 2026-03-30 00:00 Berlin is after the DST switch (CEST, +2)
  assert.is(new Date(nextBudgetReset('7d', now, 'Europe/Berlin')!).toISOString(), '2026-03-29T22:00:00.000Z')
  assert.is(new Date(nextBudgetReset('30d', now, 'Europe/Berlin')!).toISOString(), '2026-03-31T22:00:00.000Z')
  assert.is(new Date(nextBudgetReset('1d', now, 'UTC')!).toISOString(), '2026-03-26T00:00:00.000Z')
  assert.is(nextBudgetReset('2h', now, 'UTC'), now + 7_200_000, 'shorter durations roll')
  // 31 December rolls into January of the next year
  assert.is(new Date(nextBudgetReset('30d', Date.parse('2026-12-31T12:00:00Z'), 'UTC')!).toISOString(), '2027-01-01T00:00:00.000Z')
})

test('usage is cut out of an answer without parsing the rest, strings with braces included', () => {
  const answer = { id: 'x', choices: [{ message: { content: 'a "usage": {"prompt_tokens": 999} } trap' } }], usage: { prompt_tokens: 7, completion_tokens: 3, prompt_tokens_details: { cached_tokens: 2, note: 'a } brace' } } }
  assert.equal(usageOnly(Buffer.from(JSON.stringify(answer))), { usage: answer.usage })
  assert.equal(usageOnly(Buffer.from('{"data":[1,2]}')), { usage: undefined })
  assert.is(usageOnly(Buffer.from('not json')), null)
})

test.run()
