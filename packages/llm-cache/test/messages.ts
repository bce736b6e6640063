import { HumanMessage } from "@langchain/core/messages";

/** A question about an image: the prompt string LangChain hands a cache shows it only as `[image]`. */
export const picture = (url: string) =>
  new HumanMessage({
    content: [
      { type: "text", text: "What is in this picture?" },
      { type: "image_url", image_url: { url } },
    ],
  });
