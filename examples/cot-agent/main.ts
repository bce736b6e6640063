/**
 * A chain-of-thought reasoning agent with checkpoints (seed §9.1). `analyze` asks the model for a plan of
 * reasoning steps, `execute` runs them one per graph step (one model call each), `validate` concludes. The first
 * run crashes before step 2; `agent.reason(question, threadId)` sees the thread's checkpoint and continues from
 * step 2 instead of starting over, so no model call is paid twice.
 *
 *   pnpm example cot-agent
 *   OPENAI_API_KEY=sk-… pnpm example cot-agent     # the same agent on a real model
 */
import { HumanMessage, SystemMessage } from "@langchain/core/messages";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver } from "@langchain/langgraph-checkpoint";
import type { ChatOpenAI } from "@langchain/openai";
import { createLLM, lastUserText, systemText } from "../lib/llm.ts";
import { result, say, section } from "../lib/report.ts";
import { openSaver, runSuffix, storeUrl } from "../lib/store.ts";

/** The seed's CoTState. */
const CoTState = Annotation.Root({
  question: Annotation<string>(),
  thoughts: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  reasoning_steps: Annotation<Array<{ step: string; result?: string }>>(),
  final_answer: Annotation<string>(),
  current_step: Annotation<number>(),
  is_complete: Annotation<boolean>(),
});
type CoT = typeof CoTState.State;

class CheckpointedCoTAgent {
  readonly graph;
  /** Set to make the next `execute` of this step number crash (a worker dying mid-task). */
  crashAtStep: number | undefined;

  constructor(
    private readonly llm: ChatOpenAI,
    checkpointer: BaseCheckpointSaver,
  ) {
    this.graph = new StateGraph(CoTState)
      .addNode("analyze", (s) => this.analyzeQuestion(s))
      .addNode("execute", (s) => this.executeReasoningStep(s))
      .addNode("validate", (s) => this.validateAndConclude(s))
      .addEdge(START, "analyze")
      .addConditionalEdges("analyze", (s) => (s.reasoning_steps.length > 0 ? "execute" : "validate"))
      .addConditionalEdges("execute", (s) => (s.current_step < s.reasoning_steps.length ? "execute" : "validate"))
      .addEdge("validate", END)
      .compile({ checkpointer });
  }

  async #ask(system: string, prompt: string): Promise<string> {
    const reply = await this.llm.invoke([new SystemMessage(system), new HumanMessage(prompt)]);
    return String(reply.content).trim();
  }

  async analyzeQuestion(s: CoT): Promise<Partial<CoT>> {
    say("🔍 analyzing the question…");
    const plan = await this.#ask(
      "Plan the reasoning: answer with 2 to 4 short steps, one per line, no numbering.",
      s.question,
    );
    const steps = plan
      .split("\n")
      .map((l) => l.replace(/^\s*(?:[-*•]|\d+[.)])\s*/, "").trim())
      .filter(Boolean)
      .slice(0, 4);
    return { reasoning_steps: steps.map((step) => ({ step })), thoughts: [`plan: ${steps.join(" / ")}`] };
  }

  async executeReasoningStep(s: CoT): Promise<Partial<CoT>> {
    const i = s.current_step;
    say(`🔄 step ${i + 1}/${s.reasoning_steps.length}: ${s.reasoning_steps[i]?.step}`);
    if (this.crashAtStep === i + 1) {
      this.crashAtStep = undefined;
      throw new Error(`worker lost during reasoning step ${i + 1}`);
    }
    const done = s.reasoning_steps.slice(0, i).map((r) => `${r.step} → ${r.result}`);
    const out = await this.#ask(
      "Carry out one reasoning step. Answer in one sentence.",
      `Question: ${s.question}\nDone so far:\n${done.join("\n") || "(nothing)"}\nNow: ${s.reasoning_steps[i]?.step}`,
    );
    const steps = s.reasoning_steps.map((r, j) => (j === i ? { ...r, result: out } : r));
    return { reasoning_steps: steps, thoughts: [out], current_step: i + 1 };
  }

  async validateAndConclude(s: CoT): Promise<Partial<CoT>> {
    say("✅ validating and concluding…");
    const answer = await this.#ask(
      "Check the reasoning and give the final answer in one sentence.",
      `Question: ${s.question}\nReasoning:\n${s.thoughts.join("\n")}`,
    );
    return { final_answer: answer, is_complete: true };
  }

  /** Runs the question on a thread; continues the thread's checkpoint when there is one. */
  async reason(question: string, threadId = `cot_${Date.now()}`) {
    const config = { configurable: { thread_id: threadId } };
    const existing = await this.graph.getState(config);
    if (existing.values.question !== undefined && existing.next.length > 0) {
      say(`📂 found this task's checkpoint: continuing from step ${existing.values.current_step + 1}`);
      return { result: await this.graph.invoke(null, config), threadId };
    }
    say("🚀 starting a new reasoning task");
    const initial = {
      question,
      thoughts: [],
      reasoning_steps: [],
      final_answer: "",
      current_step: 0,
      is_complete: false,
    };
    return { result: await this.graph.invoke(initial, config), threadId };
  }
}

const llm = await createLLM((req) => {
  const sys = systemText(req);
  const user = lastUserText(req);
  if (sys.startsWith("Plan")) {
    return { content: "Technical staff: 60% of 100\nSales staff: 30% of 100\nEveryone else: 100 minus both" };
  }
  if (sys.startsWith("Carry out")) {
    const now = user.slice(user.lastIndexOf("Now: ") + 5);
    if (now.startsWith("Technical")) return { content: "60% of 100 is 60 technical staff." };
    if (now.startsWith("Sales")) return { content: "30% of 100 is 30 sales staff." };
    return { content: "100 - 60 - 30 = 10 employees are in other roles." };
  }
  return { content: "10 employees are neither technical nor sales staff." };
});
const checkpointer = await openSaver();
const agent = new CheckpointedCoTAgent(llm.model, checkpointer);
const threadId = `demo_task_001-${runSuffix()}`;
const question =
  "A company has 100 employees: 60% are technical staff and 30% are sales staff. How many work in other roles?";
console.log(`checkpoints in ${storeUrl}, thread ${threadId}${llm.real ? " (real OpenAI)" : ""}`);

section("1. first run (the worker is lost at reasoning step 2)");
agent.crashAtStep = 2;
let firstError = "";
try {
  await agent.reason(question, threadId);
} catch (e) {
  firstError = (e as Error).message;
  say(`❌ failed: ${firstError}; the same thread_id resumes it`);
}
const requestsBefore = llm.requests();
const saved = await agent.graph.getState({ configurable: { thread_id: threadId } });

section("2. run again with the same thread_id");
const { result: done } = await agent.reason(question, threadId);
say(`✅ answer: ${done.final_answer}`);

let checkpoints = 0;
for await (const _ of agent.graph.getStateHistory({ configurable: { thread_id: threadId } })) checkpoints++;
say(
  `📊 ${checkpoints} checkpoints saved; ${llm.requests()} model requests in all (${requestsBefore} before the crash)`,
);
await checkpointer.close();
await llm.close();

result({
  threadId,
  firstError,
  resumedAtStep: saved.values.current_step + 1,
  requestsBeforeCrash: requestsBefore,
  requests: llm.requests(),
  reasoningSteps: done.reasoning_steps.length,
  checkpoints,
  finalAnswer: done.final_answer,
  isComplete: done.is_complete,
});
