import { BudgetGuard, CostTracker, PriceTable, prices } from "@graphkeep/cost";
import Keyv from "keyv";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type FakeOpenAI, startFakeOpenAI } from "../../../test/helpers/fake-openai.js";
import { chat, uid } from "./helpers.js";

describe("PriceTable with provider-prefixed model names", () => {
  let fake: FakeOpenAI;
  beforeEach(async () => {
    fake = await startFakeOpenAI();
  });
  afterEach(async () => {
    await fake.close();
  });

  it("prices openai/gpt-4o-mini, openrouter/openai/gpt-4o-mini and openai:gpt-4o-mini as gpt-4o-mini", () => {
    const usage = { inputTokens: 1000, outputTokens: 100 };
    const bare = prices.cost("gpt-4o-mini", usage);
    expect(bare.priced).toBe(true);
    for (const model of ["openai/gpt-4o-mini", "openrouter/openai/gpt-4o-mini", "openai:gpt-4o-mini"]) {
      expect(prices.cost(model, usage), model).toEqual({ ...bare, family: "gpt-4o-mini" });
    }
    // the prefix names the provider: an Anthropic model behind a LiteLLM-style id is priced as Anthropic's
    expect(prices.cost("anthropic/claude-3-5-sonnet-20241022", usage).usd).toBeCloseTo(
      prices.cost("claude-3-5-sonnet-20241022", usage, "anthropic").usd,
      12,
    );
    expect(prices.cost("acme/unknown-model", usage)).toMatchObject({ priced: false, usd: 0 });
    // overrides are found under the bare id too
    const table = new PriceTable({ overrides: { "my-finetune": { input: 1, output: 2 } } });
    expect(table.cost("litellm_proxy/my-finetune", usage)).toMatchObject({ priced: true, family: "my-finetune" });
    expect(table.cost("litellm_proxy/my-finetune", usage).usd).toBeCloseTo((1000 + 200) / 1e6, 12);
  });

  it("a ChatOpenAI call to openrouter/openai/gpt-4o-mini is admitted by the guard and counted at gpt-4o-mini's price", async () => {
    fake.enqueue({ content: "ok", usage: { prompt: 1000, completion: 100 } });
    const tracker = new CostTracker({ store: new Keyv({ namespace: uid() }) });
    const guard = new BudgetGuard({ tracker, limits: { thread: 1 } });
    const threadId = uid();
    await chat(fake, { model: "openrouter/openai/gpt-4o-mini", maxTokens: 200 }).invoke("q", {
      callbacks: [tracker, guard],
      metadata: { thread_id: threadId },
    });
    const t = await tracker.totals({ threadId });
    expect(t).toMatchObject({ calls: 1, unpricedCalls: 0 });
    expect(Object.keys(t.byModel)).toEqual(["gpt-4o-mini"]);
    expect(t.usd).toBeCloseTo(prices.cost("gpt-4o-mini", { inputTokens: 1000, outputTokens: 100 }).usd, 12);
  });
});
