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

// Two conversations of the agent: separate histories, shared memory; `default` is the agent's own history.
const trip = await client.conversations.create({ agent_id: agent.id, summary: "Trip" });
const cooking = await client.conversations.create({ agent_id: agent.id, summary: "Cooking" });
assert.ok(trip.id.startsWith("conv-"));
const tripStream = await client.conversations.messages.create(trip.id, {
  messages: [{ role: "user", content: "Plan Lisbon" }],
});
const tripChunks = [];
for await (const chunk of tripStream) tripChunks.push(chunk);
assert.deepEqual(tripChunks.map((c) => c.message_type).slice(-2), ["stop_reason", "usage_statistics"]);
const human = await client.agents.blocks.retrieve("human", { agent_id: agent.id });
assert.equal(human.value, "Name: Ada. Trip: Lisbon");
const cookingStream = await client.conversations.messages.create(cooking.id, {
  messages: [{ role: "user", content: "What to cook?" }],
  stream_tokens: true,
});
const cookingChunks = [];
for await (const chunk of cookingStream) cookingChunks.push(chunk);
const cookingDeltas = cookingChunks.filter((c) => c.message_type === "assistant_message");
assert.ok(cookingDeltas.length > 1, "token deltas in a conversation");
assert.equal(cookingDeltas.map((c) => c.content).join(""), "Cook for Lisbon: bacalhau.");
const contents = async (id, query) =>
  (await client.conversations.messages.list(id, { order: "asc", ...query }))
    .getPaginatedItems()
    .filter((m) => m.message_type === "user_message" || m.message_type === "assistant_message")
    .map((m) => m.content);
assert.deepEqual(await contents(cooking.id), ["What to cook?", "Cook for Lisbon: bacalhau."]);
assert.ok((await contents(trip.id)).includes("Plan Lisbon"));
assert.ok(!(await contents(trip.id)).includes("What to cook?"));
const own = await contents("default", { agent_id: agent.id });
assert.ok(own.includes("Hello from Node") && !own.includes("Plan Lisbon"));
const listed = await client.conversations.list({ agent_id: agent.id });
assert.deepEqual(listed.map((c) => c.id), [cooking.id, trip.id]);
// Approvals: a tool that requires approval (approve; deny with a reason; unanswered past the TTL) and a
// client-side tool round trip. The fake LLM's calls are scripted by tests/api/test_sdk_node.py.
await client.agents.tools.updateApproval("memory_insert", { agent_id: agent.id, body_requires_approval: true });
const rules = (await client.agents.retrieve(agent.id)).tool_rules ?? [];
assert.ok(rules.some((r) => r.type === "requires_approval" && r.tool_name === "memory_insert"));

async function ask(text, extra = {}) {
  const response = await client.agents.messages.create(agent.id, {
    messages: [{ role: "user", content: text }],
    ...extra,
  });
  assert.equal(response.stop_reason.stop_reason, "requires_approval");
  const request = response.messages.at(-1);
  assert.equal(request.message_type, "approval_request_message");
  return request;
}
const answer = (approvals, extra = {}) =>
  client.agents.messages.create(agent.id, { messages: [{ type: "approval", approvals }], ...extra });

let request = await ask("Remember my cat Tom");
assert.equal(request.tool_call.tool_call_id, "call_ts_approve");
await assert.rejects(
  client.agents.messages.create(agent.id, { messages: [{ role: "user", content: "Hello?" }] }),
  (err) => err instanceof Letta.ConflictError,
);
let done = await answer([{ type: "approval", tool_call_id: "call_ts_approve", approve: true }]);
assert.deepEqual(done.messages.map((m) => m.message_type), ["tool_return_message", "assistant_message"]);
assert.equal(done.messages.at(-1).content, "Saved.");
assert.equal((await client.agents.blocks.retrieve("human", { agent_id: agent.id })).value, "Name: Ada. Trip: Lisbon\nCat: Tom");
await assert.rejects(
  answer([{ type: "approval", tool_call_id: "call_ts_approve", approve: true }]),
  (err) => err instanceof Letta.UnprocessableEntityError && /already been answered/.test(err.message),
);

await ask("Remember my dog Rex");
done = await answer([{ type: "approval", tool_call_id: "call_ts_deny", approve: false, reason: "no dogs" }]);
assert.equal(done.messages[0].status, "error");
assert.equal(done.messages[0].tool_return, "Error: request to call tool denied. User reason: no dogs");

const clientTools = [{ name: "get_time", description: "The user's local time.", parameters: { type: "object", properties: {} } }];
request = await ask("What time is it?", { client_tools: clientTools });
assert.equal(request.tool_call.name, "get_time");
done = await answer([{ type: "tool", tool_call_id: "call_ts_client", tool_return: "09:30", status: "success" }], {
  client_tools: clientTools,
});
assert.equal(done.messages[0].tool_return, "09:30");
assert.equal(done.messages.at(-1).content, "It is half past nine.");

await ask("Remember my bird Tweety");
await new Promise((resolve) => setTimeout(resolve, 13_000)); // past the test server's ENGRAM_APPROVAL_TTL (12 s)
done = await client.agents.messages.create(agent.id, { messages: [{ role: "user", content: "Still there?" }] });
assert.equal(done.messages.at(-1).content, "Still here.");
const expired = (await client.agents.messages.list(agent.id, { limit: 100 }))
  .getPaginatedItems()
  .find((m) => m.message_type === "tool_return_message");
assert.ok(expired.status === "error" && /expired/.test(expired.tool_return), expired.tool_return);

await client.agents.delete(agent.id);
console.log("node scenario passed");
