/*!
 * 知客 Zhike web chat widget — dependency-free, no build step.
 *
 *   <script src="https://host:5005/static/webchat.js"
 *           data-server="https://host:5005" data-title="在线客服"></script>
 *
 * Options (data-* on the script tag): server, title, subtitle, bot-name, welcome,
 * suggestions ("查话费|查流量"), mode ("floating" | "inline"), container (CSS selector for
 * inline mode), color (brand colour), max-chars, open ("true" opens the panel at once).
 * Talks to /webchat/ws (WebSocket) and falls back to POST /webchat/messages.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var scriptOrigin = script && script.src ? new URL(script.src, location.href).origin : location.origin;

  var CSS = [
    ":host{all:initial;--zk-primary:#1d4ed8;--zk-primary-dark:#1e3a8a;--zk-bg:#f3f5f9;--zk-text:#1f2937;",
    "--zk-muted:#6b7280;--zk-line:#e5e7eb;--zk-radius:14px;font-family:-apple-system,BlinkMacSystemFont,'PingFang SC',",
    "'Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC',sans-serif;",
    "font-size:15px;line-height:1.6;color:var(--zk-text);-webkit-font-smoothing:antialiased}",
    "*,*::before,*::after{box-sizing:border-box}",
    "button{font:inherit;cursor:pointer}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ":focus-visible{outline:3px solid #93c5fd;outline-offset:2px}",
    /* launcher */
    ".launcher{position:fixed;right:24px;bottom:24px;z-index:2147483000;display:flex;align-items:center;gap:8px;",
    "height:52px;padding:0 20px 0 16px;border:0;border-radius:26px;color:#fff;background:linear-gradient(135deg,",
    "var(--zk-primary),var(--zk-primary-dark));box-shadow:0 10px 30px rgba(29,78,216,.35);font-size:15px;",
    "font-weight:600;letter-spacing:.5px;transition:transform .2s,box-shadow .2s}",
    ".launcher:hover{transform:translateY(-2px);box-shadow:0 14px 34px rgba(29,78,216,.42)}",
    ".launcher svg{width:24px;height:24px}",
    ".badge{min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#ef4444;color:#fff;font-size:12px;",
    "line-height:20px;text-align:center}",
    /* panel */
    ".panel{display:flex;flex-direction:column;background:var(--zk-bg);overflow:hidden}",
    ".floating .panel{position:fixed;right:24px;bottom:92px;z-index:2147483001;width:380px;height:min(640px,",
    "calc(100vh - 120px));border-radius:18px;box-shadow:0 24px 60px rgba(15,23,42,.22),0 2px 8px rgba(15,23,42,.08)}",
    ".floating .panel[hidden]{display:none}",
    ".inline .panel{width:100%;height:100%;border-radius:inherit}",
    ".head{display:flex;align-items:center;gap:12px;padding:14px 16px;color:#fff;background:linear-gradient(135deg,",
    "var(--zk-primary),var(--zk-primary-dark))}",
    ".head .avatar{width:40px;height:40px;border:2px solid rgba(255,255,255,.5)}",
    ".titles{flex:1;min-width:0}",
    ".titles h2{margin:0;font-size:16px;font-weight:600;letter-spacing:.5px}",
    ".sub{display:flex;align-items:center;gap:6px;margin:0;font-size:12px;opacity:.9}",
    ".dot{width:8px;height:8px;border-radius:50%;background:#4ade80;box-shadow:0 0 0 3px rgba(74,222,128,.25)}",
    ".offline .dot{background:#fbbf24;box-shadow:0 0 0 3px rgba(251,191,36,.25)}",
    ".icon{display:grid;place-items:center;width:34px;height:34px;border:0;border-radius:10px;color:#fff;",
    "background:rgba(255,255,255,.12)}",
    ".icon:hover{background:rgba(255,255,255,.22)}",
    ".icon svg{width:18px;height:18px}",
    ".banner{padding:8px 16px;background:#fffbeb;color:#92400e;font-size:13px;border-bottom:1px solid #fde68a}",
    ".log{flex:1;overflow-y:auto;padding:18px 16px 8px;scroll-behavior:smooth;overscroll-behavior:contain}",
    ".log:focus-visible{outline-offset:-3px}",
    ".time{margin:10px 0 12px;text-align:center;color:#9ca3af;font-size:12px}",
    ".row{display:flex;align-items:flex-start;gap:10px;margin:0 0 14px}",
    ".row.user{flex-direction:row-reverse}",
    ".avatar{flex:none;display:grid;place-items:center;width:36px;height:36px;border-radius:50%;",
    "background:linear-gradient(135deg,#3b82f6,var(--zk-primary-dark));color:#fff;overflow:hidden}",
    ".avatar svg{width:62%;height:62%}",
    ".stack{display:flex;flex-direction:column;gap:8px;max-width:min(78%,560px);min-width:0}",
    ".user .stack{align-items:flex-end}",
    ".bubble{padding:10px 14px;border-radius:4px var(--zk-radius) var(--zk-radius) var(--zk-radius);",
    "background:#fff;box-shadow:0 1px 2px rgba(15,23,42,.06);border:1px solid #edf0f5;white-space:pre-wrap;",
    "word-break:break-word;overflow-wrap:anywhere}",
    ".user .bubble{border-radius:var(--zk-radius) 4px var(--zk-radius) var(--zk-radius);color:#fff;border:0;",
    "background:linear-gradient(135deg,#2563eb,var(--zk-primary))}",
    ".bubble a{color:var(--zk-primary);text-decoration:underline;text-underline-offset:2px}",
    ".user .bubble a{color:#fff}",
    ".bubble img{display:block;max-width:100%;border-radius:10px}",
    ".bubble.media{padding:4px}",
    ".quick{display:flex;flex-wrap:wrap;gap:8px}",
    ".rate{display:flex;align-items:center;gap:6px;font-size:12px;color:var(--zk-muted)}",
    ".rate button{border:1px solid var(--zk-line);border-radius:12px;background:#fff;padding:2px 10px;cursor:pointer;color:#374151;font-size:12px}",
    ".rate button:hover,.rate button:focus-visible{border-color:var(--zk-primary);color:var(--zk-primary)}",
    ".chip{padding:6px 14px;border:1px solid #bfd0fb;border-radius:18px;background:#fff;color:var(--zk-primary);",
    "font-size:14px;transition:background .15s,border-color .15s}",
    ".chip:hover{background:#eef3ff;border-color:var(--zk-primary)}",
    ".card{width:260px;max-width:100%;border-radius:12px;background:#fff;border:1px solid #e6eaf2;overflow:hidden;",
    "box-shadow:0 1px 3px rgba(15,23,42,.06)}",
    ".card img{display:block;width:100%;height:120px;object-fit:cover}",
    ".card .body{padding:12px 14px}",
    ".card h3{margin:0 0 4px;font-size:15px}",
    ".card p{margin:0;color:var(--zk-muted);font-size:13px;white-space:pre-wrap}",
    ".card .actions{display:flex;flex-wrap:wrap;gap:8px;padding:0 14px 12px}",
    ".card a.more{display:block;padding:10px 14px;border-top:1px solid #eef1f6;color:var(--zk-primary);",
    "text-decoration:none;font-size:14px}",
    ".who{font-size:12px;color:#6b7280;margin:0 0 2px 2px}",
    ".notice{margin:4px auto 14px;padding:6px 14px;width:fit-content;max-width:90%;border-radius:14px;",
    "background:#e8eefc;color:#3b4a6b;font-size:13px;text-align:center}",
    ".typing{display:flex;align-items:center;gap:10px;padding:0 16px 10px}",
    ".typing[hidden]{display:none}",
    ".dots{display:flex;gap:4px;padding:14px 16px;border-radius:4px 14px 14px 14px;background:#fff;",
    "border:1px solid #edf0f5}",
    ".dots i{width:7px;height:7px;border-radius:50%;background:#9aa6bd;animation:zk-bounce 1.2s infinite}",
    ".dots i:nth-child(2){animation-delay:.15s}.dots i:nth-child(3){animation-delay:.3s}",
    "@keyframes zk-bounce{0%,60%,100%{transform:translateY(0);opacity:.5}30%{transform:translateY(-5px);opacity:1}}",
    ".suggest{display:flex;gap:8px;padding:8px 12px 4px;overflow-x:auto;scrollbar-width:none;",
    "border-top:1px solid var(--zk-line);background:#fff}",
    ".suggest::-webkit-scrollbar{display:none}",
    ".suggest .chip{flex:none;padding:4px 12px;font-size:13px;border-color:#e2e8f5;color:#374151;background:#f7f9fc}",
    ".suggest .chip:hover{color:var(--zk-primary);border-color:#bfd0fb;background:#eef3ff}",
    ".composer{display:flex;align-items:flex-end;gap:10px;padding:8px 12px 10px;background:#fff}",
    ".composer textarea{flex:1;min-height:42px;max-height:132px;padding:10px 14px;border:1px solid #d8deea;",
    "border-radius:21px;resize:none;font:inherit;color:inherit;background:#f9fafc;line-height:1.45;outline:none;",
    "transition:border-color .15s,background .15s}",
    ".composer textarea:focus{border-color:var(--zk-primary);background:#fff;box-shadow:0 0 0 3px rgba(37,99,235,.12)}",
    ".send{flex:none;display:grid;place-items:center;width:42px;height:42px;border:0;border-radius:50%;color:#fff;",
    "background:var(--zk-primary);transition:background .15s,opacity .15s}",
    ".send:disabled{opacity:.4;cursor:default}",
    ".send svg{width:20px;height:20px}",
    ".count{padding:0 16px;text-align:right;font-size:12px;color:var(--zk-muted);background:#fff}",
    ".count.over{color:#dc2626}",
    ".foot{margin:0;padding:2px 0 8px;text-align:center;font-size:11px;color:#9ca3af;background:#fff}",
    "@media (max-width:480px){.floating .panel{right:0;bottom:0;width:100vw;height:100%;border-radius:0}",
    ".launcher{right:16px;bottom:16px}.stack{max-width:84%}}",
    "@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important;",
    "scroll-behavior:auto!important}}",
  ].join("");

  var ICONS = {
    bot: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" ' +
      'stroke-linejoin="round" aria-hidden="true"><path d="M4 13v-1a8 8 0 0 1 16 0v1"/><rect x="2.5" y="13" ' +
      'width="4" height="6" rx="1.5"/><rect x="17.5" y="13" width="4" height="6" rx="1.5"/><path d="M19.5 19a4 4 ' +
      '0 0 1-4 3h-2"/><path d="M9.5 11.5h.01M14.5 11.5h.01"/></svg>',
    chat: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" ' +
      'stroke-linejoin="round" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.6A8 8 0 1 1 21 ' +
      '12z"/><path d="M8.5 12h.01M12 12h.01M15.5 12h.01"/></svg>',
    close: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" ' +
      'aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>',
    send: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" ' +
      'stroke-linejoin="round" aria-hidden="true"><path d="M4 12l16-8-6 16-2.5-6.5z"/><path d="M11.5 13.5L20 4"/>' +
      "</svg>",
  };

  var TEXT = {
    online: "在线",
    reconnecting: "网络连接中断，正在为您重新连接…",
    offlineStatus: "重新连接中",
    sendFailed: "网络异常，消息未能发出，请检查网络后重试。",
    handoff: "正在为您转接人工客服，请稍候…",
    agent: "人工客服 ",
    placeholder: "请输入您的问题，Enter 发送",
    open: "打开在线客服",
    close: "关闭客服窗口",
    send: "发送",
    input: "输入您的问题",
    log: "聊天记录",
    quick: "快捷回复",
    suggest: "常见问题",
    image: "图片",
    me: "我说：",
    said: "说：",
    typing: "正在输入…",
    powered: "由 知客 Zhike 提供智能客服服务",
    rate: "这个回答对您有帮助吗？",
    helpful: "有帮助",
    unhelpful: "没有帮助",
  };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "html") node.innerHTML = value; // only for the static icons above
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function safeUrl(url, base, images) {
    if (typeof url !== "string" || !url) return null;
    try {
      var parsed = new URL(url, base);
      var ok = images ? ["http:", "https:"] : ["http:", "https:", "mailto:", "tel:"];
      return ok.indexOf(parsed.protocol) >= 0 ? parsed.href : null;
    } catch (e) {
      return null;
    }
  }

  var LINK_RE = /\[([^\]\n]{1,80})\]\(((?:https?:\/\/|\/)[^\s)]+)\)|(https?:\/\/[^\s<>"'，。；！？、）)]+)/g;

  /** Text with [title](url) and bare http(s) links turned into safe anchors. */
  function richText(text, base) {
    var frag = document.createDocumentFragment();
    var last = 0;
    String(text || "").replace(LINK_RE, function (match, title, url, bare, offset) {
      var href = safeUrl(url || bare, base, false);
      frag.appendChild(document.createTextNode(text.slice(last, offset)));
      frag.appendChild(href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: title || bare })
        : document.createTextNode(match));
      last = offset + match.length;
      return match;
    });
    frag.appendChild(document.createTextNode(String(text || "").slice(last)));
    return frag;
  }

  function newSessionId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    var bytes = new Uint8Array(16);
    (window.crypto || {}).getRandomValues ? crypto.getRandomValues(bytes) : bytes.forEach(function (_, i) {
      bytes[i] = Math.floor(Math.random() * 256);
    });
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function clock(ts) {
    var d = ts ? new Date(ts * 1000) : new Date();
    var hm = ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
    var today = new Date();
    if (d.toDateString() === today.toDateString()) return hm;
    return d.getMonth() + 1 + "月" + d.getDate() + "日 " + hm;
  }

  function store(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(key);
      window.localStorage.setItem(key, value);
    } catch (e) {
      return null;
    }
    return value;
  }

  function WebChat(options) {
    this.o = options;
    this.server = options.server.replace(/\/+$/, "");
    this.storageKey = "zhike.webchat.session:" + this.server;
    this.sessionId = store(this.storageKey) || "";
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(this.sessionId)) {
      this.sessionId = newSessionId();
      store(this.storageKey, this.sessionId);
    }
    this.ws = null;
    this.attempt = 0;
    this.lastTime = 0;
    this.unread = 0;
    this.started = false;
    this.historyPending = false;
    this.queue = [];
    this.build();
  }

  WebChat.prototype.build = function () {
    var o = this.o;
    var self = this;
    this.host = el("div", { "data-zhike-webchat": "", class: "zhike-webchat" });
    var root = this.host.attachShadow({ mode: "open" });
    this.root = root;
    root.appendChild(el("style", { text: CSS.replace("#1d4ed8", o.color) }));
    var wrap = el("div", { class: o.mode === "inline" ? "inline" : "floating" });
    wrap.style.height = "100%";
    this.statusText = el("span", { text: o.botName + " · " + TEXT.online });
    this.sub = el("p", { class: "sub" }, [el("span", { class: "dot", "aria-hidden": "true" }), this.statusText]);
    this.closeBtn = o.mode === "inline" ? null : el("button", {
      class: "icon", type: "button", "aria-label": TEXT.close, html: ICONS.close,
      onclick: function () { self.close(); },
    });
    var head = el("header", { class: "head" }, [
      el("div", { class: "avatar", html: ICONS.bot, "aria-hidden": "true" }),
      el("div", { class: "titles" }, [el("h2", { id: "zk-title", text: o.title }), this.sub]),
      this.closeBtn,
    ]);
    this.banner = el("div", { class: "banner", role: "status", hidden: true, text: TEXT.reconnecting });
    this.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": TEXT.log, tabindex: "0" });
    this.typing = el("div", { class: "typing", hidden: true, "aria-hidden": "true" }, [
      el("div", { class: "avatar", html: ICONS.bot }),
      el("div", { class: "dots" }, [el("i"), el("i"), el("i")]),
    ]);
    this.typingSr = el("div", { class: "sr", role: "status", "aria-live": "polite" });
    var suggest = o.suggestions.length ? el("div", { class: "suggest", role: "group", "aria-label": TEXT.suggest },
      o.suggestions.map(function (s) {
        return el("button", { class: "chip", type: "button", text: s, onclick: function () { self.send(s); } });
      })) : null;
    this.input = el("textarea", {
      id: "zk-input", rows: "1", maxlength: String(o.maxChars), placeholder: TEXT.placeholder,
      "aria-label": TEXT.input, enterkeyhint: "send",
    });
    this.sendBtn = el("button", { class: "send", type: "submit", "aria-label": TEXT.send, html: ICONS.send, disabled: true });
    this.count = el("div", { class: "count", hidden: true, "aria-live": "polite" });
    var form = el("form", { class: "composer", onsubmit: function (e) { e.preventDefault(); self.submit(); } },
      [this.input, this.sendBtn]);
    this.panel = el("section", {
      class: "panel", id: "zk-panel", role: o.mode === "inline" ? "region" : "dialog", "aria-labelledby": "zk-title",
      hidden: o.mode !== "inline",
    }, [head, this.banner, this.log, this.typing, this.typingSr, suggest, this.count, form,
      el("p", { class: "foot", text: TEXT.powered })]);
    wrap.appendChild(this.panel);
    if (o.mode !== "inline") {
      this.badge = el("span", { class: "badge", hidden: true, "aria-hidden": "true" });
      this.launcher = el("button", {
        class: "launcher", type: "button", "aria-label": TEXT.open, "aria-expanded": "false",
        "aria-controls": "zk-panel", onclick: function () { self.toggle(); },
      }, [el("span", { html: ICONS.chat, style: "display:flex" }), el("span", { text: o.launcherText }), this.badge]);
      wrap.appendChild(this.launcher);
    }
    root.appendChild(wrap);
    this.input.addEventListener("input", function () { self.onInput(); });
    this.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        self.submit();
      }
    });
    this.panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && o.mode !== "inline") self.close();
    });
    window.addEventListener("online", function () {
      if (self.started && !self.ws) {
        self.attempt = 0;
        self.connect();
      }
    });
    var parent = o.mode === "inline" && o.container ? document.querySelector(o.container) : null;
    (parent || document.body).appendChild(this.host);
    if (o.mode === "inline") this.host.style.cssText = "display:block;height:100%";
    if (o.mode === "inline" || o.open) this.open();
  };

  WebChat.prototype.open = function () {
    this.panel.hidden = false;
    if (this.launcher) {
      this.launcher.setAttribute("aria-expanded", "true");
      this.launcher.setAttribute("aria-label", TEXT.close);
      this.unread = 0;
      this.badge.hidden = true;
    }
    if (!this.started) {
      this.started = true;
      this.connect();
    }
    var input = this.input;
    setTimeout(function () { input.focus(); }, 30);
  };

  WebChat.prototype.close = function () {
    if (!this.launcher) return;
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.setAttribute("aria-label", TEXT.open);
    this.launcher.focus();
  };

  WebChat.prototype.toggle = function () {
    this.panel.hidden ? this.open() : this.close();
  };

  // ------------------------------------------------------------------ connection
  WebChat.prototype.connect = function () {
    var self = this;
    clearTimeout(this.retryTimer);
    if (!("WebSocket" in window)) return this.loadHistory();
    var url = this.server.replace(/^http/, "ws") + "/webchat/ws?session_id=" + encodeURIComponent(this.sessionId);
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      return this.retry();
    }
    this.ws = ws;
    ws.onopen = function () {
      self.attempt = 0;
      self.historyPending = true;
      self.setOnline(true);
      ws.send(JSON.stringify({ type: "history" }));
    };
    ws.onmessage = function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      self.onFrame(frame);
    };
    ws.onclose = function () {
      if (self.ws !== ws) return;
      self.ws = null;
      self.showTyping(false);
      self.retry();
    };
  };

  WebChat.prototype.retry = function () {
    var self = this;
    if (this.attempt === 0 && !this.rendered) this.loadHistory();
    this.setOnline(false);
    var delay = Math.min(30000, 1000 * Math.pow(2, this.attempt)) * (0.6 + Math.random() * 0.4);
    this.attempt += 1;
    this.retryTimer = setTimeout(function () { self.connect(); }, delay);
  };

  WebChat.prototype.setOnline = function (online) {
    this.banner.hidden = online;
    this.sub.classList.toggle("offline", !online);
    this.statusText.textContent = this.o.botName + " · " + (online ? TEXT.online : TEXT.offlineStatus);
  };

  WebChat.prototype.onFrame = function (frame) {
    var handlers = {
      typing: function (self) { self.showTyping(true); },
      bot: function (self, f) { self.showTyping(false); self.renderBot(f.messages || []); },
      history: function (self, f) {
        self.historyPending = false;
        self.renderHistory(f.messages || []);
        self.flushQueue();
      },
      error: function (self, f) { self.showTyping(false); self.renderNotice(f.message); },
      session: function () {},
      pong: function () {},
    };
    var handler = handlers[frame && frame.type];
    if (handler) handler(this, frame);
  };

  WebChat.prototype.loadHistory = function () {
    var self = this;
    fetch(this.server + "/webchat/history?session_id=" + encodeURIComponent(this.sessionId))
      .then(function (r) { return r.ok ? r.json() : { messages: [] }; })
      .then(function (body) { if (!self.ws || self.ws.readyState !== 1) self.renderHistory(body.messages || []); })
      .catch(function () { if (!self.rendered) self.renderHistory([]); });
  };

  // ------------------------------------------------------------------ sending
  WebChat.prototype.onInput = function () {
    var value = this.input.value;
    this.sendBtn.disabled = !value.trim();
    this.input.style.height = "auto";
    this.input.style.height = Math.min(this.input.scrollHeight + 2, 132) + "px";
    var near = value.length > this.o.maxChars * 0.8;
    this.count.hidden = !near;
    this.count.textContent = value.length + " / " + this.o.maxChars;
    this.count.classList.toggle("over", value.length >= this.o.maxChars);
  };

  WebChat.prototype.submit = function () {
    var text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this.onInput();
    this.send(text);
  };

  WebChat.prototype.send = function (text, payload, title) {
    var frame = { type: "message", text: text || "", id: newSessionId().slice(0, 16) };
    if (payload) {
      frame.payload = payload;
      frame.title = title || text;
    }
    this.clearQuickReplies();
    this.renderMessage({ role: "user", kind: "text", text: frame.title || frame.text }, true);
    this.input.focus();
    if (this.ws && this.ws.readyState === 1 && !this.historyPending) {
      this.ws.send(JSON.stringify(frame));
    } else if (this.ws && this.ws.readyState <= 1) {
      this.queue.push(frame); // sent once the socket is open and the history is shown
      this.queueTimer = this.queueTimer || setTimeout(this.flushRest.bind(this), 4000);
    } else {
      this.sendRest(frame);
    }
  };

  /** After the history is shown: re-show queued messages and send them over the socket. */
  WebChat.prototype.flushQueue = function () {
    var self = this;
    var queued = this.queue.splice(0);
    clearTimeout(this.queueTimer);
    this.queueTimer = null;
    queued.forEach(function (frame) {
      self.renderMessage({ role: "user", kind: "text", text: frame.title || frame.text }, true);
      self.ws.send(JSON.stringify(frame));
    });
  };

  /** The socket did not open in time: send what is queued over REST. */
  WebChat.prototype.flushRest = function () {
    var queued = this.queue.splice(0);
    this.queueTimer = null;
    queued.forEach(this.sendRest.bind(this));
  };

  WebChat.prototype.sendRest = function (frame) {
    var self = this;
    var body = { session_id: this.sessionId, text: frame.text, message_id: frame.id };
    if (frame.payload) {
      body.payload = frame.payload;
      body.title = frame.title;
    }
    this.showTyping(true);
    fetch(this.server + "/webchat/messages", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    })
      .then(function (r) { return r.json(); })
      .then(function (reply) { self.showTyping(false); self.renderBot(reply.messages || []); })
      .catch(function () { self.showTyping(false); self.renderNotice(TEXT.sendFailed); });
  };

  // ------------------------------------------------------------------ rendering
  WebChat.prototype.showTyping = function (on) {
    var self = this;
    clearTimeout(this.typingTimer);
    this.typing.hidden = !on;
    this.typingSr.textContent = on ? this.o.botName + TEXT.typing : "";
    if (on) {
      this.typingTimer = setTimeout(function () { self.showTyping(false); }, 20000);
      this.scroll();
    }
  };

  WebChat.prototype.renderHistory = function (messages) {
    this.rendered = true;
    this.log.setAttribute("aria-busy", "true");
    this.log.textContent = "";
    this.lastTime = 0;
    if (this.o.welcome) this.renderMessage({ role: "bot", kind: "text", text: this.o.welcome, welcome: true });
    var self = this;
    messages.forEach(function (m) { self.renderMessage(m, false); });
    var last = this.log.lastElementChild;
    if (!last || !last.classList.contains("bot")) this.clearQuickReplies();
    else this.clearQuickReplies(last);
    this.log.removeAttribute("aria-busy");
    this.scroll(true);
  };

  WebChat.prototype.renderBot = function (messages) {
    var self = this;
    messages.forEach(function (m) { self.renderMessage(m, true); });
    if (this.panel.hidden && this.badge && messages.length) {
      this.unread += messages.length;
      this.badge.textContent = this.unread > 99 ? "99+" : String(this.unread);
      this.badge.hidden = false;
    }
  };

  WebChat.prototype.renderNotice = function (text) {
    if (!text) return;
    this.log.appendChild(el("div", { class: "notice", role: "note", text: text }));
    this.scroll();
  };

  WebChat.prototype.timeMarker = function (ts) {
    var t = ts || Date.now() / 1000;
    if (t - this.lastTime > 300) this.log.appendChild(el("div", { class: "time", text: clock(t) }));
    this.lastTime = t;
  };

  WebChat.prototype.renderMessage = function (m, live) {
    if (!m.welcome) this.timeMarker(m.timestamp);
    if (m.kind === "handoff") {
      // with the handoff service the next message says where the customer is in the queue
      if (!(m.custom && m.custom.handoff_id)) this.renderNotice(TEXT.handoff);
      return;
    }
    var parts = m.role === "user" ? [this.bubble(m.text, TEXT.me)] : this.botParts(m);
    parts = parts.filter(Boolean);
    if (!parts.length) return;
    var user = m.role === "user";
    var row = el("div", { class: "row " + (user ? "user" : "bot") }, [
      user ? null : el("div", { class: "avatar", html: ICONS.bot, "aria-hidden": "true" }),
      el("div", { class: "stack" }, parts),
    ]);
    this.log.appendChild(row);
    if (live) this.scroll();
  };

  WebChat.prototype.bubble = function (text, who) {
    if (!text) return null;
    return el("div", { class: "bubble" }, [el("span", { class: "sr", text: who }), richText(text, this.server)]);
  };

  WebChat.prototype.botParts = function (m) {
    var who = (m.agent ? TEXT.agent + m.agent : this.o.botName) + TEXT.said;
    var parts = [m.agent ? el("div", { class: "who", text: TEXT.agent + m.agent }) : null];
    parts.push(this.bubble(m.text, who));
    var src = m.kind === "image" ? safeUrl(m.url, this.server, true) : null;
    if (src) parts.push(el("div", { class: "bubble media" }, [el("img", { src: src, alt: m.text || TEXT.image, loading: "lazy" })]));
    if (m.kind === "link" && safeUrl(m.url, this.server)) {
      parts.push(this.card({ title: m.text || m.url, url: m.url }));
      parts[0] = null;
    }
    if (m.custom) parts.push.apply(parts, this.customParts(m.custom));
    if (m.buttons && m.buttons.length) parts.push(this.quickReplies(m.buttons));
    if (m.kb && m.kb.entry_id) parts.push(this.rating(m.kb.entry_id));
    return parts;
  };

  /** Thumbs up/down under a knowledge-base answer; the choice goes back as a payload. */
  WebChat.prototype.rating = function (entryId) {
    var self = this;
    function choice(helpful, label, icon) {
      var payload = "/kb_feedback" + JSON.stringify({ kb_entry: entryId, helpful: helpful });
      return el("button", {
        type: "button", text: icon + " " + label, "aria-label": label,
        onclick: function (e) {
          e.currentTarget.parentNode.remove();
          self.send(label, payload, label);
        },
      });
    }
    return el("div", { class: "rate quick", role: "group", "aria-label": TEXT.rate }, [
      el("span", { text: TEXT.rate }), choice(true, TEXT.helpful, "👍"), choice(false, TEXT.unhelpful, "👎"),
    ]);
  };

  /** `custom` payloads: {type: card|link}, Rasa/Messenger generic templates, or {text}. */
  WebChat.prototype.customParts = function (custom) {
    var self = this;
    if (custom.attachment && custom.attachment.payload) custom = custom.attachment.payload;
    var elements = custom.elements || custom.cards || (custom.type === "card" || custom.type === "link" ? [custom] : []);
    if (Array.isArray(elements) && elements.length) {
      return elements.slice(0, 10).map(function (c) { return self.card(c); });
    }
    return typeof custom.text === "string" ? [this.bubble(custom.text, this.o.botName + TEXT.said)] : [];
  };

  WebChat.prototype.card = function (c) {
    var self = this;
    var img = safeUrl(c.image || c.image_url, this.server, true);
    var url = safeUrl(c.url || (c.default_action && c.default_action.url), this.server);
    var buttons = (c.buttons || []).filter(function (b) { return b && b.title; }).slice(0, 4);
    return el("article", { class: "card" }, [
      img ? el("img", { src: img, alt: c.title || TEXT.image, loading: "lazy" }) : null,
      el("div", { class: "body" }, [
        c.title ? el("h3", { text: String(c.title) }) : null,
        c.subtitle || c.text ? el("p", { text: String(c.subtitle || c.text) }) : null,
      ]),
      buttons.length ? el("div", { class: "actions" }, buttons.map(function (b) {
        var href = b.url ? safeUrl(b.url, self.server) : null;
        if (href) return el("a", { class: "chip", href: href, target: "_blank", rel: "noopener noreferrer", text: b.title });
        return el("button", { class: "chip", type: "button", text: b.title, onclick: function () {
          self.send(b.title, b.payload, b.title);
        } });
      })) : null,
      url ? el("a", { class: "more", href: url, target: "_blank", rel: "noopener noreferrer", text: "查看详情 ›" }) : null,
    ]);
  };

  WebChat.prototype.quickReplies = function (buttons) {
    var self = this;
    return el("div", { class: "quick", role: "group", "aria-label": TEXT.quick }, buttons.map(function (b) {
      return el("button", {
        class: "chip", type: "button", text: b.title,
        onclick: function () { self.send(b.title, b.payload, b.title); },
      });
    }));
  };

  /** Quick replies belong to the latest bot message only. */
  WebChat.prototype.clearQuickReplies = function (keep) {
    Array.prototype.forEach.call(this.log.querySelectorAll(".quick"), function (q) {
      if (!keep || !keep.contains(q)) q.remove();
    });
  };

  WebChat.prototype.scroll = function (instant) {
    var log = this.log;
    if (instant) log.style.scrollBehavior = "auto";
    log.scrollTop = log.scrollHeight;
    if (instant) log.style.scrollBehavior = "";
  };

  var options = {
    server: data.server || scriptOrigin,
    title: data.title || "在线客服",
    botName: data.botName || "智能客服",
    launcherText: data.launcherText || "在线客服",
    welcome: data.welcome || "",
    suggestions: (data.suggestions || "").split("|").map(function (s) { return s.trim(); }).filter(Boolean),
    mode: data.mode === "inline" ? "inline" : "floating",
    container: data.container || "",
    color: /^#[0-9a-fA-F]{6}$/.test(data.color || "") ? data.color : "#1d4ed8",
    maxChars: parseInt(data.maxChars, 10) > 0 ? parseInt(data.maxChars, 10) : 2000,
    open: data.open === "true",
  };

  function start() {
    var chat = new WebChat(options);
    window.ZhikeWebChat = {
      open: function () { chat.open(); },
      close: function () { chat.close(); },
      toggle: function () { chat.toggle(); },
      send: function (text) { chat.open(); chat.send(String(text)); },
      sessionId: function () { return chat.sessionId; },
    };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
