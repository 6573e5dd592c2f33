// JSON schemas for the request bodies: required fields, types and sizes. Unknown fields pass through.

const nullable = (type: string | string[]): string[] => [...(Array.isArray(type) ? type : [type]), 'null']

const model = { type: 'string', minLength: 1, maxLength: 256 }
const streamOptions = { type: nullable('object'), properties: { include_usage: { type: 'boolean' } } }
const sampling = {
  temperature: { type: nullable('number'), minimum: 0, maximum: 2 },
  top_p: { type: nullable('number'), minimum: 0, maximum: 1 },
  n: { type: nullable('integer'), minimum: 1, maximum: 128 },
  max_tokens: { type: nullable('integer'), minimum: 1 },
  presence_penalty: { type: nullable('number'), minimum: -2, maximum: 2 },
  frequency_penalty: { type: nullable('number'), minimum: -2, maximum: 2 },
  stop: { type: nullable(['string', 'array']), maxItems: 16, items: { type: 'string' } },
  user: { type: 'string', maxLength: 512 },
  seed: { type: nullable('integer') }
}

export const chatCompletionBody = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model,
    messages: {
      type: 'array',
      minItems: 1,
      maxItems: 100_000,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
          content: { type: nullable(['string', 'array']) },
          name: { type: 'string', maxLength: 256 }
        }
      }
    },
    stream: { type: nullable('boolean') },
    stream_options: streamOptions,
    max_completion_tokens: { type: nullable('integer'), minimum: 1 },
    tools: { type: 'array', maxItems: 512, items: { type: 'object' } },
    response_format: { type: 'object' },
    ...sampling
  }
} as const

export const completionBody = {
  type: 'object',
  required: ['model', 'prompt'],
  properties: {
    model,
    prompt: { type: ['string', 'array'], minItems: 1 },
    stream: { type: nullable('boolean') },
    stream_options: streamOptions,
    ...sampling
  }
} as const

export const embeddingBody = {
  type: 'object',
  required: ['model', 'input'],
  properties: {
    model,
    input: { type: ['string', 'array'], minLength: 1, minItems: 1, maxItems: 2048 },
    encoding_format: { type: 'string', enum: ['float', 'base64'] },
    dimensions: { type: 'integer', minimum: 1, maximum: 65_536 },
    user: { type: 'string', maxLength: 512 }
  }
} as const

const responseInput = { type: ['string', 'array'], maxItems: 100_000 }

export const responseBody = {
  type: 'object',
  required: ['model'],
  properties: {
    model,
    input: responseInput,
    instructions: { type: nullable('string') },
    previous_response_id: { type: nullable('string'), maxLength: 256 },
    stream: { type: nullable('boolean') },
    max_output_tokens: { type: nullable('integer'), minimum: 1 },
    temperature: sampling.temperature,
    top_p: sampling.top_p,
    tools: { type: 'array', maxItems: 512, items: { type: 'object' } }
  }
} as const

export const inputTokensBody = {
  type: 'object',
  properties: {
    model,
    input: responseInput,
    previous_response_id: { type: nullable('string'), maxLength: 256 }
  }
} as const

const anthropicMessages = {
  type: 'array',
  minItems: 1,
  maxItems: 100_000,
  items: {
    type: 'object',
    required: ['role', 'content'],
    properties: {
      role: { type: 'string', enum: ['user', 'assistant'] },
      content: { type: ['string', 'array'] }
    }
  }
}

export const messageBody = {
  type: 'object',
  required: ['model', 'messages', 'max_tokens'],
  properties: {
    model,
    messages: anthropicMessages,
    max_tokens: { type: 'integer', minimum: 1 },
    system: { type: ['string', 'array'] },
    stream: { type: 'boolean' },
    temperature: { type: 'number', minimum: 0, maximum: 1 },
    tools: { type: 'array', maxItems: 512, items: { type: 'object' } }
  }
} as const

export const countTokensBody = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model,
    messages: anthropicMessages,
    system: { type: ['string', 'array'] }
  }
} as const

export const moderationBody = {
  type: 'object',
  required: ['input'],
  properties: { model, input: { type: ['string', 'array'], minLength: 1, minItems: 1 } }
} as const

export const imageBody = {
  type: 'object',
  required: ['prompt'],
  properties: { model, prompt: { type: 'string', minLength: 1, maxLength: 32_000 }, n: { type: nullable('integer'), minimum: 1, maximum: 10 } }
} as const

export const speechBody = {
  type: 'object',
  required: ['model', 'input', 'voice'],
  properties: { model, input: { type: 'string', minLength: 1, maxLength: 4096 }, voice: { type: ['string', 'object'] } }
} as const
