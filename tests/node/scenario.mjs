// Drives Engram with the official TypeScript SDK: create an agent, send a message, stream a message.
// Usage: node scenario.mjs BASE_URL API_KEY  (the fake LLM is scripted by tests/api/test_sdk_node.py)
import assert from "node:assert/strict";
import Letta from "@letta-ai/letta-client";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new Letta({ baseURL, apiKey, maxRetries: 0 });

const agent = await client.agents.create({
  name: "node-agent",
  model: "openai/gpt-4o-mini",
  memory_blocks: [
    { label: "human", value: "Name: Ada" },
    { label: "persona", value: "I am a helpful assistant" },
  ],
});
assert.ok(agent.id.startsWith("agent-"));
assert.deepEqual(agent.blocks.map((b) => b.label).sort(), ["human", "persona"]);

const response = await client.agents.messages.create(agent.id, {
  messages: [{ role: "user", content: "Hello from Node" }],
});
assert.equal(response.stop_reason.stop_reason, "end_turn");
const reply = response.messages.find((m) => m.message_type === "assistant_message");
assert.equal(reply.content, "Hello, Node.");

const stream = await client.agents.messages.create(agent.id, {
  messages: [{ role: "user", content: "Stream please" }],
  streaming: true,
  stream_tokens: true,
});
const chunks = [];
for await (const chunk of stream) chunks.push(chunk);
const types = chunks.map((c) => c.message_type);
assert.deepEqual(types.slice(-2), ["stop_reason", "usage_statistics"]);
const deltas = chunks.filter((c) => c.message_type === "assistant_message");
assert.ok(deltas.length > 1, "token deltas");
assert.equal(new Set(deltas.map((c) => c.id)).size, 1);
assert.equal(deltas.map((c) => c.content).join(""), "Streaming works token by token from Node.");

const page = await client.agents.messages.list(agent.id, { limit: 100 });
assert.ok(page.getPaginatedItems().some((m) => m.message_type === "user_message"));

await client.agents.delete(agent.id);
console.log("node scenario passed");
