// Folders and files with the official TypeScript SDK: create a folder, upload a Markdown file and a corrupt PDF,
// wait for their processing status (completed / error with its reason), list, delete.
// Usage: node files_scenario.mjs BASE_URL API_KEY  (run by tests/files/test_sdk_node_files.py)
import assert from "node:assert/strict";
import Letta, { toFile } from "@letta-ai/letta-client";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new Letta({ baseURL, apiKey, maxRetries: 0 });

async function settled(folderId, fileId) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const file = await client.folders.files.retrieve(fileId, { folder_id: folderId });
    if (["completed", "error"].includes(file.processing_status) || Date.now() > deadline) return file;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const folder = await client.folders.create({ name: "node-folder", instructions: "Read carefully" });
assert.ok(folder.id.startsWith("source-"));

const notes = await client.folders.files.upload(folder.id, {
  file: await toFile(Buffer.from("# Notes\n\nThe node fact is PELICAN-7.\n"), "notes.md"),
});
assert.equal(notes.file_name, "notes.md");
const broken = await client.folders.files.upload(folder.id, {
  file: await toFile(Buffer.from("%PDF-1.7\nthis is not really a pdf"), "broken.pdf"),
});

const done = await settled(folder.id, notes.id);
assert.equal(done.processing_status, "completed");
assert.equal(done.chunks_embedded, done.total_chunks);
const failed = await settled(folder.id, broken.id);
assert.equal(failed.processing_status, "error");
assert.match(failed.error_message, /broken\.pdf: the PDF cannot be read/);

const listed = [];
for await (const file of client.folders.files.list(folder.id)) listed.push(file.file_name);
assert.deepEqual(listed.sort(), ["broken.pdf", "notes.md"]);
const withText = await client.folders.files.retrieve(notes.id, { folder_id: folder.id, include_content: true });
assert.match(withText.content, /PELICAN-7/);

await client.folders.files.delete(broken.id, { folder_id: folder.id });
await client.folders.delete(folder.id);
console.log("node files scenario passed");
