import { KeyvSaver } from "@graphkeep/keyv-saver";
import { deltaChannelHistoryTests, validate } from "@langchain/langgraph-checkpoint-validation";
import { backends } from "../../../test/helpers/backends.js";

// LangGraph's official conformance suite, once per backend. Every created saver gets its own Keyv namespace,
// so the list tests see clean storage.
for (const backend of backends) {
  if (backend.skip) {
    describe.skip(`KeyvSaver on ${backend.name}: ${backend.skip}`, () => {
      it("is skipped", () => {});
    });
    continue;
  }
  const initializer = {
    checkpointerName: `KeyvSaver(${backend.name})`,
    createCheckpointer: () => new KeyvSaver(backend.keyv()),
    destroyCheckpointer: async (saver: KeyvSaver) => {
      await saver.keyv.clear().catch(() => undefined);
      await saver.close();
    },
  };
  validate(initializer);
  deltaChannelHistoryTests(initializer);
}
