// CareGate kiosk: 关爱 (the care worklist, the visit form, the month's visit coverage), the 关爱 block of an
// elder's record, and 助餐 (the day's meal sessions, a meal by tap or card, the menu). Phone first: one
// column at 390 px, big touch targets. Uses app.js's globals: api, $, esc, me, currentTab, today,
// thisMonth, fmtTime; app.js calls careTabShown(tab) and careElderShown(id).
"use strict";

(() => {
  const TASK = { visit_due: "今日待探访", visit_overdue: "逾期未探访", life_event: "生活事件", absence: "缺勤关怀" };
  // The worklist's three groups (a life event belongs to today's or the overdue group by its due day).
  const GROUPS = [["all", "全部"], ["due", "今日待探访"], ["overdue", "本周逾期"], ["absence", "缺勤关怀"]];
  const groupOf = (t) => (t.task === "absence" ? "absence" : t.overdue_days > 0 ? "overdue" : "due");
  const METHOD = { face: "人脸", card: "刷卡", staff: "人工" };
  const DIETS = ["糖尿病", "软食", "清真", "低盐", "流食"];
  const LEVELS = ["无变化", "较好", "较差"];
  const SAFETY = ["安全", "较安全", "不安全"];
  const NEEDS = ["助餐", "助浴", "助洁", "就医陪诊", "代办代购", "心理慰藉"];
  const TIERS = [["weekly", "每周"], ["fortnightly", "每两周"], ["monthly", "每月"], ["quarterly", "每季度"], ["none", "不探访"]];

  // ---------- small helpers ----------
  const dietBadges = (diets) => (diets || []).map((d) =>
    `<span class="diet" data-diet="${esc(d)}">${esc(d)}</span>`).join("");
  const telLink = (phone, text) => (phone ? `<a class="tel" href="tel:${esc(phone.replace(/[^\d+]/g, ""))}">${esc(text)}</a>` : "");
  // The API's messages end with an English gloss for logs, "…（…）(no meal session now)": not for staff.
  const zh = (e) => String(e?.message ?? e).replace(/\s*\([^()]*[A-Za-z][^()]*\)\s*$/, "");
  let toastTimer = null;
  function toast(text, bad) {
    let t = document.getElementById("care-toast");
    if (!t) {
      t = document.createElement("div");
      t.id = "care-toast";
      t.setAttribute("role", "status");
      t.setAttribute("aria-live", "polite");
      document.body.appendChild(t);
    }
    t.textContent = text;
    t.className = "care-toast show" + (bad ? " bad" : "");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.className = "care-toast"; }, 4000);
  }
  // Radio buttons drawn as big tap targets: [label][choice][choice][choice].
  const choiceRow = (name, label, options, checked) => `<div class="choice-row" role="radiogroup" aria-label="${esc(label)}">
    <span class="choice-label">${esc(label)}</span><span class="choices">${options.map((o) =>
    `<label class="choice"><input type="radio" name="${esc(name)}" value="${esc(o)}"${o === checked ? " checked" : ""}><span>${esc(o)}</span></label>`).join("")}</span></div>`;

  // ---------- tabs ----------
  let mealTimer = null;
  window.careTabShown = (tab) => {
    if (tab !== "meals") stopMeals();
    if (tab === "care") {
      loadWorklist();
      // Live updates (a check-in, a head count) redraw the page: not while a reason is being written.
      if (!document.querySelector("#cv-body .miss-form:not(.hidden)")) loadCoverage();
    }
    if (tab === "meals") startMeals();
  };

  // ---------- 关爱: the worklist ----------
  let tasks = [];
  let group = "all";
  async function loadWorklist() {
    let r;
    try { r = await api("/api/care/worklist" + ($("cw-mine").checked ? "?mine=1" : "")); } catch (e) {
      $("cw-list").innerHTML = `<p class="error">${esc(zh(e))}</p>`;
      return;
    }
    tasks = r.tasks;
    $("cw-date").textContent = r.date;
    drawWorklist();
  }
  function drawWorklist() {
    const n = { all: tasks.length, due: 0, overdue: 0, absence: 0 };
    tasks.forEach((t) => { n[groupOf(t)]++; });
    $("cw-filter").innerHTML = GROUPS.map(([g, name]) =>
      `<button type="button" data-group="${g}" class="${g === group ? "on" : ""}" aria-pressed="${g === group}">${name} <b>${n[g]}</b></button>`).join("");
    $("cw-filter").querySelectorAll("button").forEach((b) => b.addEventListener("click", () => { group = b.dataset.group; drawWorklist(); }));
    const shown = tasks.filter((t) => group === "all" || groupOf(t) === group);
    if (!shown.length) {
      $("cw-list").innerHTML = `<p class="care-empty">${tasks.length ? "此类没有任务" : $("cw-mine").checked ? "今天没有分给您的任务" : "今天没有待办的关爱任务"}</p>`;
      return;
    }
    $("cw-list").innerHTML = shown.map((t) => taskCard(t, tasks.indexOf(t))).join("");
    $("cw-list").querySelectorAll(".task-visit").forEach((b) => b.addEventListener("click", () => openVisit(tasks[+b.dataset.i])));
  }
  function taskWhat(t) {
    const tier = t.tier_name ? t.tier_name + "探访" : "";
    const late = t.overdue_days > 0 ? `逾期 ${t.overdue_days} 天` : "今日到期";
    if (t.task === "absence") return t.detail === "attendance_drop" ? "近两周来得明显少了" : "连续缺勤未请假";
    if (t.task === "life_event") return [t.detail + " · 24 小时内探访", t.overdue_days > 0 ? late : ""].filter(Boolean).join(" · ");
    return [late, tier].filter(Boolean).join(" · ");
  }
  function taskCard(t, i) {
    const calls = t.task === "absence" ? `<div class="task-calls">
        ${telLink(t.phone, "拨打本人 " + t.phone)}
        ${telLink(t.emergency_phone, `拨打${t.emergency_contact ? " " + t.emergency_contact : "紧急联系人"} ${t.emergency_phone}`)}
        ${!t.phone && !t.emergency_phone ? '<span class="muted">档案中没有电话，请补充</span>' : ""}</div>` : "";
    return `<article class="task ${esc(t.task)}" data-elder="${t.elder_id}" data-task="${esc(t.task)}">
      <div class="task-head"><b class="task-name">${esc(t.name)}</b><span class="task-kind">${TASK[t.task] || esc(t.task)}</span></div>
      <div class="task-what">${esc(taskWhat(t))}</div>
      <div class="task-reason">${esc(t.reason)}</div>
      <div class="task-visitor">${t.visitor ? "探访人 " + esc(t.visitor) : '<span class="muted">未指定探访人</span>'}</div>
      ${calls}
      <button type="button" class="primary task-visit" data-i="${i}">记录探访</button></article>`;
  }
  $("cw-mine").addEventListener("change", loadWorklist);

  // ---------- 关爱: the visit form (one screen) ----------
  const dialog = document.createElement("dialog");
  dialog.id = "visit-dialog";
  dialog.className = "visit-dialog";
  dialog.setAttribute("aria-labelledby", "vd-title");
  document.body.appendChild(dialog);
  let visiting = null;
  function openVisit(t) {
    visiting = t;
    const method = t.task === "absence" ? "电话" : "上门";
    dialog.innerHTML = `<form id="vd-form" method="dialog">
      <div class="vd-head"><h2 id="vd-title">探访 ${esc(t.name)}</h2><button type="button" id="vd-close" class="vd-close" aria-label="关闭">✕</button></div>
      <p class="muted">${esc(taskWhat(t))}</p>
      ${choiceRow("method", "探访方式", ["上门", "电话", "视频"], method)}
      <fieldset><legend>健康状况</legend>
        ${choiceRow("speech", "表达能力", LEVELS)}${choiceRow("mobility", "行动能力", LEVELS)}${choiceRow("mood", "精神状态", LEVELS)}
        <input name="illness" placeholder="疾病、用药（如 高血压，按时服药）" aria-label="疾病"></fieldset>
      <fieldset><legend>安全情况</legend>${choiceRow("gas", "燃气", SAFETY)}${choiceRow("power", "水电", SAFETY)}</fieldset>
      <fieldset><legend>服务需求</legend><div class="chips">${NEEDS.map((x) =>
        `<label class="chip"><input type="checkbox" name="need" value="${esc(x)}"><span>${esc(x)}</span></label>`).join("")}</div>
        <input name="needs" placeholder="其他需求" aria-label="其他需求"></fieldset>
      <label class="vd-follow">关爱建议 / 跟进<textarea name="follow_up" rows="2" placeholder="如 下周再电话询问"></textarea></label>
      <p id="vd-msg" class="error" role="alert"></p>
      <button type="submit" id="vd-save" class="primary vd-save">保存探访记录</button></form>`;
    $("vd-close").addEventListener("click", () => dialog.close());
    $("vd-form").addEventListener("submit", saveVisit);
    dialog.showModal();
    dialog.scrollTop = 0;
  }
  // The choices become the city form's four text fields.
  function composeVisit(f) {
    const pick = (name) => f.querySelector(`input[name="${name}"]:checked`)?.value || "";
    const parts = (pairs) => pairs.filter(([, v]) => v).map(([k, v]) => `${k}${v}`).join("；");
    const needs = [...f.querySelectorAll("input[name=need]:checked")].map((c) => c.value);
    if (f.elements.needs.value.trim()) needs.push(f.elements.needs.value.trim());
    return {
      elder_id: visiting.elder_id,
      method: pick("method"),
      health: parts([["表达能力：", pick("speech")], ["行动能力：", pick("mobility")], ["精神状态：", pick("mood")],
        ["疾病：", f.elements.illness.value.trim()]]),
      safety: parts([["燃气：", pick("gas")], ["水电：", pick("power")]]),
      needs: needs.join("、"),
      follow_up: f.elements.follow_up.value.trim(),
    };
  }
  async function saveVisit(ev) {
    ev.preventDefault();
    const f = ev.target;
    const body = composeVisit(f);
    if (!body.method) { $("vd-msg").textContent = "请选择探访方式"; return; }
    if (!body.health && !body.safety && !body.needs && !body.follow_up) {
      $("vd-msg").textContent = "请至少填写一项探访情况";
      return;
    }
    $("vd-save").disabled = true;
    try {
      await api("/api/visits", { json: body });
      dialog.close();
      toast(`已保存 ${visiting.name} 的探访记录`);
      loadWorklist();
      loadCoverage();
    } catch (e) {
      $("vd-msg").textContent = zh(e);
    } finally {
      const b = $("vd-save");
      if (b) b.disabled = false;
    }
  }

  // ---------- 关爱: the month's coverage ----------
  const bar = (pct) => `<div class="cv-bar${pct >= 100 ? " full" : ""}"><div style="width:${Math.min(100, pct)}%"></div></div>`;
  const covRow = (name, c) => `<li class="cv-row"><div class="cv-line"><b>${esc(name)}</b>
      <span>${c.visited}/${c.on_list} 人 · 上门 ${c.in_person} 人 · <b>${c.percent}%</b></span></div>${bar(c.percent)}</li>`;
  async function loadCoverage() {
    if (!$("cv-month").value) $("cv-month").value = thisMonth();
    let c;
    try { c = await api("/api/care/coverage?month=" + $("cv-month").value); } catch (e) {
      $("cv-body").innerHTML = `<p class="error">${esc(zh(e))}</p>`;
      return;
    }
    const missing = c.not_visited.map((e) => `<li class="cv-miss" data-elder="${e.elder_id}">
        <div class="cv-line"><b>${esc(e.name)}</b><span>${esc(e.tier_name)} · ${esc(e.visitor)}</span></div>
        ${e.reason ? `<div class="cv-reason">原因：${esc(e.reason)} <button type="button" class="link-btn miss-edit">修改</button></div>`
          : '<button type="button" class="miss-edit">填写原因</button>'}
        <form class="miss-form hidden"><input name="reason" maxlength="100" placeholder="未探访原因（如 住院，家属拒绝）" aria-label="未探访原因" value="${esc(e.reason || "")}" required>
          <button type="submit">保存原因</button></form></li>`).join("");
    $("cv-body").innerHTML = `<div class="cv-total"><span class="cv-big">${c.percent}%</span>
        <span>目标 ${c.goal_percent}% · 名单 ${c.on_list} 人 · 已探访 ${c.visited} 人（上门 ${c.in_person} 人）</span></div>${bar(c.percent)}
      <h3>按探访频次</h3><ul class="cv-list">${c.by_tier.map((t) => covRow(t.tier_name, t)).join("") || '<li class="muted">无</li>'}</ul>
      <h3>按探访人</h3><ul class="cv-list">${c.by_visitor.map((v) => covRow(v.visitor, v)).join("") || '<li class="muted">无</li>'}</ul>
      <h3>未探访 <span class="muted">${c.not_visited.length} 人</span></h3>
      <ul class="cv-list" id="cv-missing">${missing || '<li class="muted">本月名单上的长者都已探访</li>'}</ul>`;
    $("cv-body").querySelectorAll(".cv-miss").forEach((li) => {
      const form = li.querySelector(".miss-form");
      li.querySelector(".miss-edit").addEventListener("click", () => { form.classList.remove("hidden"); form.elements.reason.focus(); });
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          await api("/api/care/misses", { json: { elder_id: +li.dataset.elder, month: c.month, reason: form.elements.reason.value.trim() } });
          toast("已记录未探访原因");
          loadCoverage();
        } catch (e) { toast(zh(e), true); }
      });
    });
  }
  $("cv-month").addEventListener("change", loadCoverage);

  // ---------- the 关爱 block of an elder's record ----------
  window.careElderShown = (id) => {
    const box = $("elder-care");
    box.classList.toggle("hidden", !id);
    box.innerHTML = "";
    if (id) loadElderCare(id).catch((e) => { box.innerHTML = `<p class="error">${esc(zh(e))}</p>`; });
  };
  async function loadElderCare(id) {
    const p = await api(`/api/elders/${id}/care`);
    const box = $("elder-care");
    const now = today();
    const custom = p.diets.filter((d) => !DIETS.includes(d));
    box.innerHTML = `<h3>关爱</h3>
      <form id="ec-form" class="care-form">
        <label>探访频次 <select name="tier">
          <option value="">自动${p.tier_override ? "" : "：" + esc(p.tier_name)}</option>
          ${TIERS.map(([v, n]) => `<option value="${v}"${p.tier_override === v ? " selected" : ""}>${n}</option>`).join("")}</select></label>
        <label>探访人 <input name="visitor" maxlength="32" value="${esc(p.visitor)}" placeholder="负责探访的工作人员"></label>
        <label>助餐类别 <select name="meal_category"><option value="">自动（按长者类别）</option>
          ${p.meal_categories.map((c) => `<option value="${esc(c.id)}"${p.meal_category === c.id ? " selected" : ""}>${esc(c.name)}</option>`).join("")}</select></label>
        <fieldset><legend>特殊饮食</legend><div class="chips">${DIETS.map((d) =>
          `<label class="chip"><input type="checkbox" name="diet" value="${d}"${p.diets.includes(d) ? " checked" : ""}><span>${d}</span></label>`).join("")}</div>
          <input name="diet_other" value="${esc(custom.join(" "))}" placeholder="其他饮食要求，空格分隔（如 无糖 忌海鲜）" aria-label="其他饮食要求"></fieldset>
        <button type="submit" id="ec-save">保存关爱信息</button><p id="ec-msg" class="msg" role="status"></p></form>
      <form id="ec-event" class="care-form"><h4>登记事件</h4>
        <label>事件 <select name="kind">${p.life_event_kinds.map((k) => `<option>${esc(k)}</option>`).join("")}</select></label>
        <label>日期 <input name="day" type="date" value="${now}" max="${now}" required></label>
        <label>备注 <input name="note" maxlength="200"></label>
        <button type="submit">登记事件</button>
        <ul class="ec-events">${p.life_events.slice(0, 5).map((e) => `<li>${esc(e.day)} ${esc(e.kind)}${e.note ? " · " + esc(e.note) : ""}</li>`).join("")}</ul></form>
      <form id="ec-absence" class="care-form"><h4>登记请假</h4>
        <label>从 <input name="from" type="date" value="${now}" required></label>
        <label>到 <input name="to" type="date" value="${now}" required></label>
        <label>原因 <select name="reason">${p.absence_reasons.map((k) => `<option>${esc(k)}</option>`).join("")}</select></label>
        <label>备注 <input name="note" maxlength="200"></label>
        <button type="submit">登记请假</button><p id="ec-abs-msg" class="msg" role="status"></p></form>`;
    $("ec-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      const diets = [...f.querySelectorAll("input[name=diet]:checked")].map((c) => c.value)
        .concat(f.elements.diet_other.value.split(/[\s,，、]+/).filter(Boolean));
      try {
        await api(`/api/elders/${id}/care`, { method: "PUT", json: { tier: f.elements.tier.value, visitor: f.elements.visitor.value.trim(),
          meal_category: f.elements.meal_category.value, diets: [...new Set(diets)] } });
        await loadElderCare(id);
        $("ec-msg").textContent = "关爱信息已保存";
      } catch (e) { $("ec-msg").textContent = zh(e); }
    });
    $("ec-event").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      try {
        await api(`/api/elders/${id}/life-events`, { json: { kind: f.elements.kind.value, day: f.elements.day.value, note: f.elements.note.value.trim() } });
        await loadElderCare(id);
        toast("事件已登记");
      } catch (e) { toast(zh(e), true); }
    });
    $("ec-absence").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      try {
        await api(`/api/elders/${id}/absences`, { json: { from: f.elements.from.value, to: f.elements.to.value,
          reason: f.elements.reason.value, note: f.elements.note.value.trim() } });
        f.elements.note.value = "";
        $("ec-abs-msg").textContent = `已登记请假 ${f.elements.from.value} 至 ${f.elements.to.value}（${f.elements.reason.value}）`;
      } catch (e) { $("ec-abs-msg").textContent = zh(e); }
    });
  }

  // ---------- 助餐 ----------
  let roster = [];
  let day = null;          // the last GET /api/meals
  let editingMenu = null;  // a session whose menu is being edited: not redrawn by the poll
  let seen = null;         // meal ids already shown (a new one is highlighted)
  function startMeals() {
    if (!$("ml-month").value) $("ml-month").value = thisMonth();
    statementLink();
    api("/api/elders").then((list) => { roster = list.filter((e) => e.active); drawPicks(); }).catch(() => {});
    loadMeals();
    clearInterval(mealTimer);
    mealTimer = setInterval(() => { if (!document.hidden) loadMeals(); }, 3000);
  }
  function stopMeals() { clearInterval(mealTimer); mealTimer = null; }
  function statementLink() {
    const m = $("ml-month").value || thisMonth();
    $("ml-csv").href = `/api/meals/statement?format=csv&month=${encodeURIComponent(m)}`;
    $("ml-csv").setAttribute("download", `助餐结算-${m}.csv`);
  }
  $("ml-month").addEventListener("change", statementLink);

  let loading = false;
  async function loadMeals() {
    if (loading) return;
    loading = true;
    try {
      day = await api("/api/meals");
      drawSessions();
    } catch (e) {
      $("ml-sessions").innerHTML = `<div class="card"><p class="error">${esc(zh(e))}</p></div>`;
    } finally { loading = false; }
  }
  const openSession = () => day?.sessions.find((s) => s.open_now);
  function drawSessions() {
    const open = openSession();
    $("ml-now").textContent = open ? `正在供餐：${open.name} ${open.from}–${open.to}` : "现在不是用餐时间";
    const sessions = [...day.sessions].sort((a, b) => b.open_now - a.open_now);
    const cats = Object.fromEntries(day.categories.map((c) => [c.id, c.name]));
    const fresh = new Set();
    sessions.forEach((s) => s.meals.forEach((m) => { if (seen && !seen.has(m.id)) fresh.add(m.id); }));
    seen = new Set(sessions.flatMap((s) => s.meals.map((m) => m.id)));
    const box = $("ml-sessions");
    // One card per session, kept across polls so that an open menu editor is not wiped.
    sessions.forEach((s, i) => {
      let card = box.querySelector(`.meal-session[data-session="${CSS.escape(s.id)}"]`);
      if (!card) {
        card = document.createElement("div");
        card.className = "card meal-session";
        card.dataset.session = s.id;
        card.innerHTML = `<h2 class="ms-title"></h2><div class="ms-menu"></div><div class="ms-counts counts"></div><ul class="ms-meals"></ul>`;
      }
      if (box.children[i] !== card) box.insertBefore(card, box.children[i] || null);
      card.classList.toggle("open", s.open_now);
      card.querySelector(".ms-title").innerHTML = `${esc(s.name)} <span class="muted">${esc(s.from)}–${esc(s.to)}</span>
        ${s.open_now ? '<span class="badge open-now">正在供餐</span>' : ""}<span class="ms-count">共 <b>${s.count}</b> 份</span>`;
      if (editingMenu !== s.id) {
        card.querySelector(".ms-menu").innerHTML = `<div class="menu-text">${s.menu ? esc(s.menu) : '<span class="muted">未填写菜单</span>'}</div>
          <button type="button" class="menu-edit small-btn">编辑菜单</button>`;
        card.querySelector(".menu-edit").addEventListener("click", () => editMenu(card, s));
      }
      card.querySelector(".ms-counts").innerHTML = Object.entries(s.by_category).map(([id, n]) =>
        `<span>${esc(cats[id] || id)} <b>${n}</b></span>`).join("");
      card.querySelector(".ms-meals").innerHTML = s.meals.map((m) => `<li class="meal${fresh.has(m.id) ? " fresh" : ""}" data-elder="${m.elder_id}" data-id="${m.id}">
          <div class="meal-line"><b class="meal-name">${esc(m.elder_name)}</b><span class="diets">${dietBadges(m.diets)}</span></div>
          <div class="meal-meta muted">${fmtTime(m.ts)} · ${esc(METHOD[m.method] || m.method)} · ${esc(m.category_name)} · 自付 ${Number(m.pays).toFixed(2)} 元</div></li>`).join("")
        || '<li class="muted">还没有人用餐</li>';
    });
    [...box.querySelectorAll(".meal-session")].forEach((c) => { if (!day.sessions.some((s) => s.id === c.dataset.session)) c.remove(); });
  }
  function editMenu(card, s) {
    editingMenu = s.id;
    const area = card.querySelector(".ms-menu");
    area.innerHTML = `<form class="menu-form"><textarea name="dishes" rows="3" maxlength="300" aria-label="${esc(s.name)}菜单"
      placeholder="如 红烧鸡腿、清炒时蔬、番茄蛋汤、米饭">${esc(s.menu)}</textarea>
      <div class="row"><button type="submit">保存菜单</button><button type="button" class="menu-cancel">取消</button></div></form>`;
    const form = area.querySelector("form");
    form.elements.dishes.focus();
    area.querySelector(".menu-cancel").addEventListener("click", () => { editingMenu = null; drawSessions(); });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api("/api/meals/menu", { method: "PUT", json: { date: day.day, session: s.id, dishes: form.elements.dishes.value.trim() } });
        editingMenu = null;
        toast(`${s.name}菜单已保存`);
        await loadMeals();
      } catch (e) { toast(zh(e), true); }
    });
  }

  // The picker: the elders whose name, card or phone has what was typed; a tap on 登记用餐 takes the meal.
  function drawPicks() {
    const q = $("ml-q").value.trim();
    if (!q) { $("ml-picks").innerHTML = ""; return; }
    const hits = roster.filter((e) => e.name.includes(q) || (e.card_no && e.card_no.includes(q)) || (e.phone && e.phone.includes(q))).slice(0, 6);
    $("ml-picks").innerHTML = hits.map((e) => `<div class="pick" data-elder="${e.id}">
        <span class="pick-name">${esc(e.name)}${e.card_no ? ` <small class="muted">卡 ${esc(e.card_no)}</small>` : ""}</span>
        <button type="button" class="primary take-meal" data-elder="${e.id}">登记用餐</button></div>`).join("")
      || '<p class="muted">没有找到这位长者</p>';
    $("ml-picks").querySelectorAll(".take-meal").forEach((b) => b.addEventListener("click", () => takeMeal({ elder_id: +b.dataset.elder }, b)));
  }
  $("ml-q").addEventListener("input", drawPicks);
  $("ml-card-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const card = $("ml-card").value.trim();
    if (!card) { $("ml-card").focus(); return; }
    $("ml-card").value = "";  // ready for the next card at once (a reader types and presses Enter)
    takeMeal({ card_no: card }, null);
  });
  async function takeMeal(body, button) {
    const msg = $("ml-msg");
    msg.className = "meal-msg";
    msg.textContent = "";  // the answer below is this tap's, never the one before
    if (button) button.disabled = true;
    try {
      const m = await api("/api/meals", { json: body });
      msg.className = "meal-msg " + (m.already ? "already" : "ok");
      msg.innerHTML = m.already
        ? `<b>${esc(m.elder_name)}</b> 今天${esc(m.session_name)}已登记（${fmtTime(m.ts)} ${esc(METHOD[m.method] || m.method)}），不再重复登记 ${dietBadges(m.diets)}`
        : `✓ <b>${esc(m.elder_name)}</b> ${esc(m.session_name)}已登记 · ${esc(m.category_name)} ${dietBadges(m.diets)}`;
      await loadMeals();
    } catch (e) {
      msg.className = "meal-msg bad";
      msg.textContent = zh(e);
    } finally { if (button) button.disabled = false; }
  }
})();
