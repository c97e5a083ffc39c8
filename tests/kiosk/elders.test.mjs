// 一人一档 in a real browser (issue #19): the roster import from an .xlsx made here with openpyxl
// (preview with the bad row's reason, then only the valid rows), the masked 身份证号 in the list and the
// full one on the elder's page, 停用 and 重新启用, search by a part of a phone or card, the .xlsx
// downloads read back with openpyxl, a visit at its own time, the check-in time of day; at a phone's
// 390x844 and a desk's 1366x768.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { dir, cfgPath, browser, base, cg, shot, login, startSite, stopSite } from "./harness.mjs";

before(startSite);
after(stopSite);

const ID_OK = "110105194805020027";  // 1948-05-02, 女 (a made-up number with a valid check character)
const ID_OK2 = "110105195003070019";  // 1950-03-07, 男
const ID_BAD = "110105194805020028";  // the same with a wrong check character
const MASKED = "110***********0027";
// Debian's python3, where scripts/setup installs python3-openpyxl (not whatever python3 is first on PATH).
const PYTHON = process.env.CAREGATE_PYTHON || "/usr/bin/python3";

// An .xlsx as staff fill it: headers in their own order, one row with a wrong check character.
function makeRoster(file) {
  const py = `
import sys, openpyxl
wb = openpyxl.Workbook(); ws = wb.active; ws.title = "名册"
ws.append(["姓名", "身份证号", "电话", "紧急联系人", "紧急联系电话", "类别", "卡号"])
ws.append(["陈秀英", "${ID_OK}", "13712345678", "陈明", "13698765432", "独居、低保", "B2001"])
ws.append(["周错号", "${ID_BAD}", "", "", "", "", ""])
ws.append(["吴建国", "${ID_OK2}", "010-66778899", "", "", "空巢", "b2002"])
wb.save(sys.argv[1])
`;
  execFileSync(PYTHON, ["-c", py, file]);
}
// The first sheet of a downloaded .xlsx, read with openpyxl: rows of cell texts.
function readXlsx(file) {
  const py = `
import sys, json, openpyxl
ws = openpyxl.load_workbook(sys.argv[1], read_only=True).worksheets[0]
print(json.dumps([["" if c is None else str(c) for c in r] for r in ws.iter_rows(values_only=True)], ensure_ascii=False))
`;
  return JSON.parse(execFileSync(PYTHON, ["-c", py, file], { encoding: "utf8" }));
}
async function download(page, selector, name) {
  const [d] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  const file = path.join(dir, name);
  await d.saveAs(file);
  return { file, suggested: d.suggestedFilename() };
}
async function openTab(page, tab) {
  // The phone layout may tuck tabs into a scrolling bar: reached by its button either way.
  await page.locator(`#tabs button[data-tab=${tab}]`).click();
  await page.waitForSelector(`#tab-${tab}:not(.hidden)`);
}

test("the roster import previews the bad row with its reason and imports only the valid rows", async () => {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  await login(page, "admin", "admin-pass-1");
  await page.waitForSelector("#app:not(.hidden)");
  await openTab(page, "elders");
  await page.waitForSelector("#el-rows tr:has-text('张桂英')");
  const file = path.join(dir, "roster.xlsx");
  makeRoster(file);
  await page.click("#el-import-open");
  await page.setInputFiles("#el-import-file", file);
  await page.click("#el-import-preview");
  await page.waitForSelector("#el-import-summary");
  assert.match(await page.textContent("#el-import-summary"), /共 3 行：可导入 2 行（新增 2，更新 0），有误 1 行/);
  assert.match(await page.textContent("#el-import-errors"), /第 3 行 身份证号 校验位不对/);
  assert.doesNotMatch(await page.textContent("#el-import-result"), new RegExp(ID_OK), "the preview masks the number");
  await shot(page, "elders-01-import-preview");
  await page.click("#el-import-confirm");
  await page.waitForSelector("#el-import-done");
  assert.match(await page.textContent("#el-import-done"), /已导入：新增 2 人，更新 0 人；有误的 1 行未导入/);
  await page.waitForSelector("#el-rows tr:has-text('陈秀英')");
  const row = await page.textContent("#el-rows tr:has-text('陈秀英')");
  assert.match(row, new RegExp(MASKED.replace(/\*/g, "\\*")));
  assert.doesNotMatch(await page.textContent("#el-rows"), new RegExp(ID_OK), "never the full number in the list");
  assert.doesNotMatch(await page.textContent("#el-rows"), /周错号/);
  await shot(page, "elders-02-imported");

  // The same file again: the two are updated, nobody is added twice.
  await page.setInputFiles("#el-import-file", file);
  await page.click("#el-import-preview");
  await page.waitForSelector("#el-import-summary:has-text('更新 2')");
  await page.click("#el-import-confirm");
  await page.waitForSelector("#el-import-done:has-text('新增 0 人，更新 2 人')");
  assert.equal(await page.locator("#el-rows tr:has-text('陈秀英')").count(), 1);

  // The CLI says the same of the bad row and exits 1 (a dry run saves nothing).
  const r = spawnSync(process.env.CAREGATE_BIN, ["elders", "import", file, "--dry-run", "--config", cfgPath], { encoding: "utf8" });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /第 3 行 身份证号 校验位不对/);
  assert.match(r.stdout, /可导入 2 行（新增 0，更新 2）/);

  // The template downloads and opens.
  const tpl = await download(page, "#el-import-template", "template.xlsx");
  assert.equal(tpl.suggested, "长者名册导入模板.xlsx");
  assert.deepEqual(readXlsx(tpl.file)[0].slice(0, 4), ["姓名", "性别", "出生日期", "身份证号"]);
  await page.close();
});

