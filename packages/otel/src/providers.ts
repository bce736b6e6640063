/** LangChain `ls_provider` values → `gen_ai.provider.name` well-known values (semconv v1.41). */
const PROVIDERS: Record<string, string> = {
  openai: "openai",
  azure: "azure.ai.openai",
  azure_openai: "azure.ai.openai",
  azureopenai: "azure.ai.openai",
  anthropic: "anthropic",
  bedrock: "aws.bedrock",
  amazon_bedrock: "aws.bedrock",
  aws_bedrock: "aws.bedrock",
  google_genai: "gcp.gen_ai",
  google: "gcp.gen_ai",
  google_vertexai: "gcp.vertex_ai",
  vertexai: "gcp.vertex_ai",
  gemini: "gcp.gemini",
  mistralai: "mistral_ai",
  mistral: "mistral_ai",
  groq: "groq",
  cohere: "cohere",
  deepseek: "deepseek",
  xai: "x_ai",
  perplexity: "perplexity",
  ibm: "ibm.watsonx.ai",
  watsonx: "ibm.watsonx.ai",
};

/** Maps a LangChain `ls_provider` to `gen_ai.provider.name`; unknown providers pass through lowercased. */
export function mapProvider(lsProvider: string | undefined): string | undefined {
  if (lsProvider === undefined) return undefined;
  const key = lsProvider.toLowerCase();
  return PROVIDERS[key] ?? key;
}
