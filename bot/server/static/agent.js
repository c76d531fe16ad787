/*!
 * 知客 Zhike agent console (/agent) — dependency-free, no build step.
 *
 * Talks to the agent API (docs/handoff.md): POST /api/agent/login, the lists and detail of
 * handoffs, accept / decline / messages / transfer / end / rating, GET /api/agent/kb and
 * /api/agent/stats, and the live socket /api/agent/ws (first frame {"type": "auth", token}).
 * The session token lives in sessionStorage (one tab, gone when the tab closes).
 */
(function () {
  "use strict";

  const TOKEN_KEY = "zhike.agent.token";
  const MAX_REPLY = 2000;
  const STATS_EVERY = 5000;
  const PING_EVERY = 25000;
  const LONG_WAIT = 60;

  const STATE_TEXT = {
    queued: "排队中", assigned: "待接起", with_agent: "服务中",
    ended: "已结束", cancelled: "已取消", ticket: "已转工单",
  };
  const CHANNEL_TEXT = { webchat: "网页", rest: "API", voice: "电话", ivr: "电话" };
  const ROLE_TEXT = { agent: "坐席", supervisor: "班长" };
  const ERROR_TEXT = {
    0: "网络异常，请检查网络连接后重试。",
    401: "登录已失效，请重新登录。",
    403: "您没有权限执行该操作。",
    404: "找不到该会话，可能已被处理。",
    409: "该会话状态已变化，请刷新后重试。",
    422: "输入内容有误，请检查后重试。",
  };

  const S = {
    token: null, agent: null, groupsAll: [],
    lists: { waiting: [], mine: [], others: [] },
    since: {},          // handoff_id → local epoch seconds the wait started (ticking)
    unread: {},         // handoff_id → customer lines not yet seen
    selected: null, detail: null, lineKeys: new Set(),
    rating: null,       // {id, satisfaction, difficulty} while the rating panel is open
    notes: {},          // handoff_id → note shown once the conversation is over
    ws: null, attempt: 0, retryTimer: 0, pingTimer: 0,
    view: "chats", statsTimer: 0, listSeq: 0, detailSeq: 0,
  };

  // ------------------------------------------------------------------ helpers
  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach((child) => {
      if (child !== null && child !== undefined && child !== false) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function debounce(fn, ms) {
    let timer = 0;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  const now = () => Date.now() / 1000;
  const two = (n) => String(n).padStart(2, "0");

  function clock(ts, withSeconds) {
    if (typeof ts !== "number" || !isFinite(ts)) return "";
    const d = new Date(ts * 1000);
    const hm = two(d.getHours()) + ":" + two(d.getMinutes()) + (withSeconds ? ":" + two(d.getSeconds()) : "");
    if (d.toDateString() === new Date().toDateString()) return hm;
    return d.getMonth() + 1 + "月" + d.getDate() + "日 " + hm;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(Number(seconds) || 0));
    if (s < 60) return s + "秒";
    if (s < 3600) return Math.floor(s / 60) + "分" + two(s % 60) + "秒";
    return Math.floor(s / 3600) + "小时" + two(Math.floor((s % 3600) / 60)) + "分";
  }

  function maskPhone(text) {
    return String(text).replace(/(1[3-9]\d)\d{4}(\d{4})/g, "$1****$2");
  }

  function customerLabel(item) {
    const id = String((item && item.customer_id) || "");
    const [kind, rest] = id.includes(":") ? [id.slice(0, id.indexOf(":")), id.slice(id.indexOf(":") + 1)] : ["", id];
    if (kind === "phone") return S.agent && S.agent.can_see_pii ? rest : maskPhone(rest);
    const channel = CHANNEL_TEXT[item && item.channel] || CHANNEL_TEXT[kind] || "";
    return (channel ? channel + "客户" : "客户") + (rest ? " · " + rest.slice(-6) : "");
  }

  function isMine(item) {
    return !!(item && S.agent && item.agent_id === S.agent.agent_id);
  }

  function supervisor() {
    return !!(S.agent && S.agent.role === "supervisor");
  }

  // ------------------------------------------------------------------ toasts
  function toast(message, kind) {
    const box = $("#toasts");
    const node = el("div", { class: "toast " + (kind || ""), text: message });
    box.appendChild(node);
    while (box.children.length > 3) box.firstElementChild.remove();
    setTimeout(() => node.remove(), kind === "error" ? 6000 : 3500);
  }

  function fail(error) {
    if (error && error.status === 401) return; // already back at the login form
    toast((error && error.message) || "操作未能完成，请稍后重试。", "error");
  }

  // ------------------------------------------------------------------ API
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (S.token) headers.Authorization = "Bearer " + S.token;
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, "network", ERROR_TEXT[0]);
    }
    let data = null;
    try {
      const text = await response.text();
      data = text ? JSON.parse(text) : {};
    } catch (e) {
      data = null;
    }
    if (response.ok) return data || {};
    const status = response.status;
    const message = (data && data.message_zh) || ERROR_TEXT[status] || "服务暂时不可用，请稍后再试。";
    const error = new ApiError(status, data && data.error, message);
    if (status === 401 && S.token) expire(message);
    throw error;
  }

  // ------------------------------------------------------------------ session
  function showLogin(message, info) {
    ["#workspace", "#monitor", "#tabs", "#me"].forEach((sel) => { $(sel).hidden = true; });
    $("#login").hidden = false;
    const box = $("#login-error");
    box.hidden = !message;
    box.textContent = message || "";
    box.className = "login-error" + (info ? " info" : "");
    box.setAttribute("role", info ? "status" : "alert");
    document.title = "坐席登录 | 知客 Zhike";
    const id = $("#agent-id");
    (id.value ? $("#password") : id).focus();
  }

  function teardown() {
    const ws = S.ws;
    S.ws = null;
    if (ws) try { ws.close(); } catch (e) { /* already closed */ }
    clearTimeout(S.retryTimer);
    clearInterval(S.pingTimer);
    clearInterval(S.statsTimer);
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
    Object.assign(S, {
      token: null, agent: null, lists: { waiting: [], mine: [], others: [] }, since: {}, unread: {},
      selected: null, detail: null, rating: null, notes: {}, attempt: 0,
    });
    S.lineKeys.clear();
  }

  function expire(message) {
    teardown();
    showLogin(message || ERROR_TEXT[401]);
  }

  async function onLogin(event) {
    event.preventDefault();
    const id = $("#agent-id").value.trim();
    const password = $("#password").value;
    if (!id || !password) return showLogin("请输入工号和密码。");
    const button = $("#login-submit");
    button.disabled = true;
    button.textContent = "登录中…";
    try {
      const data = await api("POST", "/api/agent/login", { agent_id: id, password: password });
      S.token = data.token;
      try { sessionStorage.setItem(TOKEN_KEY, data.token); } catch (e) { /* storage off */ }
      $("#password").value = "";
      enter(data.agent || {}, data.groups);
    } catch (error) {
      showLogin(error.message);
    } finally {
      button.disabled = false;
      button.textContent = "登录";
    }
  }

  async function onLogout() {
    try { await api("POST", "/api/agent/logout"); } catch (e) { /* leaving anyway */ }
    teardown();
    showLogin("您已安全退出，欢迎下次使用。", true);
  }

  function enter(agent, groups) {
    S.agent = agent;
    S.groupsAll = Array.isArray(groups) ? groups : S.groupsAll;
    $("#login").hidden = true;
    $("#tabs").hidden = false;
    $("#me").hidden = false;
    $("#tab-monitor").hidden = !supervisor();
    $("#others-panel").hidden = !supervisor();
    $("#me-name").textContent = (agent.name || agent.agent_id) + "（" + agent.agent_id + " · " +
      (ROLE_TEXT[agent.role] || "坐席") + "）";
    showView("chats");
    renderLists();
    renderConversation();
    loadLists();
    connect();
    openFromLink();
  }

  // /agent#handoff=<id>: a PBX agent's phone rang with X-Zhike-Handoff=<id> (SIP transfer);
  // the link opens that conversation's context packet.
  function openFromLink() {
    const match = /(?:^#|&)handoff=([A-Za-z0-9_-]{1,64})/.exec(location.hash);
    if (match) select(match[1]);
  }
  window.addEventListener("hashchange", function () { if (S.agent) openFromLink(); });

  async function boot() {
    try { S.token = sessionStorage.getItem(TOKEN_KEY); } catch (e) { S.token = null; }
    if (!S.token) return showLogin("");
    try {
      const me = await api("GET", "/api/agent/me");
      enter(me, me.groups_all);
    } catch (error) {
      if (error.status !== 401) {
        teardown();
        showLogin(error.message);
      }
    }
  }

  // ------------------------------------------------------------------ views (tabs)
  function showView(view) {
    S.view = view === "monitor" && supervisor() ? "monitor" : "chats";
    const monitor = S.view === "monitor";
    $("#workspace").hidden = monitor;
    $("#monitor").hidden = !monitor;
    [["#tab-chats", !monitor], ["#tab-monitor", monitor]].forEach(([sel, on]) => {
      $(sel).setAttribute("aria-selected", String(on));
      $(sel).tabIndex = on ? 0 : -1;
    });
    clearInterval(S.statsTimer);
    if (monitor) {
      loadStats();
      S.statsTimer = setInterval(loadStats, STATS_EVERY);
    }
  }

  function onTabKey(event) {
    if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key) || !supervisor()) return;
    event.preventDefault();
    const next = S.view === "monitor" ? "chats" : "monitor";
    showView(event.key === "Home" ? "chats" : event.key === "End" ? "monitor" : next);
    $(S.view === "monitor" ? "#tab-monitor" : "#tab-chats").focus();
  }

  // ------------------------------------------------------------------ lists
  function stamp(item) {
    if (item && (item.state === "queued" || item.state === "assigned")) {
      S.since[item.handoff_id] = now() - (Number(item.wait_seconds) || 0);
    }
  }

  async function loadLists() {
    const seq = ++S.listSeq;
    try {
      const data = await api("GET", "/api/agent/handoffs");
      if (seq !== S.listSeq || !S.agent) return;
      S.lists = {
        waiting: Array.isArray(data.waiting) ? data.waiting : [],
        mine: Array.isArray(data.mine) ? data.mine : [],
        others: Array.isArray(data.others) ? data.others : [],
      };
      Object.values(S.lists).forEach((list) => list.forEach(stamp));
      renderLists();
    } catch (error) {
      fail(error);
    }
  }
  const reloadLists = debounce(loadLists, 250);

  function listFor(item) {
    const active = ["queued", "assigned", "with_agent"].includes(item.state);
    if (!active) return null;
    if (isMine(item)) return "mine";
    if (item.state === "queued") return "waiting";
    return supervisor() ? "others" : null;
  }

  function upsert(item) {
    if (!item || !item.handoff_id) return;
    const id = item.handoff_id;
    const target = listFor(item);
    let wasOffered = false;
    Object.keys(S.lists).forEach((name) => {
      const list = S.lists[name];
      const at = list.findIndex((i) => i.handoff_id === id);
      if (at < 0) return;
      if (name === "mine" && list[at].state === "assigned") wasOffered = true;
      if (name === target) list[at] = item;
      else list.splice(at, 1);
    });
    if (target && !S.lists[target].some((i) => i.handoff_id === id)) S.lists[target].push(item);
    stamp(item);
    if (target === "mine" && item.state === "assigned" && !wasOffered) {
      toast("有新的会话分配给您，请及时接起。");
    }
    renderLists();
    if (id === S.selected) {
      if (S.detail) Object.assign(S.detail, item);
      renderConversation();
      reloadDetail();
    }
  }

  function renderLists() {
    const focused = document.activeElement && document.activeElement.closest(".queue-item");
    const refocus = focused ? [focused.dataset.id, document.activeElement.className.split(" ")[0]] : null;
    ["waiting", "mine", "others"].forEach((name) => {
      const items = S.lists[name] || [];
      $("#" + name).replaceChildren(...items.map((item) => renderItem(item, name)));
      $("#" + name + "-count").textContent = String(items.length);
      document.querySelector('[data-empty-for="' + name + '"]').hidden = items.length > 0;
    });
    if (refocus) {
      const again = document.querySelector('.queue-item[data-id="' + CSS.escape(refocus[0]) + '"] .' + refocus[1]);
      if (again) again.focus();
    }
    tick();
    updateTitle();
  }

  function renderItem(item, listName) {
    const id = item.handoff_id;
    const offered = listName === "mine" && item.state === "assigned";
    const selected = id === S.selected;
    const unread = S.unread[id] || 0;
    const ticking = item.state === "queued" || item.state === "assigned";
    const tags = [
      el("span", { class: "tag group", text: item.skill_group || "未分组" }),
      item.vip_level && item.vip_level !== "普通" ? el("span", { class: "tag vip", text: "VIP · " + item.vip_level }) : null,
      item.difficult ? el("span", { class: "tag difficult", text: "难应付" }) : null,
      item.state === "queued" && item.position ? el("span", { class: "tag", text: "第 " + item.position + " 位" }) : null,
      listName !== "waiting" ? el("span", { class: "tag state " + item.state, text: STATE_TEXT[item.state] || item.state }) : null,
      listName === "others" && item.agent_id ? el("span", { class: "tag", text: "坐席 " + item.agent_id }) : null,
      unread ? el("span", { class: "tag unread", text: unread + " 条新消息" }) : null,
    ];
    const wait = ticking
      ? el("span", { class: "item-wait", "data-id": id })
      : el("span", { class: "item-wait", text: item.accepted_at ? clock(item.accepted_at) + " 接起" : "" });
    const open = el("button", {
      type: "button", class: "open", "aria-current": selected ? "true" : null,
      onclick: () => select(id),
    }, [
      el("span", { class: "item-top" }, [el("span", { class: "item-who", text: customerLabel(item) }), wait]),
      el("span", { class: "item-summary", text: item.summary || item.reason_text || "（暂无摘要）" }),
      el("span", { class: "item-tags" }, tags),
    ]);
    let actions = null;
    if (offered) {
      actions = el("div", { class: "item-actions" }, [
        el("button", { type: "button", class: "primary accept", text: "接起", "aria-label": "接起 " + customerLabel(item), onclick: () => accept(id) }),
        el("button", { type: "button", class: "ghost decline", text: "拒绝", "aria-label": "拒绝 " + customerLabel(item), onclick: () => decline(id) }),
      ]);
    } else if (listName === "waiting") {
      actions = el("div", { class: "item-actions" }, [
        el("button", { type: "button", class: "ghost accept", text: "接起", "aria-label": "接起 " + customerLabel(item), onclick: () => accept(id) }),
      ]);
    }
    return el("li", {
      class: "queue-item" + (selected ? " selected" : "") + (offered ? " offered" : ""),
      "data-id": id, "data-state": item.state,
    }, [open, actions]);
  }

  function tick() {
    document.querySelectorAll(".item-wait[data-id]").forEach((node) => {
      const since = S.since[node.dataset.id];
      if (since === undefined) return;
      const seconds = now() - since;
      node.textContent = "已等 " + duration(seconds);
      node.classList.toggle("long", seconds >= LONG_WAIT);
    });
  }

  function updateTitle() {
    const offers = S.lists.mine.filter((i) => i.state === "assigned").length;
    const unread = Object.values(S.unread).reduce((a, b) => a + b, 0);
    const n = offers + unread;
    document.title = (n ? "(" + n + ") " : "") + "坐席工作台 | 知客 Zhike";
  }

  function findItem(id) {
    for (const name of Object.keys(S.lists)) {
      const item = S.lists[name].find((i) => i.handoff_id === id);
      if (item) return item;
    }
    return S.detail && S.detail.handoff_id === id ? S.detail : null;
  }

  // ------------------------------------------------------------------ actions
  async function accept(id) {
    try {
      const item = await api("POST", "/api/agent/handoffs/" + encodeURIComponent(id) + "/accept");
      toast("已接起会话，请及时回复客户。", "ok");
      upsert(item);
      select(id);
      setTimeout(() => $("#reply").focus(), 50);
    } catch (error) {
      fail(error);
      reloadLists();
    }
  }

  async function decline(id) {
    try {
      upsert(await api("POST", "/api/agent/handoffs/" + encodeURIComponent(id) + "/decline"));
      toast("已拒绝，该会话将转给其他坐席。");
    } catch (error) {
      fail(error);
    }
    reloadLists();
  }

  async function transfer() {
    const id = S.selected;
    const group = $("#transfer-group").value;
    if (!id || !group) return;
    try {
      const item = await api("POST", "/api/agent/handoffs/" + encodeURIComponent(id) + "/transfer", { group: group });
      toast("已转接至「" + group + "」技能组。", "ok");
      upsert(item);
      if (!isMine(item)) S.notes[id] = "会话已转接至「" + group + "」，等待该组坐席接起。";
      renderConversation();
    } catch (error) {
      fail(error);
    }
  }

  async function endConversation() {
    const id = S.selected;
    if (!id) return;
    const button = $("#end");
    button.disabled = true;
    try {
      const item = await api("POST", "/api/agent/handoffs/" + encodeURIComponent(id) + "/end");
      S.rating = { id: id, satisfaction: null, difficulty: null };
      upsert(item);
      if (S.detail && S.detail.handoff_id === id) Object.assign(S.detail, item);
      toast("会话已结束，客户已转回智能客服。", "ok");
      renderConversation();
      const first = document.querySelector(".rate-satisfaction button");
      if (first) first.focus();
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
    }
  }

  async function sendReply(event) {
    if (event) event.preventDefault();
    const box = $("#reply");
    const text = box.value.trim();
    const id = S.selected;
    if (!text || !id) return;
    if (text.length > MAX_REPLY) return toast("消息不能超过 " + MAX_REPLY + " 字。", "error");
    const button = $("#send");
    button.disabled = true;
    try {
      const line = await api("POST", "/api/agent/handoffs/" + encodeURIComponent(id) + "/messages", { text: text });
      if (box.value.trim() === text) box.value = "";
      onReplyInput();
      if (S.selected === id) appendLine(line, true);
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
      box.focus();
    }
  }

  function onReplyKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      sendReply();
    }
  }

  function onReplyInput() {
    const length = $("#reply").value.length;
    const count = $("#reply-count");
    count.textContent = length + " / " + MAX_REPLY;
    count.style.color = length > MAX_REPLY * 0.9 ? "#b91c1c" : "";
  }

  function insertAnswer(text) {
    const box = $("#reply");
    box.value = box.value.trim() ? box.value.replace(/\s+$/, "") + "\n" + text : text;
    onReplyInput();
    if ($("#composer").hidden) toast("已放入回复框，接起会话后即可发送。");
    else box.focus();
  }

  // ------------------------------------------------------------------ rating
  function onRate(event) {
    const button = event.target.closest("button[data-score]");
    if (!button || !S.rating) return;
    const kind = button.closest(".rate-satisfaction") ? "satisfaction" : "difficulty";
    S.rating[kind] = Number(button.dataset.score);
    button.parentNode.querySelectorAll("button[data-score]").forEach((b) => {
      b.setAttribute("aria-pressed", String(b === button));
    });
    if (S.rating.satisfaction && S.rating.difficulty) submitRating();
    else {
      const other = kind === "satisfaction" ? ".rate-difficulty" : ".rate-satisfaction";
      const next = document.querySelector(other + ' button[data-score="3"]');
      if (next) next.focus();
    }
  }

  async function submitRating() {
    const rating = S.rating;
    S.rating = null;
    try {
      const result = await api("POST", "/api/agent/handoffs/" + encodeURIComponent(rating.id) + "/rating", {
        satisfaction: rating.satisfaction, difficulty: rating.difficulty,
      });
      toast(result.difficult ? "评价已提交。该客户已被标记为难应付客户，下次将优先转专家组。" : "评价已提交，感谢！", "ok");
      S.notes[rating.id] = "会话已结束，已为客户评价。";
    } catch (error) {
      fail(error);
      S.notes[rating.id] = "会话已结束。";
    }
    renderConversation();
  }

  function skipRating() {
    if (S.rating) S.notes[S.rating.id] = "会话已结束（未评价）。";
    S.rating = null;
    renderConversation();
  }

  // ------------------------------------------------------------------ conversation
  function select(id) {
    if (S.selected !== id) {
      S.selected = id;
      S.detail = findItem(id) ? Object.assign({}, findItem(id)) : null;
      S.lineKeys.clear();
      $("#transcript").replaceChildren();
      if (S.rating && S.rating.id !== id) S.rating = null;
    }
    delete S.unread[id];
    $("#workspace").classList.add("has-selection");
    renderLists();
    renderConversation();
    loadDetail();
    if (window.matchMedia("(max-width: 760px)").matches) $("#conversation").scrollIntoView({ block: "start" });
  }

  async function loadDetail() {
    const id = S.selected;
    if (!id) return;
    const seq = ++S.detailSeq;
    try {
      const detail = await api("GET", "/api/agent/handoffs/" + encodeURIComponent(id));
      if (seq !== S.detailSeq || S.selected !== id) return;
      S.detail = detail;
      renderConversation();
      renderTranscript(((detail.context || {}).transcript) || []);
      renderContext(detail);
    } catch (error) {
      if (seq !== S.detailSeq) return;
      if (error.status === 403 || error.status === 404) {
        S.selected = null;
        S.detail = null;
        renderLists();
        renderConversation();
      }
      fail(error);
    }
  }
  const reloadDetail = debounce(loadDetail, 300);

  function renderConversation() {
    const d = S.detail;
    const has = !!(S.selected && d);
    $("#conv-empty").hidden = has;
    $("#conv-body").hidden = !has;
    $("#context-empty").hidden = has;
    $("#context-body").hidden = !has;
    if (!has) {
      $("#workspace").classList.remove("has-selection");
      $("#kb-suggestions").replaceChildren();
      return;
    }
    const mine = isMine(d);
    const state = d.state;
    $("#conv-title").replaceChildren(...[
      el("span", { text: customerLabel(d) }),
      el("span", { class: "tag group", text: d.skill_group || "未分组" }),
      el("span", { class: "tag state " + state, text: STATE_TEXT[state] || state }),
      d.vip_level && d.vip_level !== "普通" ? el("span", { class: "tag vip", text: "VIP · " + d.vip_level }) : null,
      d.difficult ? el("span", { class: "tag difficult", text: "难应付" }) : null,
    ].filter(Boolean));
    const meta = [
      "渠道：" + (CHANNEL_TEXT[d.channel] || d.channel || "未知"),
      d.created_at ? "转人工 " + clock(d.created_at) : "",
      d.accepted_at ? "接起 " + clock(d.accepted_at) : "",
      d.agent_id && !mine ? "坐席 " + d.agent_id : "",
      d.ticket_no ? "工单 " + d.ticket_no : "",
    ].filter(Boolean);
    $("#conv-meta").textContent = meta.join(" · ");

    const live = state === "with_agent" && mine;
    $("#accept-current").hidden = !((state === "assigned" && mine) || state === "queued");
    $("#decline-current").hidden = !(state === "assigned" && mine);
    $("#transfer-box").hidden = !live;
    $("#end").hidden = !live;
    $("#composer").hidden = !live;
    const rating = !!(S.rating && S.rating.id === d.handoff_id);
    $("#rating").hidden = !rating;
    if (!rating) resetRating();
    const note = $("#conv-note");
    note.hidden = live || rating;
    note.textContent = noteFor(d, mine);
    if (live) fillGroups(d.skill_group);
  }

  function noteFor(d, mine) {
    if (S.notes[d.handoff_id]) return S.notes[d.handoff_id];
    if (d.state === "queued") return "客户正在排队，接起后即可回复。";
    if (d.state === "assigned") return mine ? "该会话已分配给您，请点击「接起」开始服务。" : "该会话正在分配给坐席 " + d.agent_id + "。";
    if (d.state === "with_agent") return "坐席 " + (d.agent_id || "") + " 正在服务该客户（只读）。";
    if (d.state === "ticket") return "该会话已转为留言工单" + (d.ticket_no ? "（" + d.ticket_no + "）" : "") + "。";
    if (d.state === "cancelled") return "客户已取消排队。";
    return "会话已结束。";
  }

  function resetRating() {
    document.querySelectorAll("#rating button[data-score]").forEach((b) => b.setAttribute("aria-pressed", "false"));
  }

  function fillGroups(current) {
    const seen = new Set([...(S.groupsAll || []), ...((S.agent && S.agent.groups) || [])]);
    Object.values(S.lists).forEach((list) => list.forEach((i) => i.skill_group && seen.add(i.skill_group)));
    seen.delete(current);
    const select = $("#transfer-group");
    const before = select.value;
    select.replaceChildren(...[...seen].map((g) => el("option", { value: g, text: g })));
    if (seen.has(before)) select.value = before;
    select.disabled = $("#transfer").disabled = seen.size === 0;
  }

  function lineKey(line) {
    return [line.role, line.text, Math.round(Number(line.timestamp) || 0)].join("|");
  }

  function renderTranscript(lines) {
    const box = $("#transcript");
    box.setAttribute("aria-busy", "true");
    box.replaceChildren();
    S.lineKeys.clear();
    lines.forEach((line) => appendLine(line, false));
    box.removeAttribute("aria-busy");
    box.scrollTop = box.scrollHeight;
  }

  function whoOf(line) {
    if (line.role === "user") return "客户";
    if (line.role === "bot") return "智能客服";
    if (line.role === "system") return "系统消息";
    if (line.agent_id && S.agent && line.agent_id === S.agent.agent_id) return "我（" + (S.agent.name || S.agent.agent_id) + "）";
    return "坐席 " + (line.agent_name || line.agent_id || "");
  }

  function appendLine(line, live) {
    if (!line || typeof line.text !== "string") return;
    const key = lineKey(line);
    if (S.lineKeys.has(key)) return;
    S.lineKeys.add(key);
    const role = ["user", "bot", "agent", "system"].includes(line.role) ? line.role : "system";
    const box = $("#transcript");
    const near = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.appendChild(el("div", { class: "line " + role }, [
      el("div", { class: "who" }, [whoOf(line), el("time", { text: clock(line.timestamp) })]),
      el("div", { class: "text" }, [el("span", { class: "sr", text: whoOf(line) + "：" }), line.text]),
    ]));
    if (!live || near || role === "agent") box.scrollTop = box.scrollHeight;
  }

  // ------------------------------------------------------------------ context panel
  function renderContext(d) {
    const ctx = d.context || {};
    const summary = ctx.summary || {};
    const path = Array.isArray(summary.intent_path) ? summary.intent_path : [];
    const slots = Object.entries(summary.slots || {});
    const parts = [
      summary.text ? el("p", { class: "summary-text", text: summary.text }) : null,
      path.length ? el("h3", { class: "sub", text: "意图路径" }) : null,
      path.length ? el("div", { class: "path", "aria-label": "意图路径" }, path.flatMap((p, i) => [
        i ? el("span", { class: "arrow", "aria-hidden": "true", text: "→" }) : null, el("span", { class: "tag", text: p }),
      ])) : null,
      summary.unanswered ? el("p", { class: "unanswered" }, [el("strong", { text: "未解答：" }), String(summary.unanswered)]) : null,
      slots.length ? el("h3", { class: "sub", text: "已收集信息" }) : null,
      slots.length ? keyValues(slots) : null,
    ].filter(Boolean);
    $("#summary").replaceChildren(...(parts.length ? parts : [el("p", { class: "empty", text: "暂无摘要" })]));
    $("#reason").textContent = ctx.reason_text || d.reason_text || d.reason || "—";
    const profile = Object.entries(ctx.profile || {});
    $("#profile").replaceChildren(...[
      profile.length ? keyValues(profile) : el("p", { class: "empty", text: "暂无客户资料" }),
      d.masked ? el("p", { class: "masked", text: "部分个人信息已脱敏显示。" }) : null,
    ].filter(Boolean));
    const ranking = Array.isArray(ctx.nlu_ranking) ? ctx.nlu_ranking : [];
    $("#nlu").replaceChildren(...(ranking.length ? ranking.map(rankRow) : [el("li", { class: "empty", text: "暂无数据" })]));
    renderKb($("#kb-suggestions"), Array.isArray(ctx.kb_suggestions) ? ctx.kb_suggestions : [], "暂无推荐");
  }

  function keyValues(entries) {
    return el("dl", { class: "kv" }, entries.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
  }

  function rankRow(r) {
    const name = String(r.intent || r.name || "");
    const pct = Math.max(0, Math.min(100, Math.round((Number(r.confidence) || 0) * 100)));
    return el("li", {}, [
      el("span", { class: "name", title: name, text: name }),
      el("span", { class: "bar", role: "img", "aria-label": name + " 置信度 " + pct + "%" }, [el("span", { style: "width:" + pct + "%" })]),
      el("span", { class: "pct", "aria-hidden": "true", text: pct + "%" }),
    ]);
  }

  function renderKb(list, suggestions, emptyText) {
    if (!suggestions.length) {
      if (emptyText) list.replaceChildren(el("li", { class: "empty", text: emptyText }));
      else list.replaceChildren();
      return;
    }
    list.replaceChildren(...suggestions.slice(0, 5).map((s) => el("li", { "data-entry": s.entry_id }, [
      el("p", { class: "q" }, [
        el("span", { text: s.question || "" }),
        el("button", {
          type: "button", class: "ghost insert", text: "插入", "aria-label": "插入答案：" + (s.question || ""),
          onclick: () => insertAnswer(String(s.answer || "")),
        }),
      ]),
      el("p", { class: "a", text: s.answer || "" }),
    ])));
  }

  async function searchKb(event) {
    event.preventDefault();
    const q = $("#kb-q").value.trim();
    const list = $("#kb-results");
    if (!q) return list.replaceChildren();
    try {
      const data = await api("GET", "/api/agent/kb?q=" + encodeURIComponent(q));
      renderKb(list, Array.isArray(data.suggestions) ? data.suggestions : [], "没有找到相关的知识条目。");
    } catch (error) {
      fail(error);
    }
  }

  // ------------------------------------------------------------------ supervisor monitor
  async function loadStats() {
    if (S.view !== "monitor" || !supervisor()) return;
    try {
      renderStats(await api("GET", "/api/agent/stats"));
    } catch (error) {
      if (error.status === 403) showView("chats");
      fail(error);
    }
  }
  const reloadStats = debounce(loadStats, 500);

  function renderStats(s) {
    const today = s.today || {};
    const level = today.service_level_30s;
    const pct = typeof level === "number" ? Math.round(level * 1000) / 10 + "%" : "—";
    const kpis = [
      ["今日进线", today.offered], ["已接通", today.answered],
      ["30秒接通率", pct, typeof level === "number" ? (level >= 0.8 ? "good" : "warn") : ""],
      ["放弃", today.abandoned], ["转工单", today.to_ticket], ["平均等待", duration(today.avg_wait)],
    ];
    $("#stats-today").replaceChildren(...kpis.map(([label, value, cls]) => el("div", { class: cls || "" }, [
      el("dt", { text: label }), el("dd", { text: value === undefined || value === null ? "—" : String(value) }),
    ])));
    const queues = Array.isArray(s.queues) ? s.queues : [];
    queues.forEach((q) => q.group && !S.groupsAll.includes(q.group) && S.groupsAll.push(q.group));
    $("#stats-queues tbody").replaceChildren(...(queues.length ? queues.map((q) => el("tr", {}, [
      el("td", { text: q.group }), el("td", { text: String(q.waiting || 0) }),
      el("td", { text: q.waiting ? duration(q.longest_wait) : "—" }),
    ])) : [emptyRow()]));
    const agents = Array.isArray(s.agents) ? s.agents : [];
    $("#stats-agents tbody").replaceChildren(...(agents.length ? agents.map(agentRow) : [emptyRow()]));
    $("#stats-updated").textContent = "更新于 " + clock(now(), true);
  }

  function agentRow(a) {
    const max = Number(a.max_concurrent) || 1;
    const load = Number(a.load) || 0;
    return el("tr", {}, [
      el("td", { text: (a.name || a.agent_id) + "（" + a.agent_id + "）" }),
      el("td", {}, [el("span", { class: "dot" + (a.online ? " on" : ""), "aria-hidden": "true" }), a.online ? "在线" : "离线"]),
      el("td", {}, [el("span", { class: "load" }, [
        el("span", { class: "bar", "aria-hidden": "true" }, [el("span", { style: "width:" + Math.min(100, (load / max) * 100) + "%" })]),
        load + " / " + max,
      ])]),
    ]);
  }

  function emptyRow() {
    return el("tr", {}, [el("td", { colspan: "3", class: "empty", text: "暂无数据" })]);
  }

  // ------------------------------------------------------------------ live socket
  function setConn(state) {
    const conn = $("#conn");
    conn.classList.toggle("online", state === true);
    conn.lastElementChild.textContent = state === true ? "在线" : state === "connecting" ? "连接中…" : "连接中断，正在重连…";
  }

  function connect() {
    clearTimeout(S.retryTimer);
    if (!S.token) return;
    const url = location.origin.replace(/^http/, "ws") + "/api/agent/ws";
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      return retry();
    }
    S.ws = ws;
    setConn("connecting");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: S.token }));
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      try {
        onFrame(frame);
      } catch (e) {
        if (window.console) console.error("agent console: bad frame", frame, e);
      }
    };
    ws.onclose = () => {
      if (S.ws !== ws) return;
      S.ws = null;
      clearInterval(S.pingTimer);
      setConn(false);
      retry();
    };
  }

  function retry() {
    if (!S.token) return;
    const delay = Math.min(30000, 1000 * Math.pow(2, S.attempt)) * (0.6 + Math.random() * 0.4);
    S.attempt += 1;
    S.retryTimer = setTimeout(connect, delay);
  }

  const FRAMES = {
    ready(frame) {
      S.attempt = 0;
      setConn(true);
      if (frame.agent && S.agent) Object.assign(S.agent, frame.agent);
      clearInterval(S.pingTimer);
      S.pingTimer = setInterval(() => {
        if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify({ type: "ping" }));
      }, PING_EVERY);
      loadLists();
      if (S.selected) loadDetail();
    },
    handoff(frame) {
      upsert(frame.handoff);
      reloadLists();
      if (S.view === "monitor") reloadStats();
    },
    line(frame) {
      const id = frame.handoff_id;
      if (!id || !frame.line) return;
      if (id === S.selected) appendLine(frame.line, true);
      else if (frame.line.role === "user") {
        S.unread[id] = (S.unread[id] || 0) + 1;
        renderLists();
      }
    },
    resync() {
      loadLists();
      if (S.selected) loadDetail();
      if (S.view === "monitor") loadStats();
    },
    error(frame) {
      const code = frame.code || frame.error;
      if (["session_expired", "unauthorized", "bad_token", "not_logged_in"].includes(code) || frame.status === 401) {
        expire(frame.message || frame.message_zh);
      } else if (frame.message || frame.message_zh) {
        toast(frame.message || frame.message_zh, "error");
      }
    },
    pong() {},
  };

  function onFrame(frame) {
    const handler = frame && typeof frame === "object" && Object.prototype.hasOwnProperty.call(FRAMES, frame.type)
      ? FRAMES[frame.type] : null;
    if (handler) handler(frame);
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    $("#login-form").addEventListener("submit", onLogin);
    $("#logout").addEventListener("click", onLogout);
    $("#tab-chats").addEventListener("click", () => showView("chats"));
    $("#tab-monitor").addEventListener("click", () => showView("monitor"));
    $("#tabs").addEventListener("keydown", onTabKey);
    $("#composer").addEventListener("submit", sendReply);
    $("#reply").addEventListener("keydown", onReplyKey);
    $("#reply").addEventListener("input", onReplyInput);
    $("#accept-current").addEventListener("click", () => S.selected && accept(S.selected));
    $("#decline-current").addEventListener("click", () => S.selected && decline(S.selected));
    $("#transfer").addEventListener("click", transfer);
    $("#end").addEventListener("click", endConversation);
    $("#rating").addEventListener("click", onRate);
    $("#rate-skip").addEventListener("click", skipRating);
    $("#kb-search").addEventListener("submit", searchKb);
    setInterval(tick, 1000);
    window.addEventListener("online", () => {
      if (S.token && !S.ws) {
        S.attempt = 0;
        connect();
      }
    });
    window.ZhikeAgentConsole = { state: () => S, reload: loadLists };
  }

  function start() {
    wire();
    boot();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
