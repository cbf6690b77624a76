// The web chat page in headless Chromium (Playwright): it loads with no request leaving the
// server, renders Markdown safely, streams an answer token by token, stops it, and sends the API
// key it was given. Run by tests/python/test_web_chat.py against a server on a tiny model:
//   PENSIEVE_URL=http://127.0.0.1:PORT/ PENSIEVE_API_KEY=... PENSIEVE_SCREENSHOT=out.png node --test chat_page.test.mjs
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";

const require = createRequire(new URL("../clients/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const url = process.env.PENSIEVE_URL;
const apiKey = process.env.PENSIEVE_API_KEY;
const screenshot = process.env.PENSIEVE_SCREENSHOT;
const executablePath = process.env.PENSIEVE_CHROMIUM || "/usr/bin/chromium";
assert.ok(url && apiKey && screenshot, "PENSIEVE_URL, PENSIEVE_API_KEY and PENSIEVE_SCREENSHOT must be set");

let browser, page;
const requests = [];  // every URL the page asked for
const chatBodies = [];

before(async () => {
  // --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  page.on("request", r => {
    requests.push(r.url());
    if (r.url().endsWith("/v1/chat/completions")) chatBodies.push({ body: JSON.parse(r.postData()), headers: r.headers() });
  });
  await page.goto(url);
});

after(async () => { await browser?.close(); });

test("the page is self-contained: nothing is fetched from anywhere but the server", async () => {
  assert.equal(await page.title(), "Pensieve");
  await page.waitForLoadState("networkidle");
  const origin = new URL(url).origin;
  for (const r of requests) assert.equal(new URL(r).origin, origin, r);
  // The server wants a key and none is set yet: the header says so.
  assert.match(await page.textContent("#model"), /API key/);
});

test("Markdown: HTML is escaped, code fences and inline markup rendered, links only for http(s)", async () => {
  const render = text => page.evaluate(t => renderMarkdown(t), text);
  assert.equal(await render("<img src=x onerror=alert(1)>"), "<p>&lt;img src=x onerror=alert(1)&gt;</p>");
  assert.equal(await render("**bold** and *it* and `a <b> **c**`"),
               "<p><strong>bold</strong> and <em>it</em> and <code>a &lt;b&gt; **c**</code></p>");
  assert.equal(await render("[site](https://example.com/a?b=1&c=2)"),
               '<p><a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">site</a></p>');
  assert.equal(await render("[x](javascript:alert(1))"), "<p>[x](javascript:alert(1))</p>");
  assert.equal(await render('[x](https://a.b/"onmouseover="alert(1))'),
               "<p>[x](https://a.b/&quot;onmouseover=&quot;alert(1))</p>");
  assert.equal(await render("Code:\n```python\nif a < b:\n    print('<x>')\n```\nafter"),
               "<p>Code:</p><pre><code class=\"language-python\">if a &lt; b:\n    print(&#39;&lt;x&gt;&#39;)</code></pre><p>after</p>");
  assert.equal(await render("```\nunclosed <fence>"), "<pre><code>unclosed &lt;fence&gt;</code></pre>");
  assert.equal(await render("- one\n- two\n\n1. first\n2. second"),
               "<ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol>");
  assert.equal(await render("## Title\ntext"), "<h3>Title</h3><p>text</p>");
});

async function answerLength() {
  return page.evaluate(() => {
    const all = document.querySelectorAll(".msg.assistant");
    return all.length ? all[all.length - 1].textContent.length : 0;
  });
}

test("a message streams in token by token, Stop ends it, and the key goes along as a Bearer token", async () => {
  await page.click("#toggle-settings");
  await page.fill("#api-key", apiKey);
  await page.dispatchEvent("#api-key", "change");
  await page.fill("#max-tokens", "20000");  // long enough to be still running when Stop is pressed
  await page.dispatchEvent("#max-tokens", "change");
  await page.fill("#temperature", "0.8");
  await page.dispatchEvent("#temperature", "change");
  await page.fill("#system", "You are terse.");
  await page.dispatchEvent("#system", "change");
  await page.waitForFunction(() => !/API key/.test(document.getElementById("model").textContent));

  // Count the answer's renders and the frames painted meanwhile: the page renders at most once a
  // frame however fast tokens come (rendering per token made long answers freeze the page).
  await page.evaluate(() => {
    window.answerRenders = 0;
    window.framesPainted = 0;
    new MutationObserver(records => {
      for (const r of records) if (r.target.classList?.contains("assistant")) window.answerRenders++;
    }).observe(document.getElementById("messages"), { childList: true, subtree: true });
    const tick = () => { window.framesPainted++; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });

  await page.fill("#input", "Tell me a **long** story.");
  await page.press("#input", "Enter");
  await page.waitForSelector(".msg.user");
  assert.equal(await page.textContent(".msg.user"), "Tell me a **long** story.");

  // Tokens arrive while the answer is still streaming: its text grows several times.
  await page.waitForFunction(() => document.querySelector(".msg.assistant.streaming")?.textContent.length > 0);
  const sizes = [await answerLength()];
  while (sizes.length < 4) {
    await page.waitForFunction(n => {
      const el = document.querySelector(".msg.assistant.streaming");
      return el && el.textContent.length > n;
    }, sizes[sizes.length - 1]);
    sizes.push(await answerLength());
  }
  // Many more tokens than frames so far: each frame shows all the tokens that came in it.
  await page.waitForFunction(() => document.querySelector(".msg.assistant.streaming")?.textContent.length > 400);
  assert.ok(await page.isEnabled("#stop"), "Stop is enabled while an answer streams");
  assert.ok(await page.isDisabled("#send"), "Send waits for the answer");

  await page.click("#stop");
  await page.waitForSelector(".msg.assistant:not(.streaming) .note");
  const { renders, frames } = await page.evaluate(() => ({ renders: window.answerRenders, frames: window.framesPainted }));
  assert.ok(renders >= 4 && renders <= frames + 2, `${renders} renders in ${frames} frames`);
  assert.equal(await page.textContent(".msg.assistant .note"), "(stopped)");
  assert.ok(await page.isEnabled("#send"));
  assert.ok(await page.isDisabled("#stop"));
  const stopped = await answerLength();
  await page.waitForTimeout(500);
  assert.equal(await answerLength(), stopped, "nothing arrives after Stop");
  await page.screenshot({ path: screenshot, fullPage: true });

  assert.equal(chatBodies.length, 1);
  const { body, headers } = chatBodies[0];
  assert.equal(headers["authorization"], "Bearer " + apiKey);
  assert.equal(body.stream, true);
  assert.equal(body.max_tokens, 20000);
  assert.equal(body.temperature, 0.8);
  assert.deepEqual(body.messages, [{ role: "system", content: "You are terse." },
                                   { role: "user", content: "Tell me a **long** story." }]);
});

test("the next question carries the conversation; settings survive a reload", async () => {
  await page.fill("#max-tokens", "8");
  await page.dispatchEvent("#max-tokens", "change");
  await page.fill("#input", "And then?");
  await page.press("#input", "Enter");
  await page.waitForFunction(() => document.querySelectorAll(".msg.assistant").length === 2 &&
                                   !document.querySelector(".msg.assistant.streaming"));
  const { body } = chatBodies[1];
  assert.deepEqual(body.messages.map(m => m.role), ["system", "user", "assistant", "user"]);
  assert.ok(body.messages[2].content.length > 0);

  await page.reload();
  assert.equal(await page.inputValue("#api-key"), apiKey);
  assert.equal(await page.inputValue("#max-tokens"), "8");
  assert.equal(await page.inputValue("#system"), "You are terse.");
});
