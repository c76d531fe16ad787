// Drives the web chat in headless Debian chromium with playwright-core.
// Usage: node webchat_flow.mjs <base-url> <artifacts-dir> <user-data-dir>
// Prints one JSON object: {ok, checks: {name: value}, screenshots: [...], error?}.
import { chromium } from "playwright-core";
import path from "node:path";

const [base, artifacts, userDataDir] = process.argv.slice(2);
const checks = {};
const screenshots = [];
const TIMEOUT = 20000;

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

async function shot(page, name) {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file });
  screenshots.push(file);
}

const botBubble = (page, text) => page.locator(".row.bot .bubble", { hasText: text });
const userBubble = (page, text) => page.locator(".row.user .bubble", { hasText: text });

async function ask(page, text) {
  const input = page.locator("textarea#zk-input");
  await input.fill(text);
  await input.press("Enter");
}

async function demoPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(base + "/");
  await page.locator("textarea#zk-input").waitFor();
  checks.welcome = await botBubble(page, "我是智能客服小知").count();
  checks.logRole = await page.locator('[role="log"][aria-live="polite"]').count();
  checks.inputFocused = await page.evaluate(() => {
    const host = document.querySelector("[data-zhike-webchat]");
    return host.shadowRoot.activeElement && host.shadowRoot.activeElement.id;
  });

  await ask(page, "我想查一下话费");
  await botBubble(page, "手机号码").waitFor();
  checks.askedPhone = true;
  await ask(page, "15012345678");
  await botBubble(page, "当前话费余额为 12.30元").waitFor();
  checks.balance = true;
  const chip = page.locator(".quick .chip", { hasText: "充50元" });
  await chip.waitFor();
  checks.quickReplies = await page.locator(".quick .chip").allTextContents();
  await page.waitForTimeout(500);
  await shot(page, "webchat-desktop-balance.png");
  await chip.click();
  await userBubble(page, "充50元").waitFor();
  await botBubble(page, "充值成功").waitFor();
  checks.quickReplyAnswered = true;
  checks.quickRepliesAfterClick = await page.locator(".quick .chip").count();
  const session = await page.evaluate(() => window.ZhikeWebChat.sessionId());
  await page.waitForTimeout(500); // let the smooth scroll settle
  await shot(page, "webchat-desktop.png");

  await page.reload();
  await botBubble(page, "充值成功").waitFor();
  checks.sameSession = session === (await page.evaluate(() => window.ZhikeWebChat.sessionId()));
  checks.historyUser = await page.locator(".row.user .bubble").allTextContents();
  checks.historyHasBalance = await botBubble(page, "12.30元").count();

  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  await shot(page, "webchat-mobile.png");
  checks.pageErrors = consoleErrors;
  await page.close();
}

async function embeddedPage(context) {
  // A third-party page that drops the script in: floating launcher + panel, keyboard only.
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text());
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) problems.push(r.status() + " " + r.url());
  });
  page.on("requestfailed", (r) => problems.push(r.url() + " " + (r.failure() || {}).errorText));
  checks.embedProblems = problems;
  // Another origin on loopback (localhost vs 127.0.0.1) embeds the script with data-server.
  const shop = base.replace("127.0.0.1", "localhost") + "/embed-test";
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(shop);
  const launcher = page.locator("button.launcher");
  checks.launcherLabel = await launcher.getAttribute("aria-label");
  await launcher.focus();
  await page.keyboard.press("Enter");
  await page.locator("textarea#zk-input").waitFor();
  await page.waitForTimeout(100);
  checks.embedExpanded = await launcher.getAttribute("aria-expanded");
  checks.embedFocus = await page.evaluate(() =>
    document.querySelector("[data-zhike-webchat]").shadowRoot.activeElement.id);
  await page.keyboard.type("你好");
  await page.keyboard.press("Enter");
  await page.locator(".row.bot .bubble").nth(1).waitFor();
  checks.embedReply = await page.locator(".row.bot .bubble").nth(1).textContent();
  await shot(page, "webchat-embedded.png");
  await page.keyboard.press("Escape");
  checks.embedClosed = await page.locator("section.panel").isHidden();
  checks.embedFocusBack = await page.evaluate(() =>
    document.querySelector("[data-zhike-webchat]").shadowRoot.activeElement.className);
  await page.close();
}

async function fallbackPage(context) {
  // The WebSocket is refused: history comes over GET, messages over POST; then it reconnects.
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  let blocked = true;
  await page.routeWebSocket(/\/webchat\/ws/, (ws) => (blocked ? ws.close() : ws.connectToServer()));
  await page.goto(base + "/");
  await botBubble(page, "充值成功").waitFor(); // the earlier conversation, via GET /webchat/history
  checks.restHistory = true;
  await page.locator(".banner").waitFor({ state: "visible" });
  checks.bannerShown = await page.locator(".banner").textContent();
  // Count before sending: over REST the reply can land before the next line runs.
  const before = await page.locator(".row.bot").count();
  await ask(page, "谢谢");
  await page.waitForFunction((n) => {
    const root = document.querySelector("[data-zhike-webchat]").shadowRoot;
    return root.querySelectorAll(".row.bot").length > n;
  }, before);
  checks.restReply = await page.locator(".row.bot .bubble").last().textContent();
  blocked = false;
  await page.locator(".banner").waitFor({ state: "hidden" });
  checks.reconnected = true;
  await page.close();
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
    await demoPage(context);
    await embeddedPage(context);
    await fallbackPage(context);
  } finally {
    await context.close();
  }
}

main()
  .then(() => console.log(JSON.stringify({ ok: true, checks, screenshots })))
  .catch((e) => {
    console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e), checks, screenshots }));
  });
