// CareGate staff kiosk: plain JavaScript, no external resources (the box works offline).
"use strict";

const KIND = { call: "紧急呼叫", fall: "跌倒", fever: "发热", over_capacity: "超员", device_offline: "设备离线",
  camera_offline: "摄像头离线", storage: "存储告警", long_occupancy: "卫生间长时间占用", channel_offline: "通知渠道故障",
  smoke: "烟雾报警", gas: "燃气泄漏", water_leak: "漏水", electrical_fault: "电气火灾隐患", tamper: "设备被拆" };
const STATE = { raised: "待响应", acknowledged: "已响应", dispatched: "已派出", resolved: "已处置", cancelled: "已取消" };
const STEP = { raised: "报警", repeated: "再次呼叫", acknowledged: "响应", dispatched: "派出", escalated: "升级",
  resolved: "处置完成", cancelled: "现场复位取消", note: "备注", notified: "通知" };
const TARGET = { "110": "110 报警", "120": "120 急救", "119": "119 消防", family: "家属", city_hotline: "市养老服务热线",
  staff: "值班人员" };
const CHANNEL = { wecom: "企业微信群", dingtalk: "钉钉群", webhook: "对接平台", sms: "短信", voice: "电话", speaker: "广播" };
const NSTATE = { pending: "等待发送", sending: "发送中", sent: "已发出", failed: "失败", cancelled: "已取消（已有人响应）" };
const WEEKDAYS = ["", "周一", "周二", "周三", "周四", "周五", "周六", "周日"];
const CATS = ["独居", "空巢", "留守", "失能", "重残", "计生特殊", "低保", "特困"];
const SERVICES = ["助餐", "助浴", "助洁", "文体娱乐", "代办代购", "医疗保健", "心理慰藉", "技能培训", "康复辅具租赁"];

let me = null;
let elders = [];
let currentTab = "overview";
let eventsBefore = 0;

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmt = (ms) => ms ? new Date(ms).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "";
const fmtTime = (ms) => ms ? new Date(ms).toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "";
const today = () => new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
const thisMonth = () => today().slice(0, 7);

async function api(path, opts = {}) {
  const init = { credentials: "same-origin", headers: {} };
  if (opts.method) init.method = opts.method;
  if (opts.json !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(opts.json);
  }
  if (opts.form) { init.method = "POST"; init.body = opts.form; }
  if (init.method && init.method !== "GET" && me) init.headers["X-CSRF-Token"] = me.csrf;
  const res = await fetch(path, init);
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : await res.text();
  if (res.status === 401 && path !== "/api/login") { showLogin(); throw new Error(data.error || "请先登录"); }
  if (!res.ok) {
    const err = new Error((data && data.error) || ("HTTP " + res.status));
    err.status = res.status;
    err.code = data && data.code;
    err.data = data;
    throw err;
  }
  return data;
}

function showLogin() {
  me = null;
  $("app").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("login-user").focus();
}

async function start() {
  try {
    me = await api("/api/me");
  } catch (e) { return showLogin(); }
  $("login").classList.add("hidden");
  $("app").classList.remove("hidden");
  $("site-name").textContent = me.site;
  $("who").textContent = me.name + (me.role === "admin" ? "（管理员）" : "");
  document.querySelectorAll(".admin-only").forEach((el) => el.classList.toggle("hidden", me.role !== "admin"));
  await loadElders();
  connectLive();
  refreshBanner();
  // The link in a notification (…/#alarm-12) opens that alarm's record.
  const linked = /^#alarm-(\d+)$/.exec(location.hash);
  if (linked) { show("alarms"); openAlarm(+linked[1], true).catch((e) => alert(e.message)); } else show(currentTab);
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    me = await api("/api/login", { json: { username: $("login-user").value, password: $("login-pass").value } });
    $("login-pass").value = "";
    start();
  } catch (e) { $("login-error").textContent = e.message; }
});
$("logout").addEventListener("click", async () => { try { await api("/api/logout", { json: {} }); } finally { showLogin(); } });

document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));

function show(tab) {
  const changed = tab !== currentTab;
  currentTab = tab;
  document.querySelectorAll("#tabs button").forEach((b) => {
    const on = b.dataset.tab === tab;
    b.classList.toggle("active", on);
    if (on) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
    // The phone's bottom bar scrolls sideways: the open tab stays in it.
    if (on && changed && b.parentElement.scrollWidth > b.parentElement.clientWidth) b.scrollIntoView({ block: "nearest", inline: "nearest" });
  });
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("hidden", s.id !== "tab-" + tab));
  ({ overview: loadOverview, alarms: loadAlarms, duty: loadDuty, checkins: loadCheckins, elders: () => { loadFaces(); loadElderTable(); }, services: loadServices,
    visits: loadVisits, events: () => loadEvents(true), devices: loadDevices, report: loadReport, staff: loadStaff })[tab]?.();
  window.careTabShown?.(tab);  // 关爱 and 助餐 (care.js)
}

// ---------- live updates ----------
let source = null;
function connectLive() {
  if (source) source.close();
  source = new EventSource("/api/stream");
  // After a reconnect the events sent meanwhile are lost: the banner and the page are read again.
  source.addEventListener("open", () => { linkState(true); refreshBanner(); refresh(); });
  source.addEventListener("error", () => linkState(false));  // EventSource reconnects itself
  source.addEventListener("alarm", () => { refreshBanner(); refresh(); });
  source.addEventListener("checkin", refresh);
  source.addEventListener("occupancy", refresh);
  source.addEventListener("device", refresh);
  source.addEventListener("cctv", () => { if (currentTab === "events") loadEvents(true); });
}
// Said in words too, not by its colour alone.
function linkState(on) {
  $("live").className = "live " + (on ? "on" : "off");
  $("live").textContent = on ? "● 实时" : "○ 断开";
}
let refreshTimer = null;
function refresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => show(currentTab), 150);
}

// ---------- alarm banner ----------
// Lists every alarm nobody has answered yet (待响应), each with where it is; it sits under the tabs
// and never covers them. Calls and falls are red and sound every few seconds until answered; device
// faults are amber and sound once a minute, softly.
const FAULTS = new Set(["device_offline", "camera_offline", "storage", "channel_offline", "tamper"]);
const isFault = (a) => FAULTS.has(a.kind);
const where = (a) => [a.zone_name, a.source_name && a.source_name !== a.zone_name ? a.source_name : ""].filter(Boolean).join(" · ");
let waiting = [];
let bannerAsked = 0;  // the newest /api/alarms request: an older answer arriving late is stale
let audio = null;
let soundTimer = null;
let lastSound = 0;

