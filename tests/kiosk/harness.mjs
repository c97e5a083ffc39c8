// Shared set-up of the kiosk browser tests: a real caregate daemon and a real Mosquitto broker on
// loopback, and Debian's chromium driven by playwright-core. Each test file starts its own site.
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { chromium } from "playwright-core";

export const BIN = process.env.CAREGATE_BIN;
export const TEST_DATA = process.env.CAREGATE_TEST_DATA;
export const ARTIFACTS = process.env.CAREGATE_ARTIFACTS || path.join(os.tmpdir(), "caregate-kiosk-artifacts");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const MODELS = process.env.CAREGATE_MODELS_DIR;
assert.ok(BIN && fs.existsSync(BIN), "CAREGATE_BIN must point at the built caregate binary");

export const dir = fs.mkdtempSync(path.join(os.tmpdir(), "caregate-kiosk-"));
export const cfgPath = path.join(dir, "site.yaml");
const children = [];
export let browser, kioskPort, mqttPort, base;

export function candidatePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}
export async function waitPort(port, ms = 15000, proc = null) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc && proc.exitCode !== null) throw new Error("exited before listening on " + port);
    const ok = await new Promise((r) => { const s = net.connect(port, "127.0.0.1", () => { s.end(); r(true); }); s.on("error", () => r(false)); });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("port " + port + " did not open");
}
export function cg(...args) { return execFileSync(BIN, args, { encoding: "utf8" }); }
export function start(cmd, args, log) {
  const out = fs.openSync(path.join(dir, log), "a");
  const p = spawn(cmd, args, { stdio: ["ignore", out, out] });
  children.push(p);
  return p;
}
export async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name + ".png"), fullPage: true });
}
export async function login(page, user, pass) {
  await page.goto(base + "/");
  await page.fill("#login-user", user);
  await page.fill("#login-pass", pass);
  await page.click("#login-submit");
}

// Mosquitto 2.0 cannot bind port 0 and report it (it reads 0 as a unix socket): a candidate port,
// and another when the broker exits because it was taken meanwhile.
export async function startBroker() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await candidatePort();
    fs.writeFileSync(path.join(dir, "mosquitto.conf"), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    const p = start("/usr/sbin/mosquitto", ["-c", path.join(dir, "mosquitto.conf")], "mosquitto.log");
    try { await waitPort(port, 5000, p); return port; } catch (e) { p.kill("SIGTERM"); }
  }
  throw new Error("mosquitto did not start: " + fs.readFileSync(path.join(dir, "mosquitto.log"), "utf8"));
}
// The daemon binds kiosk.port 0 and logs the port it got.
export async function loggedKioskPort(log, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const m = /kiosk=http:\/\/127\.0\.0\.1:(\d+)\//.exec(fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "");
    if (m) return Number(m[1]);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the daemon did not say its kiosk port:\n" + fs.readFileSync(log, "utf8"));
}

// One site per test file: a broker, the daemon with two staff and two elders, a browser.
export async function startSite() {
  mqttPort = await startBroker();
  fs.writeFileSync(path.join(dir, "face.key"), Buffer.alloc(32, 7), { mode: 0o600 });
  fs.writeFileSync(path.join(dir, "city.key"), "kiosk-test-city-secret");
  fs.writeFileSync(cfgPath, `site: {id: kiosk-test, name: 测试照料中心}
store: {path: ${dir}/cg.db}
kiosk: {port: 0}
mqtt: {uri: "tcp://127.0.0.1:${mqttPort}"}
face: {enabled: true, key_file: ${dir}/face.key, recognition_model: ${MODELS}/mobilefacenet/MobileFaceNet.tflite}
alarms: {ack_timeout_s: 60, resolve_timeout_s: 900}
city: {enabled: true, uri: "tcp://127.0.0.1:${mqttPort}", hmac_key_file: ${dir}/city.key}
zones: [{id: hall, name: 活动大厅, capacity: 40}, {id: bath, name: 助浴间, private: true}]
mqtt_devices:
  - {id: bath_sos, name: 助浴间紧急按钮, topic: zigbee2mqtt/bath_sos, model: ts0215a_sos, kind: call_button, zone: bath}
`);
  execFileSync(BIN, ["staff", "add", "admin", "--name", "李主任", "--role", "admin", "--password-stdin", "--config", cfgPath], { input: "admin-pass-1\n" });
  execFileSync(BIN, ["staff", "add", "nurse", "--name", "王护士", "--role", "staff", "--password-stdin", "--config", cfgPath], { input: "nurse-pass-1\n" });
  cg("elders", "--config", cfgPath, "add", JSON.stringify({ name: "张桂英", gender: "女", categories: ["独居", "低保"], emergency_contact: "张强", emergency_phone: "13800000000" }));
  cg("elders", "--config", cfgPath, "add", JSON.stringify({ name: "李福生", gender: "男", card_no: "A1002", categories: ["空巢"] }));
  start(BIN, ["run", "--config", cfgPath], "caregate.log");
  kioskPort = await loggedKioskPort(path.join(dir, "caregate.log"));
  base = `http://127.0.0.1:${kioskPort}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
}

export async function stopSite() {
  if (browser) await browser.close();
  for (const c of children.reverse()) c.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  if (!process.env.KEEP) fs.rmSync(dir, { recursive: true, force: true });
}
