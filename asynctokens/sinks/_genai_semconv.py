"""Every OpenTelemetry metric and attribute name asynctokens emits, in one place.

Follows the OpenTelemetry semantic conventions for generative AI client metrics, v1.37.0
(``docs/gen-ai/gen-ai-metrics.md`` of open-telemetry/semantic-conventions; status
Development). They may still change (a pending proposal replaces the token histogram with
counters): this module is the one to edit when they do.
"""

from __future__ import annotations

from typing import Final

SEMCONV_VERSION: Final = "1.37.0"
SCHEMA_URL: Final = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

# -- metrics of the convention ----------------------------------------------------------------
TOKEN_USAGE: Final = "gen_ai.client.token.usage"
TOKEN_USAGE_UNIT: Final = "{token}"
TOKEN_USAGE_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
OPERATION_DURATION_UNIT: Final = "s"
OPERATION_DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip

# -- counters of our own (the convention has none for these parts of the counts) -------------
#: Input tokens served from a prompt cache (part of the ``input`` usage).
CACHED_TOKENS: Final = "asynctokens.client.token.cached"
#: Input tokens written to a prompt cache (part of the ``input`` usage).
CACHE_WRITE_TOKENS: Final = "asynctokens.client.token.cache_write"
#: Output tokens spent on reasoning (part of the ``output`` usage).
REASONING_TOKENS: Final = "asynctokens.client.token.reasoning"
#: The cost of the calls, priced as the reports price them (``OTelSink(prices=...)``). The
#: conventions have only a proposal for cost (``gen_ai.usage.cost``): the name moves here
#: when one is settled.
COST: Final = "asynctokens.client.cost"
COST_UNIT: Final = "USD"
PRICE_SOURCE: Final = "asynctokens.price_source"
#: Calls billed with counts not all known (``counts_unknown``): their unknown counts are
#: recorded nowhere (a 0 would be a wrong number), so this says how many there were.
COUNTS_UNKNOWN: Final = "asynctokens.client.calls.counts_unknown"
COUNTS_UNKNOWN_UNIT: Final = "{call}"

# -- the names of ``semconv="latest"``: proposals not yet settled --------------------------------
#: open-telemetry/semantic-conventions-genai pull request 374 (open): token counters that add
#: up across calls, by category, beside the histogram; the cache-creation part renamed
#: cache_write, as the span attributes were (``gen_ai.usage.cache_write.input_tokens``).
LATEST_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.input_tokens"
LATEST_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.output_tokens"
LATEST_CACHED_TOKENS: Final = "gen_ai.client.inference.usage.cache_read.input_tokens"
LATEST_CACHE_WRITE_TOKENS: Final = "gen_ai.client.inference.usage.cache_write.input_tokens"
LATEST_REASONING_TOKENS: Final = "gen_ai.client.inference.usage.reasoning.output_tokens"
#: The cost proposal's name (``gen_ai.usage.cost``), as a counter in USD.
LATEST_COST: Final = "gen_ai.usage.cost"
SEMCONV_MODES: Final = ("stable", "latest")

# -- attributes ----------------------------------------------------------------------------------
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
RESPONSE_MODEL: Final = "gen_ai.response.model"
TOKEN_TYPE: Final = "gen_ai.token.type"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
#: The writer's machine: a resource attribute in the conventions, set on each point too so a
#: Prometheus behind a collector keeps it without converting resource attributes.
HOST_NAME: Final = "host.name"
#: A caller's label the sink is told to keep (``OTelSink(label_keys=...)``): the prefix of
#: its attribute, ``asynctokens.label.customer``.
LABEL_PREFIX: Final = "asynctokens.label."

TOKEN_TYPE_INPUT: Final = "input"  # all input, cached and cache-written included
TOKEN_TYPE_OUTPUT: Final = "output"  # all output, reasoning included
DEFAULT_OPERATION: Final = "chat"
#: The operation a call of these providers is, unless its metadata says otherwise: Gemini's
#: API is generateContent, which the convention names apart from chat.
GENERATE_CONTENT: Final = "generate_content"
GENERATE_CONTENT_PROVIDERS: Final = frozenset({"gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai"})
#: error.type when a message names no status code or exception class.
OTHER_ERROR: Final = "_OTHER"

#: asynctokens' api_type -> the convention's gen_ai.provider.name. Another api_type is sent
#: as it is, as the convention allows for providers it does not list.
PROVIDERS: Final = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "google": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral_ai",
    "perplexity": "perplexity",
    "xai": "x_ai",
    "x-ai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}

#: api_type -> the endpoint its calls go to (``server.address``, port 443), where one host
#: serves every customer; Azure, Vertex AI, Bedrock and self-hosted servers are per resource
#: or region, so theirs is not known from the line. An api_type that is itself a host name
#: (an endpoint asynctokens does not know, logged by its host) is its own address.
SERVERS: Final = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "gemini": "generativelanguage.googleapis.com",
    "groq": "api.groq.com",
    "deepseek": "api.deepseek.com",
    "together": "api.together.xyz",
    "openrouter": "openrouter.ai",
    "mistral": "api.mistral.ai",
    "xai": "api.x.ai",
    "fireworks": "api.fireworks.ai",
    "perplexity": "api.perplexity.ai",
    "cohere": "api.cohere.com",
}
