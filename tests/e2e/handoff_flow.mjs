// A customer on the demo web chat and an agent on /agent, in headless Debian chromium.
// Usage: node handoff_flow.mjs <base-url> <artifacts-dir> <user-data-dir>
//          <agent-id> <agent-password> <supervisor-id> <supervisor-password>
// Prints one JSON object: {ok, checks: {name: value}, screenshots: [...], error?}.
import { chromium } from "playwright-core";
import path from "node:path";

const [base, artifacts, userDataDir, agentId, agentPassword, superId, superPassword] = process.argv.slice(2);
const checks = { pageErrors: [] };
const screenshots = [];
const TIMEOUT = 20000;

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function shot(page, name) {
  const file = path.join(artifacts, name);
  await page.waitForTimeout(400); // smooth scrolling and toasts settle
  await page.screenshot({ path: file });
  screenshots.push(file);
}

function watch(page, label) {
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => checks.pageErrors.push(label + ": " + String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      checks.pageErrors.push(label + ": " + m.text());
    }
  });
}

// ---------------------------------------------------------------- the customer (web chat)
const botBubble = (page, text) => page.locator(".row.bot .bubble", { hasText: text });

async function ask(page, text) {
  const input = page.locator("textarea#zk-input");
  await input.fill(text);
  await input.press("Enter");
}

async function openCustomer(context) {
  const page = await context.newPage();
  watch(page, "customer");
  await page.goto(base + "/");
  await page.locator("textarea#zk-input").waitFor();
  return page;
}

// ---------------------------------------------------------------- the agent console
async function login(page, id, password) {
  await page.goto(base + "/agent");
  await page.locator("#login-form").waitFor();
  await page.fill("#agent-id", id);
  await page.fill("#password", password);
  await page.press("#password", "Enter");
  await page.locator("#conn.online").waitFor();
}

async function agentLogsIn(context) {
  const page = await context.newPage();
  watch(page, "agent");
  // A 401 for the wrong password is expected here: keep it out of the console errors.
  page.removeAllListeners("console");
  await page.goto(base + "/agent");
  await page.locator("#login-form").waitFor();
  await shot(page, "handoff-agent-login.png");
  await page.fill("#agent-id", agentId);
  await page.fill("#password", "wrong-password");
  await page.click("#login-submit");
  await page.locator("#login-error:not([hidden])").waitFor();
  checks.badLogin = await page.locator("#login-error").textContent();
  await login(page, agentId, agentPassword);
  checks.connected = true;
  return page;
}

async function agentSeesTheHandoff(agent) {
  const item = agent.locator(".queue-item").first();
  await item.waitFor();
  const id = await item.getAttribute("data-id");
  checks.offeredState = await item.getAttribute("data-state");
  checks.itemSummary = (await item.locator(".item-summary").textContent()).trim();
  await item.locator(".open").click();
  await agent.locator(".transcript .line.user").first().waitFor();
  checks.transcriptUser = await agent.locator(".transcript .line.user .text").allTextContents();
  checks.summaryText = (await agent.locator("#summary").textContent()).trim();
  checks.profileText = (await agent.locator("#profile").textContent()).trim();
  checks.reasonText = (await agent.locator("#reason").textContent()).trim();
  await shot(agent, "handoff-agent-offered.png");
  return id;
}

async function chat(agent, customer, id) {
  await agent.locator(`.queue-item[data-id="${id}"] .accept`).click();
  await agent.locator("#reply").waitFor({ state: "visible" });
  const greeting = botBubble(customer, "我是人工客服");
  await greeting.waitFor();
  checks.greeting = await greeting.last().textContent();

  const hello = "您好，我来帮您看一下话费的问题，请稍等。";
  await agent.fill("#reply", hello);
  await agent.press("#reply", "Enter");
  await botBubble(customer, hello).waitFor();
  checks.agentToCustomer = true;
  await agent.locator(".transcript .line.agent", { hasText: hello }).waitFor();

  const question = "好的，另外出国旅游怎么开通国际漫游？";
  await ask(customer, question);
  await agent.locator(".transcript .line.user", { hasText: question }).waitFor();
  checks.customerToAgent = true;

  await agent.fill("#kb-q", "国际漫游");
  await agent.press("#kb-q", "Enter");
  const insert = agent.locator("#kb-results li", { hasText: "漫游" }).first().locator(".insert");
  await insert.waitFor();
  await insert.click();
  const answer = (await agent.inputValue("#reply")).trim();
  checks.kbInserted = answer.length > 0;
  await agent.press("#reply", "Enter");
  await botBubble(customer, answer.slice(0, 12)).waitFor();
  checks.kbDelivered = true;
  await agent.locator(".transcript .line.agent", { hasText: answer.slice(0, 12) }).waitFor();
  await shot(agent, "handoff-agent-chat.png");
  await shot(customer, "handoff-customer-chat.png");
}