async function refreshBanner() {
  // Refreshes overlap (each alarm event, each answer): only the newest request's answer is drawn, so
  // the list of a request sent before a press cannot arrive last and hide that press's alarm.
  const asked = ++bannerAsked;
  let open;
  try { open = await api("/api/alarms?open=1"); } catch (e) { return; }
  if (asked !== bannerAsked) return;
  waiting = open.filter((a) => a.state === "raised").sort((x, y) => isFault(x) - isFault(y) || y.raised_at - x.raised_at);
  const b = $("banner");
  // The 报警 tab says how many wait, in the bottom bar of a phone too.
  const tab = document.querySelector('#tabs button[data-tab="alarms"]');
  if (waiting.length) tab.dataset.count = waiting.length; else delete tab.dataset.count;
  tab.setAttribute("aria-label", waiting.length ? `报警（${waiting.length} 条待响应）` : "报警");
  if (!waiting.length) { b.classList.add("hidden"); b.innerHTML = ""; stopSound(); return; }
  const urgent = waiting.some((a) => !isFault(a));
  b.className = "banner " + (urgent ? "urgent" : "fault");
  b.innerHTML = waiting.map((a) => `<div class="banner-row ${isFault(a) ? "fault" : "urgent"}" data-id="${a.id}">
      <span class="banner-what">${isFault(a) ? '<span class="tag fault">⚠ 设备故障</span>' : '<span class="tag urgent">⚠ 紧急</span>'}
        <b>${esc(KIND[a.kind] || "报警")}</b> ${esc(where(a))}</span>
      <span class="banner-meta">#${a.id} · ${fmtTime(a.raised_at)}${a.presses > 1 ? ` · 呼叫 ${a.presses} 次` : ""}${a.level ? ` · 已升级 ${a.level} 级` : ""}${a.detail?.follows ? ` · 前次 #${a.detail.follows} 已响应后再次报警` : ""}</span>
      <button class="banner-ack" data-id="${a.id}">立即响应</button><button class="banner-view" data-id="${a.id}">查看</button></div>`).join("") +
    `<button id="sound-enable" class="sound-enable hidden">声音被浏览器阻止 — 点此开启</button>`;
  b.querySelectorAll(".banner-ack").forEach((x) => x.addEventListener("click", () => act(+x.dataset.id, "ack", {})));
  b.querySelectorAll(".banner-view").forEach((x) => x.addEventListener("click", () => { show("alarms"); openAlarm(+x.dataset.id, true); }));
  $("sound-enable").addEventListener("click", async () => { try { await audio?.resume(); } catch (e) { /* stays blocked */ } soundState(); });
  startSound();
}
function soundState() {
  const blocked = !audio || audio.state !== "running";
  $("sound-enable")?.classList.toggle("hidden", !blocked || !waiting.length);
  document.body.dataset.sound = blocked ? "blocked" : "on";
}
function startSound() {
  if (!audio) { try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; } }
  if (audio && audio.state === "suspended") audio.resume().catch(() => {}).finally(soundState);
  soundState();
  if (!soundTimer) soundTimer = setInterval(tone, 1000);
  tone();
}
function stopSound() { clearInterval(soundTimer); soundTimer = null; soundState(); }
function tone() {
  if (!waiting.length) return stopSound();
  const urgent = waiting.some((a) => !isFault(a));
  const every = urgent ? 5000 : 60000;
  // A call or fall arriving while only a fault was sounding is sounded at once, not a minute later.
  if (Date.now() - lastSound < every && !(urgent && document.body.dataset.tone !== "urgent")) return;
  lastSound = Date.now();
  document.body.dataset.tone = urgent ? "urgent" : "fault";
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  if (!audio || audio.state !== "running") return soundState();
  const pulses = urgent ? [0, 0.35, 0.7] : [0];
  pulses.forEach((t) => {
    const o = audio.createOscillator(); const g = audio.createGain();
    o.frequency.value = urgent ? 880 : 520; o.connect(g); g.connect(audio.destination);
    g.gain.setValueAtTime(urgent ? 0.3 : 0.08, audio.currentTime + t);
    o.start(audio.currentTime + t); o.stop(audio.currentTime + t + 0.2);
  });
}

// ---------- overview ----------
// The door's latest decision for an elder who was not let in (fever re-measure, waiting, no
// temperature): staff let them in after measuring by hand, or take them aside.
function drawDoor(door) {
  const d = door && door.last;
  const show = d && d.elder_id && d.decision !== "allow" && d.decision !== "visitor" && Date.now() - d.ts < 10 * 60000;
  $("ov-door-card").classList.toggle("hidden", !show);
  if (!show) return;
  $("ov-door").innerHTML = `<p><b>${esc(d.elder_name)}</b> ${fmtTime(d.ts)}：${esc(d.message)}</p>
    <div class="row"><label>人工测温 <input id="door-temp" type="number" step="0.1" min="34" max="42" placeholder="36.5" inputmode="decimal"> ℃</label>
    <button id="door-allow" class="primary" data-elder="${d.elder_id}">已人工测温，放行</button>
    <button id="door-aside" data-elder="${d.elder_id}">请跟随工作人员</button></div><p id="door-msg" class="msg" role="status"></p>`;
  const send = async (decision, reason, temperature) => {
    try {
      await api("/api/door/override", { json: { elder_id: d.elder_id, decision, reason, temperature } });
      $("door-msg").textContent = decision === "allow" ? "已放行并签到" : "已请其跟随工作人员";
    } catch (e) { $("door-msg").textContent = e.message.replace(/\s*\([^)]*\)\s*$/, ""); }
  };
  $("door-allow").addEventListener("click", () => {
    const t = parseFloat($("door-temp").value);
    if (!(t >= 34 && t <= 42)) { $("door-temp").focus(); $("door-msg").textContent = "请先填写人工测得的体温"; return; }
    send("allow", `人工测温 ${t.toFixed(1)}℃`, t);
  });
  $("door-aside").addEventListener("click", () => send("refuse", "请跟随工作人员", undefined));
}
async function loadOverview() {
  const o = await api("/api/overview");
  $("ov-checkins").textContent = o.checkins_today;
  $("ov-inside").textContent = o.inside;
  $("ov-zones").innerHTML = o.zones.map((z) => {
    const pct = z.capacity ? Math.min(100, Math.round((z.count * 100) / z.capacity)) : 0;
    const label = z.level === "full" ? "已满" : z.level === "near" ? "将满" : "";
    return `<div class="zone"><span>${esc(z.name)}</span><div class="bar ${z.level}"><div style="width:${pct}%"></div></div>
      <span>${z.count}${z.capacity ? " / " + z.capacity : ""} ${label}</span>
      <button class="small zone-fix" data-zone="${esc(z.id)}" data-count="${z.count}">校正</button></div>`;
  }).join("");
  $("ov-zones").querySelectorAll(".zone-fix").forEach((b) => b.addEventListener("click", () => correctZone(b.dataset.zone, b.dataset.count)));
  drawDoor(o.door);
  $("ov-alarms").innerHTML = o.alarms.length ? o.alarms.map(alarmRow).join("") : "<p>暂无未处理报警</p>";
  bindAlarmRows($("ov-alarms"));
  // A stuck worker thread is said first and plainly: the door no longer decides while it is stuck.
  const stalled = (o.stalled || []).map((w) =>
    `<p class="stalled" role="alert">⚠ ${esc(w.label)}已停止（${w.silent_s} 秒无响应），请联系维护人员或重启设备</p>`).join("");
  $("ov-devices").innerHTML = stalled + o.devices.map((d) =>
    `<span class="${d.online === null ? "dev-unknown" : d.online ? "dev-on" : "dev-off"}">${d.online === false ? "⚠" : "●"} ${esc(d.id)} ${d.online === null ? "未知" : d.online ? "在线" : "离线"}</span>`).join("　");
  const notices = o.notices || [];
  $("ov-notices-card").classList.toggle("hidden", notices.length === 0);
  $("ov-notices").innerHTML = notices.map((n) =>
    `<div class="notice ${esc(n.level || "info")}"><b>${esc(n.title || "通知")}</b> ${esc(n.text)}
      <small>${fmt(n.received_at)}</small></div>`).join("");
}

// Staff set a zone's head count when it is wrong (audited with the reason).
async function correctZone(zone, current) {
  const answer = prompt("实际人数", current);
  if (answer === null || answer.trim() === "") return;
  const count = Number(answer.trim());
  if (!Number.isInteger(count) || count < 0) { alert("请输入人数（0 或正整数）"); return; }
  const reason = prompt("校正原因（将记入审计日志）", "");
  if (!reason) return;
  try {
    await api(`/api/occupancy/${encodeURIComponent(zone)}`, { json: { count, reason } });
  } catch (e) { alert(e.message); }
  loadOverview();
}

// ---------- alarms ----------
// A row is a button: Tab reaches it, Enter or Space opens it. A device fault is amber and says so.
function alarmRow(a) {
  return `<div class="alarm ${a.state}${isFault(a) ? " fault" : ""}" data-id="${a.id}" tabindex="0" role="button">
    ${isFault(a) ? '<span class="tag fault">⚠ 设备故障</span> ' : ""}<b>#${a.id} ${esc(KIND[a.kind] || a.kind)}</b>
    ${esc(where(a))} · ${fmt(a.raised_at)}
    <span class="state">${STATE[a.state] || a.state}</span>${a.level ? ` <span class="state">升级 ${a.level} 级</span>` : ""}
    ${a.presses > 1 ? ` · 呼叫 ${a.presses} 次` : ""}</div>`;
}
function bindAlarmRows(root) {
  root.querySelectorAll(".alarm").forEach((el) => {
    const open = () => { show("alarms"); openAlarm(+el.dataset.id, true).catch((e) => alert(e.message)); };
    el.addEventListener("click", open);
    el.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" && ev.key !== " ") return;
      ev.preventDefault();
      open();
    });
  });
}
async function loadAlarms() {
  const list = await api("/api/alarms" + ($("alarms-open").checked ? "?open=1" : ""));
  $("alarm-list").innerHTML = list.length ? list.map(alarmRow).join("") : "<p>暂无报警</p>";
  bindAlarmRows($("alarm-list"));
}
$("alarms-open").addEventListener("change", loadAlarms);
// A 'notified' step reads as the channel, whom it went to and what came of it:
// "短信 · 值班短信 → 13800000001 短信已发送".
function stepLine(s) {
  if (s.step === "notified") {
    const type = CHANNEL[String(s.actor || "").replace(/^notify:/, "")];
    return `${fmt(s.ts)} · <b>${STEP.notified}</b>${type ? " · " + esc(type) : ""} · ${esc(s.target || "")} ${esc(s.note || "")}`;
  }
  return `${fmt(s.ts)} · <b>${esc(STEP[s.step] || s.step)}</b> · ${esc(s.actor_name || s.actor)}
      ${s.target ? " → " + esc(TARGET[s.target] || s.target) : ""} ${s.note ? " · " + esc(s.note) : ""}`;
}
function notificationRow(n) {
  const type = CHANNEL[n.channel_type] || n.channel_type || "渠道已不在配置中";
  const when = n.attempts ? "更新 " + fmtTime(n.updated_at) : "计划 " + fmtTime(n.due_at);
  return `<li><span class="nstate ${esc(n.state)}">${esc(NSTATE[n.state] || n.state)}</span>
    第 ${n.step + 1} 级 · ${esc(n.channel_name || "渠道已不在配置中")}（${esc(type)}）${n.recipient ? " → " + esc(n.recipient) : ""}
    ${n.attempts ? ` · 已尝试 ${n.attempts} 次` : ""}${n.result ? " · " + esc(n.result) : ""} <small>${when}</small></li>`;
}
function notificationsBlock(list) {
  if (list === null) return '<p class="muted">通知记录暂时无法读取</p>';
  if (!list.length) return '<p class="muted">没有通知记录（此类报警未配置短信、电话或群消息通知）</p>';
  return `<ul class="notifs">${list.map(notificationRow).join("")}</ul>`;
}
// The record opens at the top of the screen (under the sticky bar of a desktop), its actions first,
// so that on a phone 响应/派出/处置 are in view without scrolling.
const stickyBottom = () => { const t = $("top"); return getComputedStyle(t).position === "sticky" ? t.getBoundingClientRect().bottom : 0; };
function scrollToTop(el) {
  window.scrollTo({ top: Math.max(0, window.scrollY + el.getBoundingClientRect().top - stickyBottom() - 8), behavior: "instant" });
}
async function openAlarm(id, bringUp) {
  const [a, notifications, cams] = await Promise.all([api("/api/alarms/" + id),
    api(`/api/alarms/${id}/notifications`).catch(() => null), cameraList().catch(() => [])]);
  const open = a.state !== "resolved" && a.state !== "cancelled";
  // An open call or fall: the live picture of a camera in the alarm's zone, if there is one.
  const cam = open && (a.kind === "call" || a.kind === "fall") && a.zone ? cams.find((c) => c.live && c.zone === a.zone) : null;
  const box = $("alarm-detail");
  const oldLive = box.querySelector("img.live-img");
  box.classList.remove("hidden");
  box.classList.toggle("fault", isFault(a));
  box.innerHTML = `<h2 id="al-title" tabindex="-1">${isFault(a) ? '<span class="tag fault">⚠ 设备故障</span>' : ""}报警 #${a.id} ${esc(KIND[a.kind] || a.kind)} <span class="state">${STATE[a.state]}</span></h2>
    <p>位置 ${esc(a.zone_name || "")} · 设备 ${esc(a.source_name || "")} · 报警时间 ${fmt(a.raised_at)}</p>
    ${open ? `<div class="row al-actions">
      ${a.state === "raised" ? '<button id="al-ack" class="primary">响应</button>' : ""}
      <select id="al-target" aria-label="派出对象"><option value="">请选择派出对象</option>${Object.entries(TARGET).map(([k, v]) => `<option value="${k}">${v}</option>`).join("")}</select>
      <button id="al-dispatch">派出</button>
      <input id="al-outcome" placeholder="处置结果 / 误报原因（必填）" aria-label="处置结果或误报原因"><button id="al-resolve">处置完成</button>
      <button id="al-false">误报/取消</button></div>` : ""}
    ${cam ? `<div id="al-live" class="timeline" style="grid-template-columns:repeat(auto-fill,minmax(min(320px,100%),480px))">${liveTile(cam)}</div>` : ""}
    <h3>救援全过程记录</h3>
    <ol class="steps">${a.steps.map((s) => `<li>${stepLine(s)}</li>`).join("")}</ol>
    <h3>通知</h3><div id="al-notifs">${notificationsBlock(notifications)}</div>
    <h3>附近监控事件</h3><div class="timeline">${(a.nearby_events?.events || []).map(eventCard).join("") || "<p>无</p>"}</div>`;
  // The same camera's stream goes on across a re-render (after 响应, 派出); any other is ended.
  const newLive = box.querySelector("img.live-img");
  if (oldLive && newLive && oldLive.dataset.camera === newLive.dataset.camera && oldLive.dataset.on === "1") {
    newLive.replaceWith(oldLive);
  } else {
    if (oldLive) stopLive(oldLive);
    if (newLive) { bindLive(newLive); startLive(newLive); }
  }
  if (bringUp) { scrollToTop(box); $("al-title").focus({ preventScroll: true }); }
  if (!open) return;
  $("al-ack")?.addEventListener("click", () => act(a.id, "ack", {}));
  // No default target: a wrong one (110 for a flat battery) would make the record lie.
  $("al-dispatch").addEventListener("click", () => {
    if (!$("al-target").value) { $("al-target").focus(); return; }
    act(a.id, "dispatch", { target: $("al-target").value });
  });
  // Nothing had happened (a press by mistake, a test): closed as 误报 with its reason, counted apart.
  $("al-false").addEventListener("click", () => {
    const reason = $("al-outcome").value.trim();
    if (!reason) { $("al-outcome").placeholder = "请填写误报原因，如：老人误按"; $("al-outcome").focus(); return; }
    act(a.id, "resolve", { outcome: reason, false_alarm: true });
  });
  $("al-resolve").addEventListener("click", () => {
    const outcome = $("al-outcome").value.trim();
    if (!outcome) { $("al-outcome").focus(); return; }
    act(a.id, "resolve", { outcome });
  });
}
async function act(id, action, body) {
  try {
    await api(`/api/alarms/${id}/${action}`, { json: body });
    refreshBanner();
    if (currentTab === "alarms") { await loadAlarms(); await openAlarm(id, $("alarm-detail").getBoundingClientRect().top < stickyBottom()); } else refresh();
  } catch (e) { alert(e.message); }
}

// ---------- duty roster (值班表) ----------
// Who the @duty notifications (SMS, phone calls) reach now, and the week's shifts. Admins add and
// delete shifts and set the staff's phones; everybody else reads.
let dutyStaff = [];
let dutyWeekdaySet = false;
let phoneShownFor = null;
async function loadDuty() {
  const d = await api("/api/duty");
  const admin = me.role === "admin";
  $("du-now-time").textContent = `${WEEKDAYS[d.now.weekday]} ${d.now.time}`;
  const unreachable = d.on_shift_unreachable.map((u) =>
    `<p class="duty-warn">${esc(u.display_name)} 在班，但${esc(u.reason)}，收不到值班通知</p>`).join("");
  $("du-now").innerHTML = (d.on_duty_now.length
    ? `<ul class="duty-now">${d.on_duty_now.map((p) =>
      `<li><b>${esc(p.display_name)}</b> <a href="tel:${esc(p.phone)}">${esc(p.phone)}</a></li>`).join("")}</ul>`
    : `<div class="duty-empty" role="status"><b>现在无人值班</b>
      <p>发给“值班人员”的短信和电话此时送不到任何人。${admin ? "请在下方添加班次并登记手机号。" : "请联系管理员排班。"}</p></div>`) + unreachable;
  $("du-week").innerHTML = [1, 2, 3, 4, 5, 6, 7].map((w) => {
    const rows = d.shifts.filter((s) => s.weekday === w);
    const today = w === d.now.weekday;
    return `<div class="duty-day${today ? " today" : ""}" data-weekday="${w}"><h3>${WEEKDAYS[w]}${today ? "（今天）" : ""}</h3>
      ${rows.length ? `<ul>${rows.map((s) => `<li><span class="duty-time">${esc(s.start)}–${esc(s.end)}</span>
        <b>${esc(s.display_name)}</b> ${s.phone ? esc(s.phone) : '<span class="duty-warn">未登记手机号</span>'}
        ${s.active ? "" : '<span class="duty-warn">账号已停用</span>'}
        ${admin ? `<button class="small duty-del" data-id="${s.id}" aria-label="删除 ${WEEKDAYS[w]} ${esc(s.start)}–${esc(s.end)} ${esc(s.display_name)}">删除</button>` : ""}</li>`).join("")}</ul>`
        : '<p class="muted">无人排班</p>'}</div>`;
  }).join("");
  $("du-week").querySelectorAll(".duty-del").forEach((b) => b.addEventListener("click", async () => {
    if (!confirm(b.getAttribute("aria-label") + " 的班次？")) return;
    try {
      await api("/api/duty/" + b.dataset.id, { method: "DELETE" });
      $("du-msg").textContent = "已" + b.getAttribute("aria-label");
    } catch (e) { alert(e.message); }
    loadDuty();
  }));
  if (!admin) return;
  if (!dutyWeekdaySet) { $("du-weekday").value = String(d.now.weekday); dutyWeekdaySet = true; }
  dutyStaff = (await api("/api/staff")).filter((s) => s.active);
  const opts = dutyStaff.map((s) => `<option value="${s.id}">${esc(s.name)}</option>`).join("");
  ["du-staff", "ph-staff"].forEach((id) => {
    const keep = $(id).value;
    $(id).innerHTML = opts;
    if (dutyStaff.some((s) => String(s.id) === keep)) $(id).value = keep;
  });
  // A live refresh must not overwrite a phone being typed: only a new choice of person fills it in.
  if ($("ph-staff").value !== phoneShownFor) showPhone();
  $("ph-list").innerHTML = dutyStaff.map((s) =>
    `<li>${esc(s.name)} ${s.phone ? esc(s.phone) : '<span class="duty-warn">未登记手机号</span>'}</li>`).join("");
}
function showPhone() {
  phoneShownFor = $("ph-staff").value;
  $("ph-phone").value = dutyStaff.find((s) => String(s.id) === phoneShownFor)?.phone || "";
}
$("ph-staff").addEventListener("change", showPhone);
$("duty-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("/api/duty", { json: { staff_id: +$("du-staff").value, weekday: +$("du-weekday").value,
      start: $("du-start").value, end: $("du-end").value } });
    const parts = r.shifts.map((s) => `${WEEKDAYS[s.weekday]} ${s.start}–${s.end}`).join("、");
    $("du-msg").textContent = (r.shifts.length > 1 ? "已添加跨夜班：" : "已添加：") + r.shifts[0].display_name + " " + parts;
  } catch (e) { $("du-msg").textContent = e.message; }
  loadDuty();
});
$("phone-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const phone = $("ph-phone").value.replace(/[\s-]/g, "");  // 138 0000 0001, 138-0000-0001
  if (!$("ph-staff").value) { $("ph-msg").textContent = "请选择工作人员"; return; }
  try {
    const m = await api(`/api/staff/${$("ph-staff").value}/phone`, { method: "PUT", json: { phone } });
    $("ph-msg").textContent = m.phone ? `已保存：${m.name} ${m.phone}` : `已清除 ${m.name} 的手机号`;
    phoneShownFor = null;
    loadDuty();
  } catch (e) { $("ph-msg").textContent = e.message; }
});

// ---------- check-ins ----------
async function loadElders() {
  elders = await api("/api/elders");
  const opts = elders.filter((e) => e.active).map((e) => `<option value="${e.id}">${esc(e.name)}</option>`).join("");
  ["mc-elder", "sv-elder", "vs-elder"].forEach((id) => { $(id).innerHTML = opts; });
}
async function loadCheckins() {
  if (!$("ci-date").value) $("ci-date").value = today();
  const rows = await api(`/api/checkins?date=${$("ci-date").value}&q=${encodeURIComponent($("ci-q").value)}${window.checkinFilters?.() || ""}`);
  $("ci-rows").innerHTML = rows.map((c) => `<tr><td>${fmtTime(c.ts)}</td><td>${esc(c.elder_name)}</td>
    <td>${c.direction === "in" ? "签到" : "签退"}</td><td>${{ face: "人脸", staff: "人工", card: "刷卡", id: "证件" }[c.method] || esc(c.method)}</td>
    <td>${c.temperature ? c.temperature.toFixed(1) + "℃" : ""}</td><td>${esc(c.actor || "")}</td></tr>`).join("");
}
$("ci-date").addEventListener("change", loadCheckins);
$("ci-q").addEventListener("input", loadCheckins);
$("manual-checkin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { direction: $("mc-direction").value };
  if ($("mc-card").value.trim()) body.card_no = $("mc-card").value.trim(); else body.elder_id = +$("mc-elder").value;
  if ($("mc-temp").value) body.temperature = +$("mc-temp").value;
  try {
    const r = await api("/api/checkins", { json: body });
    $("mc-msg").textContent = r.duplicate ? r.message : `${r.elder_name} ${r.direction === "in" ? "签到" : "签退"}成功`;
    $("mc-card").value = "";
    loadCheckins();
  } catch (e) { $("mc-msg").textContent = e.message; }
});

// ---------- roster ----------
let editing = null;
$("el-cats").innerHTML = CATS.map((c) => `<label class="inline"><input type="checkbox" value="${c}"> ${c}</label>`).join("");
let elderTableRun = 0;  // the latest search: an earlier one answering late must not overwrite it
async function loadElderTable() {
  if (window.eldersTable) return window.eldersTable();  // elders.js: the roster, 身份证号 masked
  const run = ++elderTableRun;
  await loadElders();
  const q = $("el-q").value.trim();
  const list = q ? await api("/api/elders?q=" + encodeURIComponent(q)) : elders;
  if (run !== elderTableRun) return;
  $("el-rows").innerHTML = list.map((e) => `<tr><td>${esc(e.name)}${e.active ? "" : "（已停用）"}</td><td>${esc(e.gender)}</td>
    <td>${e.categories.map(esc).join(" ")}</td><td>${esc(e.emergency_contact)} ${esc(e.emergency_phone)}</td>
    <td>${e.templates ? e.templates + " 张" : "未录入"}</td><td>${e.consent_at ? "已签" : "未签"}</td>
    <td><button data-edit="${e.id}">编辑</button></td></tr>`).join("");
  $("el-rows").querySelectorAll("[data-edit]").forEach((b) => b.addEventListener("click", () => editElder(+b.dataset.edit)));
}
$("el-q").addEventListener("input", loadElderTable);
$("el-new").addEventListener("click", () => editElder(null));
async function editElder(id) {
  cancelFaceChoice();  // a face picked on one elder's photo must not go to another's record
  editing = id;
  const e = id ? await api("/api/elders/" + id) : { categories: [] };
  $("elder-form-card").classList.remove("hidden");
  $("elder-form-title").textContent = id ? "编辑 " + e.name : "新增长者";
  const f = $("elder-form");
  ["name", "gender", "birth_date", "id_number", "phone", "card_no", "address", "emergency_contact", "emergency_phone"].forEach((k) => { f.elements[k].value = e[k] || ""; });
  f.elements.family_notify.checked = !!e.family_notify;
  $("el-cats").querySelectorAll("input").forEach((c) => { c.checked = e.categories.includes(c.value); });
  $("enroll-box").classList.toggle("hidden", !id);
  window.careElderShown?.(id);  // the 关爱 block (care.js)
  $("consent-state").textContent = e.consent_at ? `已记录同意：${e.consent_by}，${fmt(e.consent_at)}` : "尚未记录同意，不能录入人脸";
  $("enroll-msg").textContent = id ? `已录入人脸模板 ${e.templates || 0} 个` : "";
  f.elements.name.focus();
}
$("elder-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = {};
  ["name", "gender", "birth_date", "id_number", "phone", "card_no", "address", "emergency_contact", "emergency_phone"].forEach((k) => { body[k] = f.elements[k].value.trim(); });
  body.family_notify = f.elements.family_notify.checked;
  body.categories = [...$("el-cats").querySelectorAll("input:checked")].map((c) => c.value);
  try {
    const e = await api(editing ? "/api/elders/" + editing : "/api/elders", { method: editing ? "PUT" : "POST", json: body });
    await editElder(e.id);
    loadElderTable();
  } catch (err) { alert(err.message); }
});
$("consent-btn").addEventListener("click", async () => {
  try {
    await api(`/api/elders/${editing}/consent`, { json: { consent_by: $("consent-by").value.trim() || me.name } });
    await editElder(editing);
  } catch (e) { alert(e.message); }
});
// An enrollment that looks like a wrong record (unlike the elder's own face, or like another
// elder's) comes back as a warning: staff read it and confirm, or stop. A photo with faces of a like
// size and none in the middle comes back with their boxes: staff point at the elder (choose).
let enrollRun = 0;  // the latest enrollment: an earlier one, cancelled, no longer writes the message
async function enrolling(send, choose) {
  const run = ++enrollRun;
  const say = (text) => { if (run === enrollRun) $("enroll-msg").textContent = text; };
  say("正在录入…");
  try {
    let r, confirmed = false;
    for (let tries = 0; ; tries++) {
      try {
        r = await send(confirmed);
        break;
      } catch (e) {
        if (e.code === "choose_face" && choose && tries < 10) {
          if (!(await choose(e.data))) { say("未录入：" + e.message); return; }
          say("正在录入…");
          continue;
        }
        if (e.code !== "enroll_warning" || confirmed) throw e;
        if (!confirm(e.message + "\n\n确定是这位长者本人，继续录入吗？")) { say("未录入：" + e.message); return; }
        confirmed = true;
      }
    }
    say(`录入成功，共 ${r.templates} 个模板（照片本身不保存）` +
      (r.notes && r.notes.length ? "。" + r.notes.join("；") : ""));
    loadElderTable();
    loadFaces();
  } catch (e) { say("录入失败：" + e.message); }
}
// The photo with a frame on each face the box found; resolves with the centre of the face staff
// tap ("x,y" in the photo's pixels as shown), or null when they cancel.
let faceChoiceDone = null;  // closes the open choice, if any
function cancelFaceChoice() { if (faceChoiceDone) faceChoiceDone(null); }
function chooseFace(file, c) {
  cancelFaceChoice();
  return new Promise((resolve) => {
    const box = $("face-choice"), photo = $("face-choice-photo");
    const url = URL.createObjectURL(file);
    const done = (v) => {
      faceChoiceDone = null;
      box.classList.add("hidden");
      photo.innerHTML = "";
      URL.revokeObjectURL(url);
      resolve(v);
    };
    faceChoiceDone = done;
    $("face-choice-msg").textContent = `第 ${c.photo + 1} 张照片里有 ${c.faces.length} 张人脸，分不清哪位是老人：请点一下老人的脸`;
    photo.innerHTML = "";
    const img = document.createElement("img");
    img.src = url;
    img.alt = `第 ${c.photo + 1} 张照片`;
    photo.appendChild(img);
    c.faces.forEach(([x, y, w, h], i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.face = i;
      b.setAttribute("aria-label", `第 ${i + 1} 张脸`);
      Object.assign(b.style, { left: (100 * x / c.width) + "%", top: (100 * y / c.height) + "%",
        width: (100 * w / c.width) + "%", height: (100 * h / c.height) + "%" });
      b.addEventListener("click", () => done(`${Math.round(x + w / 2)},${Math.round(y + h / 2)}`));
      photo.appendChild(b);
    });
    $("face-choice-cancel").onclick = () => done(null);
    box.classList.remove("hidden");
    box.scrollIntoView({ block: "nearest" });
  });
}
$("enroll-btn").addEventListener("click", async () => {
  const files = [...$("enroll-files").files].slice(0, 5);
  if (!files.length) { $("enroll-msg").textContent = "请选择 1-5 张照片"; return; }
  cancelFaceChoice();
  const elder = editing;  // the elder staff clicked for, whatever is opened meanwhile
  const picks = {};
  const form = () => {
    const f = new FormData();
    files.forEach((x, i) => f.append("photo" + i, x, x.name));
    return f;
  };
  const query = (confirmed) => {
    const q = new URLSearchParams();
    if (confirmed) q.set("confirm", "1");
    Object.entries(picks).forEach(([i, p]) => q.set("pick" + i, p));
    const text = q.toString();
    return text ? "?" + text : "";
  };
  await enrolling((confirmed) => api(`/api/elders/${elder}/enroll${query(confirmed)}`, { form: form() }),
    async (c) => {
      const p = files[c.photo] && await chooseFace(files[c.photo], c);
      if (p) picks[c.photo] = p;
      return !!p;
    });
});
$("enroll-camera-btn").addEventListener("click", () => {
  cancelFaceChoice();
  const elder = editing;
  return enrolling((confirmed) => api(`/api/elders/${elder}/enroll_camera`, { json: { camera: $("enroll-camera").value, confirm: confirmed } }));
});
// Face cameras (for enrollment at the door) and the elders whose templates should be renewed.
async function loadFaces() {
  let f;
  try { f = await api("/api/faces"); } catch (e) { return; }
  $("enroll-camera").innerHTML = f.cameras.map((c) => `<option value="${esc(c.id)}">${esc(c.name)}</option>`).join("");
  $("enroll-camera-box").classList.toggle("hidden", !f.cameras.length);
  $("face-renewals").classList.toggle("hidden", !f.renewals.length);
  $("face-renewal-rows").innerHTML = f.renewals.map((r) =>
    `<li><button data-renew="${r.elder_id}">${esc(r.name)}</button>：${esc(r.reason_text)}</li>`).join("");
  $("face-renewal-rows").querySelectorAll("[data-renew]").forEach((b) => b.addEventListener("click", () => editElder(+b.dataset.renew)));
}
$("forget-btn").addEventListener("click", async () => {
  if (!confirm("确定删除该长者的全部人脸数据？")) return;
  try {
    const r = await api(`/api/elders/${editing}/forget`, { json: {} });
    $("enroll-msg").textContent = `已删除 ${r.deleted} 个人脸模板`;
    loadElderTable();
  } catch (e) { alert(e.message); }
});

// ---------- services and visits ----------
$("sv-type").innerHTML = SERVICES.map((s) => `<option>${s}</option>`).join("");
async function loadServices() {
  if (!$("sv-month").value) $("sv-month").value = thisMonth();
  const r = await api("/api/services?month=" + $("sv-month").value);
  $("sv-counts").innerHTML = Object.entries(r.counts).map(([k, v]) => `<span>${esc(k)} <b>${v}</b></span>`).join("");
  $("sv-rows").innerHTML = r.records.map((s) => `<tr><td>${fmt(s.ts)}</td><td>${esc(s.elder_name)}</td><td>${esc(s.service)}</td>
    <td>${esc(s.staff)}</td><td>${esc(s.notes)}</td></tr>`).join("");
}
$("sv-month").addEventListener("change", loadServices);
$("service-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("/api/services", { json: { elder_id: +$("sv-elder").value, service: $("sv-type").value, notes: $("sv-notes").value } });
    $("sv-msg").textContent = "已登记";
    $("sv-notes").value = "";
    loadServices();
  } catch (e) { $("sv-msg").textContent = e.message; }
});
async function loadVisits() {
  const rows = await api("/api/visits");
  $("vs-rows").innerHTML = rows.map((v) => `<tr><td>${fmt(v.ts)}</td><td>${esc(v.elder_name)}</td><td>${esc(v.method)}</td>
    <td>${esc(v.health)}</td><td>${esc(v.safety)}</td><td>${esc(v.needs)}</td><td>${esc(v.follow_up)}</td><td>${esc(v.visitor)}</td></tr>`).join("");
}
$("visit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = { elder_id: +$("vs-elder").value };
  ["method", "health", "safety", "needs", "follow_up"].forEach((k) => { body[k] = f.elements[k].value.trim(); });
  if (f.elements.visit_at?.value) body.at = f.elements.visit_at.value;  // elders.js: the visit's own time
  try {
    await api("/api/visits", { json: body });
    $("vs-msg").textContent = "探访记录已保存";
    f.reset();
    loadVisits();
  } catch (e) { $("vs-msg").textContent = e.message; }
});

// ---------- CCTV events ----------
function eventCard(e) {
  const label = { motion: "移动", person: "人员", face: "人脸" }[e.label] || e.label;
  return `<figure>${e.thumbnail ? `<img src="/api/media/${encodeURIComponent(e.thumbnail)}" alt="${esc(label)}" loading="lazy">` : ""}
    <figcaption>${fmt(e.start_ts)} · ${esc(e.camera_id)} · ${esc(label)}${e.elder_name ? " · " + esc(e.elder_name) : ""}</figcaption></figure>`;
}
async function loadEvents(reset) {
  if (reset) { eventsBefore = 0; loadLiveTiles(); }
  const q = new URLSearchParams({ before: eventsBefore, camera: $("ev-camera").value, label: $("ev-label").value, date: $("ev-date").value });
  const r = await api("/api/events?" + q.toString());
  const html = (r.events || []).map(eventCard).join("");
  $("ev-list").innerHTML = reset ? (html || "<p>暂无事件</p>") : $("ev-list").innerHTML + html;
  $("ev-more").classList.toggle("hidden", !r.more);
  if (r.events && r.events.length) eventsBefore = r.events[r.events.length - 1].id;
  if (r.cameras && $("ev-camera").options.length <= 1)
    r.cameras.forEach((c) => $("ev-camera").add(new Option(c, c)));
}
["ev-camera", "ev-label", "ev-date"].forEach((id) => $(id).addEventListener("change", () => loadEvents(true)));
$("ev-more").addEventListener("click", () => loadEvents(false));

// ---------- live pictures (实时画面) ----------
// One <img> per camera showing its MJPEG stream (privacy masks already black; no camera of a private
// zone is listed as live). The box encodes only while someone watches, so a stream is ended as soon as
// its picture is off screen (another tab, another alarm, the browser tab hidden) and started again
// when it is back.
let cameras = null;  // [{id, name, zone, zone_name, live}], the site's cameras (read once)
async function cameraList() {
  if (!cameras) cameras = (await api("/api/cameras")).cameras || [];
  return cameras;
}
function liveTile(c) {
  return `<figure class="live-tile" data-camera="${esc(c.id)}"><img class="live-img" data-camera="${esc(c.id)}" alt="${esc(c.name)} 实时画面" style="object-fit:contain;background:#222">
    <figcaption>${esc(c.name)} · ${esc(c.zone_name)} · <span class="live-state">实时画面</span></figcaption></figure>`;
}
function liveState(img, text) {
  const s = img.closest("figure")?.querySelector(".live-state");
  if (s) s.textContent = text;
}
function bindLive(img) {
  img.addEventListener("load", () => liveState(img, "实时画面"));
  img.addEventListener("error", () => {
    if (img.dataset.on !== "1") return;
    img.dataset.on = "";
    img.dataset.retryAt = Date.now() + 5000;
    liveState(img, "实时画面暂不可用（连接数已满或摄像头离线），稍后自动重试");
  });
}
const liveShown = (img) => !document.hidden && img.isConnected && img.offsetParent !== null;
function startLive(img) {
  if (img.dataset.on === "1") return;
  img.dataset.on = "1";
  img.src = `/api/cameras/${encodeURIComponent(img.dataset.camera)}/live?t=${Date.now()}`;
}
function stopLive(img) {
  if (img.dataset.on !== "1") return;
  img.dataset.on = "";
  img.removeAttribute("src");  // ends the stream; the box stops encoding a few seconds later
}
function syncLive() {
  document.querySelectorAll("img.live-img").forEach((img) => {
    if (!liveShown(img)) stopLive(img);
    else if (img.dataset.on !== "1" && Number(img.dataset.retryAt || 0) <= Date.now()) startLive(img);
  });
}
setInterval(syncLive, 1000);
document.addEventListener("visibilitychange", syncLive);
async function loadLiveTiles() {
  const box = $("cam-live");
  let list;
  try { list = (await cameraList()).filter((c) => c.live); } catch (e) {
    box.innerHTML = `<p class="muted">${esc(e.message)}</p>`;
    return;
  }
  const ids = list.map((c) => c.id).join(",");
  if (box.dataset.ids !== ids) {
    box.querySelectorAll("img.live-img").forEach(stopLive);
    box.dataset.ids = ids;
    box.innerHTML = list.map(liveTile).join("") || '<p class="muted">没有可显示实时画面的摄像头</p>';
    box.querySelectorAll("img.live-img").forEach(bindLive);
  }
  box.querySelectorAll("img.live-img").forEach((img) => { if (liveShown(img)) startLive(img); });
}

// ---------- devices ----------
async function loadDevices() {
  const [o] = await Promise.all([api("/api/overview"), loadCircuits().catch(() => {})]);
  // Low: the device says so, or its battery is under the site's maintenance level.
  const low = (d) => d.battery_low === true || (d.battery != null && d.battery < o.low_battery_percent);
  $("dv-rows").innerHTML = o.devices.map((d) => `<tr data-id="${esc(d.id)}"><td>${esc(d.name || d.id)}${d.name && d.name !== d.id ? ` <small class="muted">${esc(d.id)}</small>` : ""}
    ${d.tamper ? '<span class="badge danger" title="设备外壳被打开或被拆下，请到现场检查">防拆报警</span>' : ""}${low(d) ? '<span class="badge warn" title="请更换电池">电量低</span>' : ""}${d.advice ? `<span class="badge warn">画面太宽</span><br><small class="dev-advice">${esc(d.advice)}</small>` : ""}</td>
    <td>${esc(d.kind)}${d.model ? ` <small class="muted">${esc(d.model)}</small>` : ""}</td><td>${esc(d.zone)}</td>
    <td class="${d.online === null ? "dev-unknown" : d.online ? "dev-on" : "dev-off"}">${d.online === null ? "未知" : d.online ? "在线" : "离线 " + esc(d.reason)}</td>
    <td>${fmt(d.last_seen)}</td><td class="${low(d) ? "battery-low" : ""}">${d.battery == null ? "" : Math.round(d.battery) + "%"}</td><td>${d.errors}</td></tr>`).join("");
}

// Circuit monitoring (线路监测): a card per electrical-fire detector or meter, each reading against its
// alarm value, with the last 24 h as a sparkline (mean per minute).
const curves = new Map();  // device id → {at, data}: the 24 h series, fetched at most once a minute
async function curvesOf(id) {
  const hit = curves.get(id);
  if (hit && Date.now() - hit.at < 60000) return hit.data;
  try {
    const data = await api(`/api/readings?device=${encodeURIComponent(id)}&hours=24`);
    curves.set(id, { at: Date.now(), data });
    return data;
  } catch (e) { return hit ? hit.data : null; }
}
// As the alarm text says it: whole numbers from 100 up, else one decimal; energy always one decimal.
const reading = (v, state) => (state === "energy_kwh" || Math.abs(v) < 100 ? v.toFixed(1) : v.toFixed(0));
async function loadCircuits() {
  const c = await api("/api/circuits");
  $("circuits-card").classList.toggle("hidden", c.circuits.length === 0);
  const series = await Promise.all(c.circuits.map((d) => curvesOf(d.id)));
  $("circuits").innerHTML = c.circuits.map((d, i) => circuitCard(d, series[i], c.now)).join("");
}
function circuitCard(d, data, now) {
  const byState = {};
  (data?.states || []).forEach((s) => { byState[s.state] = s.series; });
  const rows = d.states.map((s) => {
    const value = s.latest ? `${reading(s.latest.last, s.state)} ${s.unit}` : "暂无读数";
    const limit = s.alarm_above == null ? "" : `报警值 ${reading(s.alarm_above, s.state)} ${s.unit}`;
    return `<li class="reading${s.over ? " over" : ""}" data-state="${esc(s.state)}">
      <div class="r-head"><span class="r-name">${esc(s.name)}</span><span class="r-value">${esc(value)}</span></div>
      <div class="r-limit">${esc(limit)}${s.over ? '<span class="badge danger">已达报警值</span>' : ""}</div>
      ${sparkline(byState[s.state] || [], s.alarm_above, s.over, now)}</li>`;
  }).join("");
  const newest = Math.max(0, ...d.states.map((s) => (s.latest ? s.latest.minute : 0)));
  const status = d.online === null ? '<span class="dev-unknown">未知</span>'
    : d.online ? '<span class="dev-on">在线</span>' : `<span class="dev-off">离线</span>`;
  return `<div class="circuit${d.over ? " over" : ""}" data-id="${esc(d.id)}">
    <h3>${esc(d.name)}</h3><p class="muted">${esc(d.zone_name || "未分区")} · ${status}</p>
    <ul class="readings">${rows || '<li class="muted">此设备没有电气读数</li>'}</ul>
    ${d.meter ? `<p class="today-kwh">今日用电 <b>${d.today_kwh == null ? "—" : reading(d.today_kwh, "energy_kwh")}</b> kWh</p>` : ""}
    <p class="muted">${newest ? "读数更新于 " + fmt(newest) : "尚无读数"}</p></div>`;
}
// The 24 h before `now` as a line of mean values; a gap of over 5 minutes breaks the line. The alarm
// value is a dashed line when it is within reach of the readings.
function sparkline(series, limit, over, now) {
  if (!series.length) return '<p class="spark-empty muted">近 24 小时无读数</p>';
  const W = 240, H = 40, t0 = now - 24 * 3600e3;
  let lo = Math.min(...series.map((p) => p.mean)), hi = Math.max(...series.map((p) => p.mean));
  if (limit != null && limit > hi && limit <= hi + (hi - lo) + Math.abs(hi) * 0.5) hi = limit;
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const x = (t) => (((Math.min(Math.max(t, t0), now) - t0) / (now - t0)) * W).toFixed(1);
  const y = (v) => (H - 3 - ((v - lo) / (hi - lo)) * (H - 6)).toFixed(1);
  const parts = [];
  let cur = [];
  series.forEach((p, i) => {
    if (i && p.minute - series[i - 1].minute > 5 * 60000) { parts.push(cur); cur = []; }
    cur.push(p);
  });
  parts.push(cur);
  const lines = parts.map((ps) => (ps.length > 1
    ? `<polyline points="${ps.map((p) => x(p.minute) + "," + y(p.mean)).join(" ")}"/>`
    : `<circle cx="${x(ps[0].minute)}" cy="${y(ps[0].mean)}" r="1.5"/>`)).join("");
  const rule = limit != null && limit >= lo && limit <= hi
    ? `<line class="spark-limit" x1="0" x2="${W}" y1="${y(limit)}" y2="${y(limit)}"/>` : "";
  return `<svg class="spark${over ? " over" : ""}" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img"
    aria-label="近 24 小时曲线，${series.length} 个分钟读数">${rule}${lines}</svg>`;
}

// ---------- monthly report ----------
async function loadReport() {
  if (!$("rp-month").value) $("rp-month").value = thisMonth();
  const m = $("rp-month").value;
  $("rp-csv").href = `/api/report/monthly?month=${m}&format=csv`;
  const r = await api("/api/report/monthly?month=" + m);
  const secs = (s) => (s == null ? "—" : s < 120 ? Math.round(s) + " 秒" : (s / 60).toFixed(1) + " 分钟");
  $("rp-body").innerHTML = `<h3>${esc(r.site)} ${esc(r.month)} 月度报表</h3>
    <table><tr><td>签到人次</td><td>${r.checkins}</td></tr><tr><td>服务长者人数</td><td>${r.unique_elders}</td></tr>
    <tr><td>探访次数</td><td>${r.visits}</td></tr>${r.energy_kwh == null ? "" : `<tr><td>用电量（电表合计）</td><td>${r.energy_kwh.toFixed(1)} kWh</td></tr>`}</table>
    <h3>服务</h3><table>${Object.entries(r.services).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`).join("")}</table>
    <h3>报警与响应</h3><table><tr><th>类型</th><th>次数</th><th>平均响应</th><th>最长响应</th><th>平均处置</th></tr>
    ${r.alarms.map((a) => `<tr><td>${esc(KIND[a.kind] || a.kind)}</td><td>${a.count}</td><td>${secs(a.avg_ack_s)}</td><td>${secs(a.max_ack_s)}</td><td>${secs(a.avg_resolve_s)}</td></tr>`).join("") || "<tr><td colspan=5>无</td></tr>"}</table>`
    + reportCoverage(r.visit_coverage) + reportMeals(r.meals);
}
// 探访覆盖率 against the 100 % goal, per tier and per visitor, and who was not visited and why.
function reportCoverage(c) {
  if (!c) return "";
  const row = (name, x) => `<tr><td>${esc(name)}</td><td>${x.visited}/${x.on_list}</td><td>${x.percent}%</td></tr>`;
  return `<h3 id="rp-coverage">探访覆盖率 ${c.percent}%（目标 ${c.goal_percent}%）</h3>
    <table><tr><th>按频次</th><th>已探访/名单</th><th>覆盖率</th></tr>${c.by_tier.map((t) => row(t.tier_name, t)).join("")}</table>
    <table><tr><th>按探访人</th><th>已探访/名单</th><th>覆盖率</th></tr>${c.by_visitor.map((v) => row(v.visitor, v)).join("")}</table>
    <h3>本月未探访（${c.not_visited.length} 人）</h3>
    <table>${c.not_visited.map((n) => `<tr><td>${esc(n.name)}</td><td>${esc(n.tier_name)}</td><td>${esc(n.visitor)}</td><td>${n.reason == null ? "<em>未填写原因</em>" : esc(n.reason)}</td></tr>`).join("") || "<tr><td>无</td></tr>"}</table>`;
}
// 助餐: meals per subsidy category, what elders paid and what the city owes.
function reportMeals(m) {
  if (!m) return "";
  return `<h3>助餐（共 ${m.meals} 份，自付 ${m.paid.toFixed(2)} 元，补贴 ${m.subsidy.toFixed(2)} 元）</h3>
    <table><tr><th>类别</th><th>份数</th><th>自付（元）</th><th>补贴（元）</th></tr>
    ${m.categories.map((c) => `<tr><td>${esc(c.name)}</td><td>${c.meals}</td><td>${c.paid.toFixed(2)}</td><td>${c.subsidy.toFixed(2)}</td></tr>`).join("")}</table>`;
}
$("rp-month").addEventListener("change", loadReport);
$("rp-print").addEventListener("click", () => window.print());

// ---------- staff accounts ----------
async function loadStaff() {
  loadDoors();
  try {
    const rows = await api("/api/staff");
    $("st-rows").innerHTML = rows.map((s) => `<tr><td>${esc(s.username)}</td><td>${esc(s.name)}</td><td>${s.role === "admin" ? "管理员" : "工作人员"}</td><td>${esc(s.phone || "")}</td><td>${s.active ? "启用" : "停用"}</td><td><button class="link st-reset" data-id="${s.id}" data-name="${esc(s.name || s.username)}">重设密码</button>
      <button class="link st-role" data-id="${s.id}" data-name="${esc(s.name || s.username)}" data-role="${s.role === "admin" ? "staff" : "admin"}">${s.role === "admin" ? "改为工作人员" : "设为管理员"}</button>
      <button class="link st-active" data-id="${s.id}" data-name="${esc(s.name || s.username)}" data-active="${s.active ? "0" : "1"}">${s.active ? "停用账号" : "重新启用"}</button></td></tr>`).join("");
  } catch (e) { $("st-msg").textContent = e.message; }
}
// Door screens: paired by an admin with a one-time code; a lost screen is revoked.
async function loadDoors() {
  try {
    const rows = await api("/api/door/displays");
    $("door-rows").innerHTML = rows.map((d) => `<tr><td>${esc(d.name)}</td><td>${esc(d.created_by)}</td><td>${d.last_seen ? fmtTime(d.last_seen) : "—"}</td><td>${d.revoked ? "已停用" : "已配对"}</td><td>${d.revoked ? "" : `<button class="link door-revoke" data-id="${d.id}">停用</button>`}</td></tr>`).join("") || "<tr><td colspan=5>尚无配对的门口屏</td></tr>";
  } catch (e) { $("door-code").textContent = e.message; }
}
$("door-pair-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("/api/door/pairings", { json: { name: ev.target.elements.name.value } });
    $("door-code").textContent = `配对码 ${r.code}：10 分钟内在门口屏打开 ${location.origin}${r.url}`;
    ev.target.reset();
  } catch (e) { $("door-code").textContent = e.message; }
});
$("door-rows").addEventListener("click", async (ev) => {
  const b = ev.target.closest(".door-revoke");
  if (!b) return;
  try { await api(`/api/door/displays/${b.dataset.id}`, { method: "DELETE" }); loadDoors(); } catch (e) { $("door-code").textContent = e.message; }
});
// An admin sets a new password for someone who forgot theirs; their logins end.
// Role and active: an admin changes them; that account's logins end (it logs in again as it now is).
$("st-rows").addEventListener("click", async (ev) => {
  const b = ev.target.closest(".st-role, .st-active");
  if (!b) return;
  const role = b.classList.contains("st-role");
  const what = role ? (b.dataset.role === "admin" ? "设为管理员" : "改为工作人员") : (b.dataset.active === "1" ? "重新启用" : "停用");
  if (!confirm(`确定将 ${b.dataset.name} ${what}？其登录将全部退出。`)) return;
  try {
    if (role) await api(`/api/staff/${b.dataset.id}/role`, { method: "PUT", json: { role: b.dataset.role } });
    else await api(`/api/staff/${b.dataset.id}/active`, { method: "PUT", json: { active: b.dataset.active === "1" } });
    $("st-msg").textContent = `${b.dataset.name} 已${what}`;
    loadStaff();
  } catch (e) { $("st-msg").textContent = e.message; }
});
$("st-rows").addEventListener("click", async (ev) => {
  const b = ev.target.closest(".st-reset");
  if (!b) return;
  const pw = prompt(`为 ${b.dataset.name} 设置新密码（至少 8 位）：`);
  if (!pw) return;
  try {
    await api(`/api/staff/${b.dataset.id}/password`, { method: "PUT", json: { password: pw } });
    $("st-msg").textContent = `${b.dataset.name} 的密码已重设，其登录已全部退出`;
  } catch (e) { $("st-msg").textContent = e.message; }
});
// Staff change their own password; their other logins end.
$("pw-open").addEventListener("click", () => { $("pw-form").classList.toggle("hidden"); $("pw-msg").textContent = ""; });
$("pw-cancel").addEventListener("click", () => $("pw-form").classList.add("hidden"));
$("pw-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    const r = await api("/api/me/password", { method: "PUT", json: { current: f.elements.current.value, password: f.elements.password.value } });
    f.reset();
    $("pw-msg").textContent = "密码已修改" + (r.other_logins_ended ? `，其他 ${r.other_logins_ended} 处登录已退出` : "");
  } catch (e) { $("pw-msg").textContent = e.message; }
});
$("staff-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    await api("/api/staff", { json: { username: f.elements.username.value, name: f.elements.name.value, role: f.elements.role.value, password: f.elements.password.value } });
    $("st-msg").textContent = "账号已创建";
    f.reset();
    loadStaff();
  } catch (e) { $("st-msg").textContent = e.message; }
});

// ---------- tables on a phone ----------
// A table of four or more columns becomes a stack of cards on a narrow screen (app.css), each cell on
// its own line under its column's name: every cell gets its column's name as data-label, whoever drew
// the rows.
function labelTable(t) {
  const first = t.rows[0];
  const head = t.tHead?.rows[0] || (first && first.cells.length && [...first.cells].every((c) => c.tagName === "TH") ? first : null);
  if (!head || head.cells.length < 4) return;
  const names = [...head.cells].map((c) => c.textContent.trim());
  t.classList.add("stack");
  head.classList.add("stack-head");
  for (const r of t.rows) {
    if (r === head) continue;
    [...r.cells].forEach((c, i) => {
      const name = c.colSpan > 1 ? "" : names[i] || "";
      if (c.dataset.label !== name) c.dataset.label = name;
    });
  }
}
let labelling = false;
new MutationObserver(() => {
  if (labelling) return;
  labelling = true;
  queueMicrotask(() => { labelling = false; document.querySelectorAll("#app table").forEach(labelTable); });
}).observe($("app"), { childList: true, subtree: true });
document.querySelectorAll("#app table").forEach(labelTable);

start();
