// The tests' local OpenAI-compatible server is the one the examples and the demo run on (one implementation).
export {
  type ChatMessage,
  type FakeOpenAI,
  type FakeReply,
  type FakeResponder,
  type FakeUsage,
  type RecordedRequest,
  startFakeOpenAI,
} from "../../examples/lib/scripted-openai.js";
