// The door display: polls the box, shows one decision in huge text, plays the spoken sentence.
"use strict";
// Drawn, not typed: the door box has no emoji font (✋ ⏳ 🌡 were empty boxes there).
const svg = (body) => `<svg viewBox="0 0 64 64" fill="none" stroke="currentColor" stroke-width="4.5" stroke-linecap="round"
  stroke-linejoin="round" aria-hidden="true" focusable="false">${body}</svg>`;
const SMILE = svg('<circle cx="32" cy="32" r="27"/><circle cx="23" cy="26" r="2.5" fill="currentColor"/><circle cx="41" cy="26" r="2.5" fill="currentColor"/><path d="M20 38c3 6 7.5 9 12 9s9-3 12-9"/>');
const ICON = {
  allow: svg('<circle cx="32" cy="32" r="27"/><path d="M19 33l9 9 17-19"/>'),  // a tick
  refuse: svg('<path d="M23 33V13a3.5 3.5 0 0 1 7 0v16M30 28V9a3.5 3.5 0 0 1 7 0v19M37 29V12a3.5 3.5 0 0 1 7 0v19M44 31V19a3.5 3.5 0 0 1 7 0v17c0 13-8 22-19 22h-1c-6 0-10-3-13-7L10 38a3.5 3.5 0 0 1 6-4l7 7V33"/>'),  // a raised hand
  wait: svg('<path d="M17 6h30M17 58h30M22 6c0 13 8 19 8 26s-8 13-8 26M42 6c0 13-8 19-8 26s8 13 8 26"/><path d="M26 53h12l-6-7z" fill="currentColor" stroke-width="2"/>'),  // an hourglass
  remeasure: svg('<path d="M26 39V12a6 6 0 0 1 12 0v27a11 11 0 1 1-12 0z"/><path d="M32 46V22M44 14h7M44 22h7M44 30h7"/><circle cx="32" cy="48" r="4.5" fill="currentColor"/>'),  // a thermometer
  visitor: SMILE,
  idle: SMILE,
};
// How long a decision stays: at least 8 s, and until 2 s after its sentence was spoken (the fever
// sentence takes about 13 s); never longer than 30 s, should the end of the speech never be reported.
const HOLD_MS = 8000, AFTER_SPEECH_MS = 2000, MAX_HOLD_MS = 30000;
// A decision's WAV is written by the box a moment after the decision: waited for this long before the
// browser's own voice says the sentence instead.
const WAV_WAIT_MS = 1500;
const $ = (id) => document.getElementById(id);
let lastSeq = 0;
let lastAnnouncement = null;
let shownAt = 0;      // when the decision on screen was shown; 0: the idle screen
let speaking = false; // a sentence is being said (or about to be)
let spokeAt = 0;      // when the last one ended
let unspoken = null;  // {d, until}: the decision whose WAV is awaited
let siteName = "";

// The box's sentence is greeting + instruction ("张奶奶，上午好！体温 36.5℃，请进"): the instruction
// from its first clause that starts with 请 is the big line (请进), the rest the small one (张奶奶，上午好！体温 36.5℃).
function doorLines(message) {
  const clauses = message.split(/(?<=[，！])/);
  const at = clauses.findIndex((c) => c.startsWith("请"));
  if (at >= 0) return { big: clauses.slice(at).join(""), small: clauses.slice(0, at).join("").replace(/，$/, "") };
  const bang = message.indexOf("！");
  if (bang >= 0 && bang < message.length - 1) return { big: message.slice(bang + 1), small: message.slice(0, bang + 1) };
  return { big: message, small: "" };
}

function setView(kind, message, detail) {
  document.body.className = kind;
  $("icon").innerHTML = ICON[kind] || SMILE;
  $("message").textContent = message;
  $("detail").textContent = detail || "";
}

function spoken() {
  if (!speaking) return;
  speaking = false;
  spokeAt = Date.now();
}
$("voice").addEventListener("ended", spoken);
$("voice").addEventListener("error", spoken);

function speak(d, hasWav) {
  speaking = true;
  const audio = $("voice");
  if (hasWav) {
    audio.src = `/api/door/speech/${d.seq}.wav`;
    audio.play().catch(spoken);  // blocked (autoplay) or failed: nothing is being said
  } else if ("speechSynthesis" in window) {
    const u = new SpeechSynthesisUtterance(d.message);
    u.lang = "zh-CN";
    u.rate = 0.85;
    u.onend = spoken;
    u.onerror = spoken;
    window.doorUtterance = u;  // kept: Chromium drops the end event of an utterance it collected
    window.speechSynthesis.speak(u);
  } else {
    spoken();
  }
}

// The screen goes back to 欢迎光临 once the decision has been shown long enough and is no longer spoken.
function tick() {
  if (!shownAt) return;
  const now = Date.now();
  const held = now - shownAt;
  if (held < HOLD_MS) return;
  if (held < MAX_HOLD_MS && (speaking || now - spokeAt < AFTER_SPEECH_MS)) return;
  shownAt = 0;
  unspoken = null;
  speaking = false;
  setView("idle", "欢迎光临", siteName);
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
      const lines = doorLines(d.message);
      setView(d.decision, lines.big, lines.small);
      // Not on page load (an old decision), and not in the site's quiet hours.
      unspoken = first || s.quiet ? null : { d, until: Date.now() + WAV_WAIT_MS };
      if (unspoken) speaking = true;
    } else if (d && d.seq !== lastSeq) {
      lastSeq = d.seq;
    }
    if (unspoken && d && d.seq === unspoken.d.seq && (s.speech || Date.now() >= unspoken.until)) {
      speak(unspoken.d, s.speech);
      unspoken = null;
    }
    // An alarm announcement (紧急呼叫…请工作人员立即前往) is played as it repeats, never on page load.
    const a = s.announcement;
    if (a && lastAnnouncement !== null && a.seq !== lastAnnouncement) speak({ seq: a.seq, message: a.text }, a.speech);
    if (lastAnnouncement === null || a) lastAnnouncement = a ? a.seq : 0;
  } catch (e) {
    if (!shownAt) setView("idle", "欢迎光临", "");
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
setView("idle", "欢迎光临", "");
pairIfAsked().finally(() => {
  setInterval(poll, 300);
  poll();
});
setInterval(tick, 250);
setInterval(clock, 1000);
clock();
