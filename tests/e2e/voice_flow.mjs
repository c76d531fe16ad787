// The softphone (/voice) in headless Debian chromium, with a WAV file as the microphone.
// Usage: node voice_flow.mjs <base-url> <artifacts-dir> <user-data-dir> <caller.wav> <caller-number>
// Prints one JSON object: {ok, checks: {name: value}, screenshots: [...], error?}.
import { chromium } from "playwright-core";
import path from "node:path";

const [base, artifacts, userDataDir, wav, number] = process.argv.slice(2);
const checks = { pageErrors: [] };
const screenshots = [];
const TIMEOUT = 45000;

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
  `--use-file-for-fake-audio-capture=${wav}`, "--autoplay-policy=no-user-gesture-required",
];

async function shot(page, name) {
  const file = path.join(artifacts, name);
  await page.waitForTimeout(300);
  await page.screenshot({ path: file });
  screenshots.push(file);
}

const stats = (page) => page.evaluate(() => ({ ...window.zhikeVoice, transcript: [...window.zhikeVoice.transcript] }));

async function call(page) {
  await page.goto(base + "/voice");
  const dial = page.getByRole("button", { name: "拨打" });
  await dial.waitFor();
  checks.title = await page.title();
  checks.keypadDisabledBeforeCall = await page.getByRole("button", { name: "按键 5" }).isDisabled();
  await page.getByLabel("本机号码").fill(number);
  await dial.click();
  await page.waitForFunction(() => window.zhikeVoice.state === "live");
  checks.status = (await page.locator("#status").textContent()).trim();
  checks.hangupVisible = await page.getByRole("button", { name: "挂断" }).isVisible();

  await page.waitForFunction(() => window.zhikeVoice.audibleFrames > 25); // the greeting
  // the caller's words (from the WAV microphone) recognised, then the bot's answer
  await page.waitForFunction(() => {
    const lines = window.zhikeVoice.transcript;
    const heard = lines.findIndex((l) => l.role === "caller");
    return heard >= 0 && lines.slice(heard + 1).some((l) => l.role === "bot");
  }, null, { timeout: TIMEOUT });
  const after = (await stats(page)).audibleFrames;
  await page.waitForFunction((n) => window.zhikeVoice.audibleFrames > n + 10, after); // spoken too
  checks.caller = (await stats(page)).transcript.filter((l) => l.role === "caller").map((l) => l.text);
  checks.bot = (await stats(page)).transcript.filter((l) => l.role === "bot").map((l) => l.text);

  await page.getByRole("button", { name: "星号键" }).click(); // * repeats the last prompt
  await page.locator(".turn.caller", { hasText: "按键 *" }).waitFor();
  checks.keyShown = true;
  await page.waitForTimeout(1200);
  await shot(page, "voice.png");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "voice-mobile.png");
  await page.setViewportSize({ width: 1280, height: 800 });

  await page.getByRole("button", { name: "挂断" }).click();
  await page.waitForFunction(() => window.zhikeVoice.state === "ended");
  checks.endedStatus = (await page.locator("#status").textContent()).trim();
  checks.dialAgain = await page.getByRole("button", { name: "拨打" }).isVisible();
  const final = await stats(page);
  checks.framesSent = final.framesSent;
  checks.framesReceived = final.framesReceived;
  checks.audibleFrames = final.audibleFrames;
  checks.clears = final.clears;
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
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (e) => checks.pageErrors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
        checks.pageErrors.push(m.text());
      }
    });
    await call(page);
  } finally {
    await context.close();
  }
}

main()
  .then(() => console.log(JSON.stringify({ ok: true, checks, screenshots })))
  .catch((e) => {
    console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e), checks, screenshots }));
  });
