import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

// A local OpenAI-compatible chat server for the examples, the demo and the tests (test/helpers/fake-openai.ts
// re-exports it), so they run without an API key. Replies come from a script (in order) or from a function of
// the request.

/** Token counts the server reports for one reply (OpenAI's `usage`, with its detail objects). */
export interface FakeUsage {
  prompt: number;
  completion: number;
  /** `prompt_tokens_details.cached_tokens` */
  cached?: number;
  /** `completion_tokens_details.reasoning_tokens` */
  reasoning?: number;
}

/** Per-reply extras: reported usage (default 10 prompt + 5 completion tokens) and a delay before answering. */
interface ReplyExtras {
  usage?: FakeUsage;
  delayMs?: number;
}

/** One scripted assistant turn: either plain text, or tool calls (name + JSON-able arguments). */
export type FakeReply =
  | ({ content: string } & ReplyExtras)
  | ({ toolCalls: Array<{ name: string; args: Record<string, unknown> }> } & ReplyExtras);

/** A chat message as ChatOpenAI sends it to /v1/chat/completions. */
export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

/** The parsed body of one request the server received. */
export interface RecordedRequest {
  model: string;
  messages: ChatMessage[];
  tools?: Array<{ type: string; function: { name: string } }>;
  stream?: boolean;
  [key: string]: unknown;
}

export interface FakeOpenAI {
  /** `http://127.0.0.1:<port>/v1`, for `configuration.baseURL`. */
  baseURL: string;
  port: number;
  /** Every /v1/chat/completions request body received, in order. */
  requests: RecordedRequest[];
  /** Appends replies; each request consumes the first one (unused when the server answers with a function). */
  enqueue(...replies: FakeReply[]): void;
  /** Replies not consumed yet. */
  pending(): number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function usageBody(u: FakeUsage) {
  return {
    prompt_tokens: u.prompt,
    completion_tokens: u.completion,
    total_tokens: u.prompt + u.completion,
    prompt_tokens_details: { cached_tokens: u.cached ?? 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoning ?? 0 },
  };
}

/** Server-sent events as OpenAI streams them: a role chunk, content in word pieces or tool calls, finish, usage. */
function streamReply(
  res: ServerResponse,
  head: { id: string; created: number; model: string },
  reply: FakeReply,
  toolCalls: Array<{ id: string; type: string; function: { name: string; arguments: string } }> | undefined,
  finish: string,
  usage: ReturnType<typeof usageBody> | null,
): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
    res.write(
      `data: ${JSON.stringify({
        ...head,
        object: "chat.completion.chunk",
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      })}\n\n`,
    );
  chunk({ role: "assistant", content: "" });
  if (toolCalls) {
    toolCalls.forEach((t, index) => {
      chunk({
        tool_calls: [{ index, id: t.id, type: "function", function: { name: t.function.name, arguments: "" } }],
      });
      chunk({ tool_calls: [{ index, function: { arguments: t.function.arguments } }] });
    });
  } else {
    for (const piece of (reply as { content: string }).content.match(/\S+\s*|\s+/g) ?? []) chunk({ content: piece });
  }
  chunk({}, finish);
  if (usage) res.write(`data: ${JSON.stringify({ ...head, object: "chat.completion.chunk", choices: [], usage })}\n\n`);
  res.end("data: [DONE]\n\n");
}

/** Computes the reply to one request (e.g. from its last user message). */
export type FakeResponder = (request: RecordedRequest) => FakeReply;

/**
 * A minimal OpenAI-compatible server (`POST /v1/chat/completions`, plain and streamed) on 127.0.0.1 and a free
 * port. Answers with the scripted replies in order, or with `respond(request)` when given a function; with no
 * scripted reply left it answers 500, so an unexpected extra model call fails instead of looping.
 */
export async function startFakeOpenAI(replies: FakeReply[] | FakeResponder = []): Promise<FakeOpenAI> {
  const respond = typeof replies === "function" ? replies : undefined;
  const queue: FakeReply[] = typeof replies === "function" ? [] : [...replies];
  const requests: RecordedRequest[] = [];
  let completion = 0;
  let toolCallSeq = 0;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? "").split("?")[0];
      if (req.method !== "POST" || path !== "/v1/chat/completions") {
        send(res, 404, { error: { message: `fake-openai: no route ${req.method} ${req.url}`, type: "not_found" } });
        return;
      }
      let body: RecordedRequest;
      try {
        body = JSON.parse(await readBody(req)) as RecordedRequest;
      } catch {
        send(res, 400, { error: { message: "fake-openai: body is not JSON", type: "invalid_request_error" } });
        return;
      }
      requests.push(body);
      let reply: FakeReply | undefined;
      try {
        reply = respond ? respond(body) : queue.shift();
      } catch (e) {
        send(res, 500, { error: { message: `fake-openai: ${String(e)}`, type: "server_error" } });
        return;
      }
      if (reply === undefined) {
        send(res, 500, { error: { message: "fake-openai: no scripted reply left", type: "server_error" } });
        return;
      }
      if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
      completion += 1;
      const id = `chatcmpl-fake-${completion}`;
      const created = Math.floor(Date.now() / 1000);
      const toolCalls =
        "toolCalls" in reply
          ? reply.toolCalls.map((t) => ({
              id: `call_${++toolCallSeq}`,
              type: "function",
              function: { name: t.name, arguments: JSON.stringify(t.args) },
            }))
          : undefined;
      const finish = toolCalls ? "tool_calls" : "stop";
      const usage = usageBody(reply.usage ?? { prompt: 10, completion: 5 });
      if (body.stream === true) {
        const opts = body.stream_options as { include_usage?: boolean } | undefined;
        streamReply(
          res,
          { id, created, model: body.model },
          reply,
          toolCalls,
          finish,
          opts?.include_usage ? usage : null,
        );
        return;
      }
      const message = toolCalls
        ? { role: "assistant", content: null, tool_calls: toolCalls }
        : { role: "assistant", content: (reply as { content: string }).content };
      send(res, 200, {
        id,
        object: "chat.completion",
        created,
        model: body.model,
        // `n` choices of the same message, one usage for the request (as OpenAI reports it)
        choices: Array.from({ length: typeof body.n === "number" && body.n > 1 ? body.n : 1 }, (_, index) => ({
          index,
          message,
          logprobs: null,
          finish_reason: finish,
        })),
        usage,
      });
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { message: String(e), type: "server_error" } });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    enqueue: (...more) => {
      queue.push(...more);
    },
    pending: () => queue.length,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
