// The door display: polls the box, shows one decision in huge text, plays the spoken greeting.
"use strict";
const ICON = { allow: "✔", refuse: "✋", wait: "⏳", remeasure: "🌡", visitor: "☺", idle: "☺" };
const $ = (id) => document.getElementById(id);
let lastSeq = 0;
let lastAnnouncement = null;
let shownAt = 0;
let siteName = "";

function setView(kind, message, detail) {
  document.body.className = kind;
  $("icon").textContent = ICON[kind] || "☺";
  $("message").textContent = message;
  $("detail").textContent = detail || "";
}

function speak(d, hasWav) {
  const audio = $("voice");
  if (hasWav) {
    audio.src = `/api/door/speech/${d.seq}.wav`;
    audio.play().catch(() => {});
  } else if ("speechSynthesis" in window) {
    const u = new SpeechSynthesisUtterance(d.message);
    u.lang = "zh-CN";
    u.rate = 0.85;
    window.speechSynthesis.speak(u);
  }
}

async function poll() {
  try {
    const r = await fetch("/api/door/state", { cache: "no-store" });
    const s = await r.json();
    if (r.status === 401) { setView("idle", "门口屏未配对", "请管理员在“账号”页生成配对码，在本屏打开 /door?pair=配对码"); return; }
    siteName = s.site;
    $("site").textContent = s.site;
    $("zones").textContent = s.zones.map((z) => `${z.name} ${z.count}${z.capacity ? "/" + z.capacity : ""}${z.level === "full" ? " 已满" : ""}`).join("　");
    const d = s.last;
    if (d && d.seq !== lastSeq && Date.now() - d.ts < 60000) {
      const first = lastSeq === 0;
      lastSeq = d.seq;
      shownAt = Date.now();
      const [main, ...rest] = d.message.split("！");
      setView(d.decision, rest.length ? main + "！" : d.message, rest.join("！"));
      if (!first) setTimeout(() => speak(d, s.speech), s.speech ? 0 : 50);
    } else if (d && d.seq !== lastSeq) {
      lastSeq = d.seq;
    }
    // An alarm announcement (紧急呼叫…请工作人员立即前往) is played as it repeats, never on page load.
    const a = s.announcement;
    if (a && lastAnnouncement !== null && a.seq !== lastAnnouncement) speak({ seq: a.seq, message: a.text }, a.speech);
    if (lastAnnouncement === null || a) lastAnnouncement = a ? a.seq : 0;
    if (shownAt && Date.now() - shownAt > 8000) { shownAt = 0; setView("idle", "欢迎光临", siteName); }
  } catch (e) {
    setView("idle", "欢迎光临", "");
  }
}

function clock() {
  $("clock").textContent = new Date().toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false, hour: "2-digit", minute: "2-digit" });
}
// First start of a new screen: /door?pair=CODE (made by an admin) pairs it once; the screen keeps a
// device cookie and the code leaves the address bar.
async function pairIfAsked() {
  const code = new URLSearchParams(location.search).get("pair");
  if (!code) return;
  const r = await fetch("/api/door/pair", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }) });
  history.replaceState(null, "", "/door");
  if (!r.ok) setView("refuse", "配对失败", ((await r.json()).error || "").replace(/\s*\([^)]*\)\s*$/, ""));
}
pairIfAsked().finally(() => {
  setInterval(poll, 300);
  poll();
});
setInterval(clock, 1000);
clock();
