/**
 * Attribute, metric and value names of the OpenTelemetry semantic conventions this package emits, copied from
 * semconv v1.41 (GenAI and database conventions) so that nothing from `@opentelemetry/semantic-conventions` is
 * needed at runtime. The `graphkeep.*` names are this package's own.
 */

// ---------------------------------------------------------------- GenAI (development status in v1.41)
export const ATTR_GEN_AI_OPERATION_NAME = "gen_ai.operation.name";
export const ATTR_GEN_AI_PROVIDER_NAME = "gen_ai.provider.name";
export const ATTR_GEN_AI_REQUEST_MODEL = "gen_ai.request.model";
export const ATTR_GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature";
export const ATTR_GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens";
export const ATTR_GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p";
export const ATTR_GEN_AI_REQUEST_STREAM = "gen_ai.request.stream";
export const ATTR_GEN_AI_RESPONSE_MODEL = "gen_ai.response.model";
export const ATTR_GEN_AI_RESPONSE_ID = "gen_ai.response.id";
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons";
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens";
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens";
export const ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens";
export const ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens";
export const ATTR_GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens";
export const ATTR_GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id";
export const ATTR_GEN_AI_AGENT_NAME = "gen_ai.agent.name";
export const ATTR_GEN_AI_WORKFLOW_NAME = "gen_ai.workflow.name";
export const ATTR_GEN_AI_TOOL_NAME = "gen_ai.tool.name";
export const ATTR_GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id";
export const ATTR_GEN_AI_TOOL_TYPE = "gen_ai.tool.type";
export const ATTR_GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments";
export const ATTR_GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result";
export const ATTR_GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages";
export const ATTR_GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages";
export const ATTR_GEN_AI_TOKEN_TYPE = "gen_ai.token.type";

export const GEN_AI_OPERATION_CHAT = "chat";
export const GEN_AI_OPERATION_TEXT_COMPLETION = "text_completion";
export const GEN_AI_OPERATION_EXECUTE_TOOL = "execute_tool";
export const GEN_AI_OPERATION_INVOKE_AGENT = "invoke_agent";
export const GEN_AI_OPERATION_INVOKE_WORKFLOW = "invoke_workflow";
export const GEN_AI_TOKEN_TYPE_INPUT = "input";
export const GEN_AI_TOKEN_TYPE_OUTPUT = "output";

export const METRIC_GEN_AI_CLIENT_TOKEN_USAGE = "gen_ai.client.token.usage";
export const METRIC_GEN_AI_CLIENT_OPERATION_DURATION = "gen_ai.client.operation.duration";
/** Bucket boundaries the GenAI conventions advise for `gen_ai.client.token.usage`. */
export const GEN_AI_TOKEN_USAGE_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/** Bucket boundaries (seconds) the GenAI conventions advise for `gen_ai.client.operation.duration`. */
export const GEN_AI_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

// ---------------------------------------------------------------- database (stable)
export const ATTR_DB_SYSTEM_NAME = "db.system.name";
export const ATTR_DB_OPERATION_NAME = "db.operation.name";
export const ATTR_DB_NAMESPACE = "db.namespace";
export const ATTR_DB_OPERATION_BATCH_SIZE = "db.operation.batch.size";
export const ATTR_DB_RESPONSE_RETURNED_ROWS = "db.response.returned_rows";
export const ATTR_ERROR_TYPE = "error.type";
export const METRIC_DB_CLIENT_OPERATION_DURATION = "db.client.operation.duration";
/** Bucket boundaries (seconds) the database conventions advise for `db.client.operation.duration`. */
export const DB_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

// ---------------------------------------------------------------- graphkeep
export const ATTR_THREAD_ID = "graphkeep.thread_id";
export const ATTR_CHECKPOINT_NS = "graphkeep.checkpoint_ns";
export const ATTR_CHECKPOINT_ID = "graphkeep.checkpoint_id";
export const ATTR_STEP = "graphkeep.step";
export const ATTR_SOURCE = "graphkeep.source";
export const ATTR_CHECKPOINT_SIZE = "graphkeep.checkpoint.size";
export const ATTR_TASK_ID = "graphkeep.task_id";
export const ATTR_WRITES = "graphkeep.writes";
export const ATTR_FOUND = "graphkeep.found";
export const ATTR_LIST_COMPLETED = "graphkeep.list.completed";
export const ATTR_RESTORE_KIND = "graphkeep.restore.kind";
export const ATTR_NODE = "graphkeep.node";
export const ATTR_GRAPH_METHOD = "graphkeep.graph.method";
export const ATTR_RESUME = "graphkeep.resume";
export const ATTR_INTERRUPTED = "graphkeep.interrupted";
export const ATTR_COST = "graphkeep.cost";
export const ATTR_COST_CURRENCY = "graphkeep.cost.currency";
/** True when `graphkeep.cost` is the budget reservation charged to a call that reported no usage (an upper bound). */
export const ATTR_COST_ESTIMATED = "graphkeep.cost.estimated";
export const ATTR_COST_THREAD_TOTAL = "graphkeep.cost.thread_total";
export const ATTR_LLM_CACHE_HIT = "graphkeep.llm_cache.hit";
export const EVENT_LARGE_CHECKPOINT = "graphkeep.checkpoint.large";
export const METRIC_CHECKPOINT_SIZE = "graphkeep.checkpoint.size";
export const METRIC_CHECKPOINT_RESTORES = "graphkeep.checkpoint.restores";
export const METRIC_THREADS_ACTIVE = "graphkeep.threads.active";
/** Bucket boundaries (bytes) of `graphkeep.checkpoint.size`: powers of 4 from 256 B to 64 MiB. */
export const CHECKPOINT_SIZE_BUCKETS = [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