async function endAndRate(agent) {
  await agent.click("#end");
  await agent.locator("#rating:not([hidden])").waitFor();
  checks.ratingShown = true;
  await shot(agent, "handoff-agent-rating.png");
  await agent.click('.rate-satisfaction button[data-score="4"]');
  await agent.click('.rate-difficulty button[data-score="2"]');
  await agent.locator(".toast.ok", { hasText: "评价已提交" }).waitFor();
  await agent.locator("#rating").waitFor({ state: "hidden" });
  checks.rated = true;
}

async function survey(customer) {
  const closing = botBubble(customer, "人工服务已结束");
  await closing.waitFor();
  checks.closing = await closing.textContent();
  await customer.locator(".quick .chip", { hasText: "非常满意" }).first().waitFor();
  checks.surveyChoices = await customer.locator(".quick .chip").allTextContents();
  await shot(customer, "handoff-customer-survey.png");
  await customer.locator(".quick .chip", { hasText: "5 非常满意" }).click();
  const thanks = botBubble(customer, "感谢您的评价");
  await thanks.waitFor();
  checks.thanks = await thanks.textContent();
  const before = await customer.locator(".row.bot").count();
  await ask(customer, "我想查一下话费");
  await customer.waitForFunction((n) => {
    const root = document.querySelector("[data-zhike-webchat]").shadowRoot;
    return root.querySelectorAll(".row.bot").length > n;
  }, before);
  checks.botAgain = await customer.locator(".row.bot .bubble").last().textContent();
  await shot(customer, "handoff-customer-after.png");
}

async function openByLink(agent, id) {
  // The link a PBX agent follows (SIP transfer: X-Zhike-Handoff=<id>): the console opens the
  // ended conversation's context packet, also after a reload.
  const url = new URL(agent.url());
  url.hash = "handoff=" + id;
  await agent.goto(url.toString());
  await agent.reload();
  await agent.locator(".transcript .line.user").first().waitFor();
  checks.linkTranscript = await agent.locator(".transcript .line.user .text").allTextContents();
  checks.linkSummary = (await agent.locator("#summary").textContent()).trim();
}

async function monitor(context) {
  const page = await context.newPage();
  watch(page, "supervisor");
  await login(page, superId, superPassword);
  await page.click("#tab-monitor");
  await page.locator("#stats-today dd").first().waitFor();
  await page.locator("#stats-agents tbody tr").first().waitFor();
  checks.monitorToday = await page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll("#stats-today > div")].map((d) => [
      d.querySelector("dt").textContent, d.querySelector("dd").textContent,
    ])));
  checks.monitorAgents = await page.locator("#stats-agents tbody tr").count();
  await shot(page, "handoff-agent-monitor.png");
  await page.close();
}

async function reconnectAndExpire(agent) {
  // The socket drops: the console shows it, reconnects with backoff and reloads the lists.
  await agent.evaluate(() => window.ZhikeAgentConsole.state().ws.close());
  await agent.locator("#conn:not(.online)").waitFor();
  await agent.locator("#conn.online").waitFor();
  checks.reconnected = true;
  // A session the server no longer knows: back to the login form with its message.
  await agent.evaluate(() => sessionStorage.setItem("zhike.agent.token", "no-such-session"));
  await agent.reload();
  await agent.locator("#login-error:not([hidden])").waitFor();
  checks.expiredMessage = await agent.locator("#login-error").textContent();
  checks.loginShownAgain = await agent.locator("#login-form").isVisible();
}

async function main() {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
    locale: "zh-CN",
  });
  try {
    const agent = await agentLogsIn(context); // online first, or the handoff becomes a ticket
    const customer = await openCustomer(context);
    await ask(customer, "我想查一下话费");
    await botBubble(customer, "手机号码").waitFor();
    await ask(customer, "15012345678");
    await botBubble(customer, "话费余额").waitFor();
    await ask(customer, "转人工");
    await botBubble(customer, "转接人工客服").first().waitFor();
    checks.customerQueued = true;
    const id = await agentSeesTheHandoff(agent);
    await chat(agent, customer, id);
    await endAndRate(agent);
    await survey(customer);
    await openByLink(agent, id);
    await monitor(context);
    await agent.setViewportSize({ width: 390, height: 844 });
    await shot(agent, "handoff-agent-mobile.png");
    await reconnectAndExpire(agent);
  } finally {
    await context.close();
  }
}

main()
  .then(() => console.log(JSON.stringify({ ok: true, checks, screenshots })))
  .catch((e) => {
    console.log(JSON.stringify({ ok: false, error: String((e && e.stack) || e), checks, screenshots }));
  });