test("search finds a part of a phone or card; the roster and check-ins download as xlsx", async () => {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  await login(page, "nurse", "nurse-pass-1");
  await page.waitForSelector("#app:not(.hidden)");
  await openTab(page, "elders");
  await page.fill("#el-q", "9876");  // 陈秀英's emergency phone 13698765432
  await page.waitForFunction(() => {
    const t = document.getElementById("el-rows").textContent;
    return t.includes("陈秀英") && !t.includes("张桂英");
  });
  await page.fill("#el-q", "B200");  // cards B2001 and b2002, case-insensitive
  await page.waitForFunction(() => {
    const t = document.getElementById("el-rows").textContent;
    return t.includes("陈秀英") && t.includes("吴建国") && !t.includes("李福生");
  });
  await page.fill("#el-q", "");
  await page.waitForSelector("#el-rows tr:has-text('张桂英')");
  const x = await download(page, "#el-xlsx", "roster-download.xlsx");
  assert.match(x.suggested, /^长者名册-\d{4}-\d{2}-\d{2}\.xlsx$/);
  const rows = readXlsx(x.file);
  assert.equal(rows[0][1], "姓名");
  assert.equal(rows[0][4], "身份证号");
  const chen = rows.find((r) => r[1] === "陈秀英");
  assert.ok(chen, JSON.stringify(rows));
  assert.equal(chen[4], MASKED, "masked in a staff member's export");

  // A manual check-in, found by the time of day it happened and not by another.
  await openTab(page, "checkins");
  await page.selectOption("#mc-elder", { label: "陈秀英" });
  await page.click("#mc-submit");
  await page.waitForSelector("#mc-msg:has-text('签到成功')");
  await page.waitForSelector("#ci-rows tr:has-text('陈秀英')");
  const hour = Number(new Date(Date.now() + 8 * 3600e3).toISOString().slice(11, 13));
  const other = String((hour + 12) % 24).padStart(2, "0");
  // Both ends set before one search (two searches in flight could answer out of order).
  const setTimes = (from, to) => page.evaluate(([f, t]) => {
    document.getElementById("ci-tf").value = f;
    document.getElementById("ci-tt").value = t;
    document.getElementById("ci-tt").dispatchEvent(new Event("change"));
  }, [from, to]);
  await setTimes(`${other}:00`, `${other}:59`);
  await page.waitForFunction(() => !document.getElementById("ci-rows").textContent.includes("陈秀英"));
  const h = String(hour).padStart(2, "0");
  await setTimes(`${h}:00`, `${h}:59`);
  await page.waitForSelector("#ci-rows tr:has-text('陈秀英')");
  const c = await download(page, "#ci-xlsx", "checkins.xlsx");
  assert.match(c.suggested, /^签到记录-/);
  const crow = readXlsx(c.file);
  assert.deepEqual(crow[0].slice(0, 4), ["时间", "长者", "方向", "方式"]);
  assert.ok(crow.some((r) => r[1] === "陈秀英" && r[2] === "签到"), JSON.stringify(crow));
  await shot(page, "elders-03-checkin-time-filter");

  // The alarms and the month's meal statement too.
  await openTab(page, "alarms");
  const al = await download(page, "#al-xlsx", "alarms.xlsx");
  assert.match(al.suggested, /^未处理报警-\d{4}-\d{2}-\d{2}\.xlsx$/);
  assert.deepEqual(readXlsx(al.file)[0].slice(0, 3), ["编号", "类型", "状态"]);
  await openTab(page, "meals");
  const ml = await download(page, "#ml-xlsx", "meals.xlsx");
  assert.match(ml.suggested, /^助餐结算-\d{4}-\d{2}\.xlsx$/);
  const mrows = readXlsx(ml.file);
  assert.equal(mrows[0][2], "类别");
  assert.equal(mrows[mrows.length - 1][2], "合计");
  await page.close();
});

