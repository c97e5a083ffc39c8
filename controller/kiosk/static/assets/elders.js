// CareGate kiosk: 一人一档. The roster table (身份证号 masked, 在册/已停用, search by any part of a name,
// card or phone), one page per elder (basic information with the full 身份证号, consent, 停用/重新启用,
// and the elder's check-ins, services, visits, alarms and meals, newest first with 更多), the roster
// import (preview, then only the valid rows), the 导出 Excel link of every table, the check-in search
// by a day range and a time of day, and the visit form's own date and time.
// Uses app.js's globals: api, $, esc, fmt, fmtTime, today, thisMonth, me, editElder, loadElders,
// loadCheckins; app.js calls eldersTable() for the roster and checkinFilters() for the check-in search.
"use strict";

(() => {
  const REASONS = ["离开中心", "去世", "迁出", "其他"];
  const METHOD = { face: "人脸", staff: "人工", card: "刷卡", id: "证件" };
  const SESSION = { breakfast: "早餐", lunch: "午餐", dinner: "晚餐" };
  const KINDS = [
    ["checkins", "签到"], ["services", "服务"], ["visits", "探访"], ["alarms", "报警"], ["meals", "助餐"]];
  // The API's messages may end with an English gloss for logs, "…（…）(…)": not for staff.
  const zh = (e) => String(e?.message ?? e).replace(/\s*\([^()]*[A-Za-z][^()]*\)\s*$/, "");
  const el = (html) => { const t = document.createElement("template"); t.innerHTML = html.trim(); return t.content.firstElementChild; };
  const isAdmin = () => me && me.role === "admin";
  const localNow = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 16);  // "YYYY-MM-DDTHH:MM", 北京时间
  const ageOf = (birth) => {
    if (!birth) return "";
    const [y, m, d] = birth.split("-").map(Number);
    const [ty, tm, td] = today().split("-").map(Number);
    return ty - y - (tm < m || (tm === m && td < d) ? 1 : 0);
  };
  const telLink = (p) => (p ? `<a href="tel:${esc(p.replace(/[^\d+]/g, ""))}">${esc(p)}</a>` : "");
  // A download link that reads its address when clicked (the filters of that moment).
  function xlsxLink(id, href, label = "导出 Excel") {
    const a = el(`<a id="${id}" class="eld-xlsx button-link" href="#" download>${label}</a>`);
    a.addEventListener("click", () => { a.href = href(); });
    return a;
  }

  // ---------- the roster ----------
  const rosterCard = $("el-rows").closest(".card");
  const rosterTable = $("el-rows").closest("table");
  rosterTable.tHead.innerHTML = "<tr><th>姓名</th><th>性别/年龄</th><th>身份证号</th><th>电话</th><th>类别</th><th>状态</th><th>人脸</th><th></th></tr>";
  const tools = el(`<div class="eld-tools">
      <select id="el-status" aria-label="档案状态"><option value="active">在册</option><option value="inactive">已停用</option><option value="all">全部</option></select>
      <button type="button" id="el-import-open">导入名册</button>
    </div>`);
  rosterCard.querySelector("h2").after(tools);
  tools.append(xlsxLink("el-xlsx", () => `/api/elders?format=xlsx&status=${$("el-status").value}&q=${encodeURIComponent($("el-q").value.trim())}`));
  $("el-status").addEventListener("change", () => window.eldersTable());

  let rosterRun = 0;  // the latest search: an earlier one answering late must not overwrite it
  window.eldersTable = async () => {
    const run = ++rosterRun;
    await loadElders();  // the pickers of the other tabs (active elders only)
    const q = $("el-q").value.trim();
    const list = await api(`/api/elders?status=${$("el-status").value}&q=${encodeURIComponent(q)}`);
    if (run !== rosterRun) return;
    $("el-rows").innerHTML = list.map((e) => `<tr data-id="${e.id}" class="${e.active ? "" : "eld-inactive"}">
      <td><button type="button" class="link eld-open" data-id="${e.id}">${esc(e.name)}</button></td>
      <td>${esc(e.gender)}${e.birth_date ? ` ${ageOf(e.birth_date)} 岁` : ""}</td>
      <td class="eld-id">${esc(e.id_number)}</td><td>${esc(e.phone)}</td>
      <td>${e.categories.map(esc).join(" ")}</td>
      <td>${e.active ? "在册" : `<span class="eld-badge off">已停用</span> ${esc(e.deactivated?.reason || "")}`}</td>
      <td>${e.templates ? e.templates + " 张" : "未录入"} · ${e.consent_at ? "已签同意书" : "未签同意书"}</td>
      <td><button type="button" class="eld-open" data-id="${e.id}">查看</button> <button type="button" data-edit="${e.id}">编辑</button></td></tr>`).join("")
      || `<tr><td colspan="8" class="muted">${q ? "没有找到符合“" + esc(q) + "”的长者" : "暂无长者档案"}</td></tr>`;
    $("el-rows").querySelectorAll(".eld-open").forEach((b) => b.addEventListener("click", () => openElder(+b.dataset.id)));
    $("el-rows").querySelectorAll("[data-edit]").forEach((b) => b.addEventListener("click", () => editElder(+b.dataset.edit)));
  };

  // ---------- one page per elder ----------
  const page = $("elder-page");
  let shown = null;  // the elder on the page
  async function openElder(id) {
    let e;
    try { e = await api("/api/elders/" + id); } catch (err) { alert(zh(err)); return; }
    shown = e;
    page.classList.remove("hidden");
    const d = e.deactivated || {};
    page.innerHTML = `<div class="eld-head">
        <h2 id="eld-title" tabindex="-1">${esc(e.name)} ${e.active ? '<span class="eld-badge on">在册</span>' : '<span class="eld-badge off">已停用</span>'}</h2>
        <div class="eld-actions">
          <button type="button" id="eld-edit">编辑档案</button>
          ${e.active ? '<button type="button" id="eld-deact" class="danger">停用</button>' : '<button type="button" id="eld-react">重新启用</button>'}
          <button type="button" id="eld-close" class="link">关闭</button></div></div>
      ${e.active ? "" : `<p class="eld-off-line" id="eld-off">已于 ${esc(d.on || "")} 停用：${esc(d.reason || "")}${d.note ? "（" + esc(d.note) + "）" : ""}${d.by ? "，办理人 " + esc(d.by) : ""}。档案和记录保留，不再出现在签到、助餐、探访名单和门口识别中。</p>`}
      <form id="eld-deact-form" class="eld-deact hidden">
        <label>停用原因 <select name="reason" required>${REASONS.map((r) => `<option>${r}</option>`).join("")}</select></label>
        <label>停用日期 <input type="date" name="on" value="${today()}" max="${today()}" required></label>
        <label class="eld-wide">说明 <input name="note" maxlength="200" placeholder="如：随子女迁往外地"></label>
        <button type="submit" class="danger">确认停用</button> <button type="button" class="link" id="eld-deact-cancel">取消</button>
      </form>
      <p id="eld-msg" class="msg" role="status"></p>
      <dl class="eld-info">
        <dt>身份证号</dt><dd id="eld-idno">${esc(e.id_number) || '<span class="muted">未登记</span>'}</dd>
        <dt>性别</dt><dd>${esc(e.gender) || "—"}</dd>
        <dt>出生日期</dt><dd>${e.birth_date ? `${esc(e.birth_date)}（${ageOf(e.birth_date)} 岁）` : "—"}</dd>
        <dt>电话</dt><dd>${telLink(e.phone) || "—"}</dd>
        <dt>卡号</dt><dd>${esc(e.card_no) || "—"}</dd>
        <dt>地址</dt><dd>${esc(e.address) || "—"}</dd>
        <dt>紧急联系人</dt><dd>${esc(e.emergency_contact) || "—"} ${telLink(e.emergency_phone)}</dd>
        <dt>类别</dt><dd>${e.categories.map(esc).join(" ") || "—"}</dd>
        <dt>人脸同意书</dt><dd id="eld-consent">${e.consent_at ? `已签（记录人 ${esc(e.consent_by)}，${fmt(e.consent_at)}）` : "未签：录入人脸前须取得本人或监护人的单独同意"}</dd>
        <dt>人脸模板</dt><dd>${e.faces_enabled ? (e.templates ? e.templates + " 个" : "未录入") : "本站未启用人脸识别"}</dd>
        <dt>家属提醒</dt><dd>${e.family_notify ? "到离时通知家属" : "不通知"}</dd>
      </dl>
      <div class="eld-history">${KINDS.map(([k, name]) => `<section class="eld-kind" data-kind="${k}">
        <h3>${name}记录</h3><div class="eld-list" id="eld-${k}"><p class="muted">正在读取…</p></div>
        <button type="button" class="eld-more hidden" data-kind="${k}">更多</button></section>`).join("")}</div>`;
    $("eld-close").addEventListener("click", () => { page.classList.add("hidden"); shown = null; });
    $("eld-edit").addEventListener("click", async () => {
      await editElder(e.id);
      $("elder-form-card").scrollIntoView({ block: "start" });
    });
    $("eld-deact")?.addEventListener("click", () => { $("eld-deact-form").classList.remove("hidden"); $("eld-deact-form").elements.reason.focus(); });
    $("eld-deact-cancel").addEventListener("click", () => $("eld-deact-form").classList.add("hidden"));
    $("eld-deact-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      if (!confirm(`确认停用 ${e.name} 的档案？停用后不再出现在签到、助餐、探访名单和门口识别中，记录保留。`)) return;
      try {
        await api(`/api/elders/${e.id}/deactivate`, { json: { reason: f.elements.reason.value, on: f.elements.on.value, note: f.elements.note.value.trim() } });
        await openElder(e.id);
        $("eld-msg").textContent = `${e.name} 已停用`;
        window.eldersTable();
      } catch (err) { $("eld-msg").textContent = zh(err); }
    });
    $("eld-react")?.addEventListener("click", async () => {
      try {
        await api(`/api/elders/${e.id}/reactivate`, { json: {} });
        await openElder(e.id);
        $("eld-msg").textContent = `${e.name} 已重新启用`;
        window.eldersTable();
      } catch (err) { $("eld-msg").textContent = zh(err); }
    });
    page.querySelectorAll(".eld-more").forEach((b) => b.addEventListener("click", () => loadKind(e.id, b.dataset.kind, true)));
    page.scrollIntoView({ block: "start" });
    $("eld-title").focus({ preventScroll: true });
    await Promise.all(KINDS.map(([k]) => loadKind(e.id, k, false)));
  }
  window.openElderPage = openElder;

  const cursors = {};  // kind → the "next" of the last page shown
  function itemLine(kind, r) {
    const when = `<span class="eld-when">${fmt(r.ts)}</span>`;
    if (kind === "checkins")
      return `${when} ${r.direction === "in" ? "签到" : "签退"} · ${METHOD[r.method] || esc(r.method)}${r.temperature ? ` · ${r.temperature.toFixed(1)}℃` : ""}${r.zone_name ? " · " + esc(r.zone_name) : ""}${r.actor ? " · " + esc(r.actor) : ""}`;
    if (kind === "services") return `${when} <b>${esc(r.service)}</b> · ${esc(r.staff)}${r.notes ? " · " + esc(r.notes) : ""}`;
    if (kind === "visits")
      return `${when} <b>${esc(r.method)}探访</b> · ${esc(r.visitor)}${[["身体", r.health], ["安全", r.safety], ["需求", r.needs], ["跟进", r.follow_up]]
        .filter(([, v]) => v).map(([k, v]) => ` · ${k}：${esc(v)}`).join("")}`;
    if (kind === "alarms")
      return `${when} <b>${esc(r.kind_name)}</b> · ${esc(r.state_name)}${r.zone_name ? " · " + esc(r.zone_name) : ""}${r.source_name ? " · " + esc(r.source_name) : ""}`;
    return `${when} ${esc(SESSION[r.session] || r.session)} · ${METHOD[r.method] || esc(r.method)} · 自付 ${r.pays.toFixed(2)} 元 · 补贴 ${r.subsidy.toFixed(2)} 元`;
  }
  async function loadKind(id, kind, more) {
    const box = $("eld-" + kind);
    const q = new URLSearchParams({ kind, limit: "10" });
    if (more && cursors[kind]) { q.set("before", cursors[kind].before); q.set("before_id", cursors[kind].before_id); }
    let r;
    try { r = await api(`/api/elders/${id}/history?${q}`); } catch (err) { box.innerHTML = `<p class="error">${esc(zh(err))}</p>`; return; }
    if (!shown || shown.id !== id) return;
    const html = r.items.map((x) => `<li>${itemLine(kind, x)}</li>`).join("");
    if (!more) box.innerHTML = r.items.length ? `<ul class="eld-items">${html}</ul>` : '<p class="muted">暂无记录</p>';
    else box.querySelector("ul")?.insertAdjacentHTML("beforeend", html);
    cursors[kind] = r.next;
    page.querySelector(`.eld-more[data-kind="${kind}"]`).classList.toggle("hidden", !r.next);
  }

  // ---------- roster import ----------
  const importBox = el(`<div id="el-import" class="eld-import hidden">
      <h3>导入长者名册</h3>
      <p class="hint">支持 Excel（.xlsx）和 CSV 文件，第一行为列名（姓名、性别、出生日期、身份证号、电话、紧急联系人、紧急联系电话、类别、卡号、地址、备注），列的顺序不限；最多 10,000 行。
        同一身份证号的老人再次导入时更新原档案，不会重复建档。</p>
      <div class="eld-import-row"><input type="file" id="el-import-file" accept=".xlsx,.csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv" aria-label="名册文件">
        <button type="button" id="el-import-preview">预览</button>
        <a href="/api/elders/import-template" id="el-import-template" download>下载导入模板</a></div>
      <div id="el-import-result" aria-live="polite"></div>
    </div>`);
  tools.after(importBox);
  $("el-import-open").addEventListener("click", () => importBox.classList.toggle("hidden"));
  async function sendImport(confirmIt) {
    const file = $("el-import-file").files[0];
    if (!file) { $("el-import-result").innerHTML = '<p class="error">请先选择 .xlsx 或 .csv 文件</p>'; return null; }
    if (file.size > 4 * 1024 * 1024) { $("el-import-result").innerHTML = '<p class="error">文件过大：最多 4 MB，请分成几个文件</p>'; return null; }
    const form = new FormData();
    form.append("file", file, file.name);
    return api("/api/elders/import" + (confirmIt ? "?confirm=1" : ""), { form });
  }
  function drawPlan(p) {
    const errors = p.rows.filter((r) => !r.action);
    const valid = p.rows.filter((r) => r.action);
    $("el-import-result").innerHTML = `<p id="el-import-summary" class="eld-summary">共 ${p.total} 行：可导入 <b>${p.valid}</b> 行（新增 ${p.create}，更新 ${p.update}），有误 <b class="${p.refused ? "eld-bad" : ""}">${p.refused}</b> 行${p.refused ? "（有误的行不会导入，请改正后重新导入）" : ""}</p>
      ${p.warnings.length ? `<ul class="eld-warn">${p.warnings.map((w) => `<li>${esc(w)}</li>`).join("")}</ul>` : ""}
      ${errors.length ? `<ul class="eld-errors" id="el-import-errors">${errors.flatMap((r) => r.errors).map((x) => `<li>${esc(x)}</li>`).join("")}</ul>` : ""}
      ${valid.length ? `<table class="eld-preview"><thead><tr><th>行</th><th>姓名</th><th>性别</th><th>出生日期</th><th>身份证号</th><th>电话</th><th>导入方式</th></tr></thead><tbody>
        ${valid.slice(0, 200).map((r) => `<tr><td>${r.line}</td><td>${esc(r.name)}</td><td>${esc(r.gender)}</td><td>${esc(r.birth_date)}</td><td class="eld-id">${esc(r.id_number)}</td><td>${esc(r.phone)}</td>
          <td>${r.action === "create" ? "新增" : "更新原档案"}${r.note ? "（" + esc(r.note) + "）" : ""}</td></tr>`).join("")}</tbody></table>
        ${valid.length > 200 ? `<p class="muted">只列出前 200 行</p>` : ""}` : ""}
      ${p.imported ? `<p class="eld-done" id="el-import-done">已导入：新增 ${p.imported.created} 人，更新 ${p.imported.updated} 人${p.imported.refused ? `；有误的 ${p.imported.refused} 行未导入` : ""}</p>`
        : p.valid ? `<button type="button" id="el-import-confirm" class="primary">确认导入 ${p.valid} 行</button>` : ""}`;
    $("el-import-confirm")?.addEventListener("click", async () => {
      $("el-import-confirm").disabled = true;
      try {
        const r = await sendImport(true);
        if (r) { drawPlan(r); window.eldersTable(); }
      } catch (err) { $("el-import-result").insertAdjacentHTML("beforeend", `<p class="error">${esc(zh(err))}</p>`); }
    });
  }
  $("el-import-preview").addEventListener("click", async () => {
    $("el-import-result").innerHTML = '<p class="muted">正在检查…</p>';
    try {
      const p = await sendImport(false);
      if (p) drawPlan(p);
    } catch (err) { $("el-import-result").innerHTML = `<p class="error" id="el-import-error">${esc(zh(err))}</p>`; }
  });
  $("el-import-file").addEventListener("change", () => { $("el-import-result").innerHTML = ""; });

  // ---------- the elder form: 身份证号 ----------
  // Checked here as the server checks it (GB 11643 check character), so a typo shows at once.
  const idInput = $("elder-form").elements.id_number;
  function idProblem(v) {
    if (!v) return "";
    if (!/^\d{17}[\dXx]$/.test(v)) return "身份证号应为 18 位：17 位数字加最后一位数字或 X";
    const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const sum = w.reduce((s, x, i) => s + x * Number(v[i]), 0);
    return "10X98765432"[sum % 11] === v[17].toUpperCase() ? "" : "身份证号校验位不对，请核对";
  }
  if (idInput) idInput.addEventListener("input", () => idInput.setCustomValidity(idProblem(idInput.value.trim())));

  // ---------- exports of the other tables ----------
  const cardH2 = (id) => $(id)?.closest(".card")?.querySelector("h2");
  cardH2("ci-rows")?.append(xlsxLink("ci-xlsx", () => `/api/checkins?format=xlsx${checkinQuery()}`));
  cardH2("sv-rows")?.append(xlsxLink("sv-xlsx", () => `/api/services?format=xlsx&month=${$("sv-month").value || thisMonth()}`));
  cardH2("vs-rows")?.append(xlsxLink("vs-xlsx", () => "/api/visits?format=xlsx"));
  cardH2("alarm-list")?.append(xlsxLink("al-xlsx", () => `/api/export/alarms${$("alarms-open").checked ? "?open=1" : ""}`));
  $("ml-csv")?.after(xlsxLink("ml-xlsx", () => `/api/export/meals?month=${$("ml-month").value || thisMonth()}`, "下载结算表（Excel）"));

  // ---------- check-ins: a day range and a time of day ----------
  const ciFilters = el(`<div class="eld-ci-filters">
      <label>至 <input type="date" id="ci-to" aria-label="结束日期"></label>
      <label>时段 <input type="time" id="ci-tf" aria-label="开始时间"></label>–<input type="time" id="ci-tt" aria-label="结束时间">
      <button type="button" class="link" id="ci-clear">清除时段</button></div>`);
  $("ci-date")?.closest("h2")?.after(ciFilters);
  ["ci-to", "ci-tf", "ci-tt"].forEach((id) => $(id).addEventListener("change", () => loadCheckins()));
  $("ci-clear").addEventListener("click", () => { ["ci-to", "ci-tf", "ci-tt"].forEach((id) => { $(id).value = ""; }); loadCheckins(); });
  function checkinQuery() {
    const q = new URLSearchParams();
    q.set("date", $("ci-date").value || today());
    if ($("ci-to").value) q.set("to", $("ci-to").value);
    if ($("ci-tf").value) q.set("time_from", $("ci-tf").value);
    if ($("ci-tt").value) q.set("time_to", $("ci-tt").value);
    if ($("ci-q").value.trim()) q.set("q", $("ci-q").value.trim());
    return "&" + q.toString();
  }
  // app.js asks for the day and the name; the range and the time of day are added here.
  window.checkinFilters = () => {
    const q = new URLSearchParams();
    if ($("ci-to").value) q.set("to", $("ci-to").value);
    if ($("ci-tf").value) q.set("time_from", $("ci-tf").value);
    if ($("ci-tt").value) q.set("time_to", $("ci-tt").value);
    const s = q.toString();
    return s ? "&" + s : "";
  };

  // ---------- the visit form: its own date and time ----------
  const visitForm = $("visit-form");
  if (visitForm) {
    const at = el(`<label>探访时间 <input type="datetime-local" name="visit_at" id="vs-at" required></label>`);
    visitForm.querySelector("button[type=submit]").before(at);
    const input = $("vs-at");
    const fill = () => {
      const now = localNow();
      input.max = now;
      // Older than 31 days only by an admin (the server says so too).
      input.min = isAdmin() ? "" : new Date(Date.now() + 8 * 3600e3 - 31 * 86400e3).toISOString().slice(0, 16);
      if (!input.value) input.value = now;
    };
    input.addEventListener("focus", fill);
    visitForm.addEventListener("reset", () => setTimeout(() => { input.value = ""; fill(); }, 0));
    document.querySelector('#tabs button[data-tab="visits"]')?.addEventListener("click", () => { input.value = ""; fill(); });
    fill();
  }
})();
