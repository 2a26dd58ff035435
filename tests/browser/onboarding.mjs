// Seller onboarding as a person does it, in headless Chromium: open the link `spvault dev`
// printed, click Authorize on the emulated Seller Central, land on the vault's success page.
// Usage: node onboarding.mjs LINK
import { chromium } from "playwright-core";

const link = process.argv[2];
if (!link) throw new Error("usage: node onboarding.mjs LINK");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(link);
  await page.click("#authorize");
  await page.waitForSelector("#title", { timeout: 15000 });
  const title = await page.textContent("#title");
  if (!/connected/i.test(title)) {
    throw new Error(`the vault's page says "${title}": ${await page.textContent("body")}`);
  }
  console.log(`onboarding: ${title}`);
} finally {
  await browser.close();
}