test("on a phone: the elder page shows the full number and the records, 停用 hides the elder, 重新启用 brings them back", async () => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  page.on("dialog", (d) => d.accept());
  await login(page, "nurse", "nurse-pass-1");
  await page.waitForSelector("#app:not(.hidden)");

  // A visit at its own time: yesterday 15:30, written on the visit form.
  await openTab(page, "visits");
  const yesterday = new Date(Date.now() + 8 * 3600e3 - 86400e3).toISOString().slice(0, 10);
  assert.match(await page.inputValue("#vs-at"), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/, "filled with now");
  await page.selectOption("#vs-elder", { label: "陈秀英" });
  await page.fill("#vs-at", `${yesterday}T15:30`);
  await page.fill("#visit-form input[name=health]", "精神好");
  await page.click("#visit-form button[type=submit]");
  await page.waitForSelector("#vs-msg:has-text('探访记录已保存')");
  await page.waitForSelector("#vs-rows tr:has-text('精神好')");
  assert.match(await page.textContent("#vs-rows tr:has-text('精神好')"), /15:30/);
  // Not in the future.
  const tomorrow = new Date(Date.now() + 8 * 3600e3 + 86400e3).toISOString().slice(0, 10);
  // (The field's max stops it in the browser; without it, the server refuses it.)
  await page.evaluate((v) => { const i = document.getElementById("vs-at"); i.removeAttribute("max"); i.value = v; }, `${tomorrow}T09:00`);
  await page.click("#visit-form button[type=submit]");
  await page.waitForSelector("#vs-msg:has-text('探访时间不能晚于现在')");

  await openTab(page, "elders");
  await page.click("#el-rows tr:has-text('陈秀英') button.eld-open");
  await page.waitForSelector("#elder-page:not(.hidden) #eld-idno");
  assert.equal((await page.textContent("#eld-idno")).trim(), ID_OK, "in full on the elder's own page");
  await page.waitForSelector("#eld-visits li:has-text('精神好')");
  assert.match(await page.textContent("#eld-visits"), /15:30/);
  await page.waitForSelector("#eld-checkins li:has-text('签到')");
  assert.match(await page.textContent("#eld-consent"), /未签/);
  // Phone width: the elder's page fits the screen.
  const fit = await page.$eval("#elder-page", (p) => ({ scroll: p.scrollWidth, client: p.clientWidth, right: p.getBoundingClientRect().right }));
  assert.ok(fit.scroll <= fit.client + 1 && fit.right <= 390 + 1, JSON.stringify(fit));
  await shot(page, "elders-04-elder-page-phone");

  await page.click("#eld-deact");
  await page.selectOption("#eld-deact-form select[name=reason]", "迁出");
  await page.fill("#eld-deact-form input[name=note]", "随子女去外地");
  await page.click("#eld-deact-form button[type=submit]");
  await page.waitForSelector("#eld-off:has-text('迁出')");
  assert.match(await page.textContent("#eld-off"), /随子女去外地/);
  await page.waitForFunction(() => !document.getElementById("el-rows").textContent.includes("陈秀英"));
  // Gone from the pickers too.
  const picks = await page.$$eval("#mc-elder option", (os) => os.map((o) => o.textContent));
  assert.ok(!picks.includes("陈秀英") && picks.includes("张桂英"), picks.join(","));
  await page.selectOption("#el-status", "inactive");
  await page.waitForSelector("#el-rows tr:has-text('陈秀英'):has-text('已停用')");
  await shot(page, "elders-05-deactivated-phone");

  await page.click("#eld-react");
  await page.waitForSelector("#eld-msg:has-text('已重新启用')");
  await page.selectOption("#el-status", "active");
  await page.waitForSelector("#el-rows tr:has-text('陈秀英')");
  const audit = execFileSync("sqlite3", [path.join(dir, "cg.db"),
    "SELECT action FROM audit_log WHERE action IN ('elder.deactivate','elder.reactivate') ORDER BY id"], { encoding: "utf8" });
  assert.deepEqual(audit.trim().split("\n"), ["elder.deactivate", "elder.reactivate"]);
  await page.close();
});
